// PyTorch's containers: children named 0, 1, 2, ... so that keys like `stem.0.conv.weight` match.
import { Tensor } from '../tensor/tensor';
import { Module, Layer } from './module';

/** nn.Sequential: layers applied in order. */
export class Sequence<T extends Layer = Layer> extends Layer {
  readonly items: T[];

  constructor(items: T[]) {
    super();
    this.items = items.map((m, i) => this.child(String(i), m));
  }

  forward(x: Tensor): Tensor {
    return this.items.reduce((y, m) => m.forward(y), x);
  }
}

/** nn.ModuleList: a numbered list of modules that is not itself callable. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  add<T extends M>(m: T): T {
    this.items.push(this.child(String(this.items.length), m));
    return m;
  }
}
