// Stochastic depth (Huang et al. 2016; timm's DropPath): in train mode each sample's residual branch
// is dropped with probability `rate` and kept ones are scaled by 1 / (1 - rate); in eval mode it is
// the identity. Its draws come from a seeded generator that `fit` reseeds every step, so a training
// run (and its resumption) is reproducible.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Rng } from '../tensor/random';
import { Layer, Module } from './module';

export class DropPath extends Layer {
  rng = new Rng(0);

  constructor(readonly rate: number) {
    super();
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1))
      throw new RangeError(`DropPath: rate must be a number in [0, 1), got ${String(rate)}`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.rate === 0) return x;
    const N = x.shape[0],
      keep = 1 - this.rate;
    const mask = new Float32Array(N);
    for (let n = 0; n < N; n++) mask[n] = this.rng.uniform() < keep ? 1 / keep : 0;
    return ops.mul(x, new Tensor(mask, [N, ...x.shape.slice(1).map(() => 1)]).to(x.device));
  }
}

/** Reseeds every DropPath of `model` from (keys..., its index in the tree): a step's drops then
 * depend only on the keys, not on what ran before. */
export function reseedDropPaths(model: Module, ...keys: number[]): void {
  let i = 0;
  for (const [, m] of model.namedModules()) if (m instanceof DropPath) m.rng = Rng.keyed(...keys, i++);
}

/** The per-block rates of the official RepLKNet and timm ViT code: linear from 0 to `rate`. */
export function dropPathRates(rate: number, blocks: number): number[] {
  return Array.from({ length: blocks }, (_, i) => (blocks > 1 ? (rate * i) / (blocks - 1) : 0));
}
