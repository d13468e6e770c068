// Module: a tree of named parameters, buffers and child modules whose dotted paths are the
// PyTorch state-dict keys (`stages.2.blocks.4.large_kernel.lkb_origin.conv.weight`), so published
// checkpoints load without a key-translation table.
import { Tensor, shapeString } from '../tensor/tensor';
import { Device, DeviceArray, checkDevice } from '../tensor/device';

/** A state-dict entry as the checkpoint readers return it (float32 whatever the file held). */
export interface StateEntry {
  shape: readonly number[];
  data: Float32Array;
}
export type StateDictLike = Map<string, StateEntry> | Record<string, StateEntry>;

export interface ShapeMismatch {
  key: string;
  expected: number[];
  got: number[];
}

/** What loadStateDict did not load. */
export interface LoadReport {
  /** Keys the model has but the state dict lacks (left as they were). */
  missing: string[];
  /** Keys of the state dict the model does not have (ignored). */
  unexpected: string[];
  /** Keys present in both with different shapes (left as they were). */
  mismatched: ShapeMismatch[];
}

/** A strict load that found missing, unexpected or mismatched keys; `report` lists them all. */
export class StateDictError extends Error {
  constructor(
    message: string,
    readonly report: LoadReport,
  ) {
    super(message);
    this.name = 'StateDictError';
  }
}

/** Buffers PyTorch saves that carry no information lkvit uses; tolerated when absent or extra. */
const OPTIONAL_SUFFIXES = ['.num_batches_tracked'];
const isOptional = (key: string) => OPTIONAL_SUFFIXES.some((s) => key.endsWith(s));

// PyTorch flattens a shape-[1] scalar and a 0-d tensor alike in some exporters; compare sizes then.
function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length === b.length) return a.every((d, i) => d === b[i]);
  const n = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
  return n(a) === 1 && n(b) === 1 && a.length <= 1 && b.length <= 1;
}

function summarise(report: LoadReport, limit = 100): string {
  const parts: string[] = [];
  const list = (title: string, items: string[]) => {
    if (items.length === 0) return;
    const shown = items.slice(0, limit).join(', ');
    parts.push(
      `${items.length} ${title}: ${shown}${items.length > limit ? `, ... (${items.length - limit} more)` : ''}`,
    );
  };
  list('missing', report.missing);
  list('unexpected', report.unexpected);
  list(
    'with a different shape',
    report.mismatched.map((m) => `${m.key} (model ${shapeString(m.expected)}, file ${shapeString(m.got)})`),
  );
  return parts.join('; ');
}

export abstract class Module {
  /** Train mode (batch statistics in BatchNorm) or eval mode. Modules start in eval mode:
   * lkvit evaluates models far more often than it trains them. */
  training = false;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a parameter; the Tensor is kept and filled in place by loadStateDict. */
  protected param(name: string, tensor: Tensor): Tensor {
    this.params.set(name, tensor);
    return tensor;
  }

  /** Registers a buffer (running statistics and other non-trained state). */
  protected buffer(name: string, tensor: Tensor): Tensor {
    this.buffers.set(name, tensor);
    return tensor;
  }

  /** Registers (or replaces) a child module under `name`. */
  protected child<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  protected removeChild(name: string): void {
    this.children.delete(name);
  }

  /** Every module of the tree with its dotted path ('' for this one), depth first in registration order. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.children) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  /** Parameters with their state-dict keys. */
  namedParameters(): [string, Tensor][] {
    return this.collect((m) => m.params);
  }

  /** Buffers with their state-dict keys. */
  namedBuffers(): [string, Tensor][] {
    return this.collect((m) => m.buffers);
  }

  private collect(pick: (m: Module) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules())
      for (const [name, t] of pick(m)) out.push([path ? `${path}.${name}` : name, t]);
    return out;
  }

  /** Parameters and buffers by state-dict key, in PyTorch's order. The Tensors are the live ones. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [path, m] of this.namedModules()) {
      const key = (name: string) => (path ? `${path}.${name}` : name);
      for (const [name, t] of m.params) out.set(key(name), t);
      for (const [name, t] of m.buffers) out.set(key(name), t);
    }
    return out;
  }

  /** Copies matching entries of `state` into this model's tensors. Strict (the default): any
   * missing, unexpected or mismatched key throws one StateDictError listing them all and loads
   * nothing. `{ strict: false }` loads what matches and returns the rest. */
  loadStateDict(state: StateDictLike, options: { strict?: boolean } = {}): LoadReport {
    const strict = options.strict ?? true;
    if (typeof strict !== 'boolean')
      throw new TypeError(`loadStateDict: strict must be a boolean, got ${typeof strict}`);
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
    for (const [key, t] of own) {
      const e = entries.get(key);
      if (e === undefined) {
        if (!isOptional(key)) report.missing.push(key);
      } else if (!sameShape(t.shape, e.shape) || e.data.length !== t.size) {
        report.mismatched.push({ key, expected: [...t.shape], got: [...e.shape] });
      }
    }
    for (const key of entries.keys()) if (!own.has(key) && !isOptional(key)) report.unexpected.push(key);
    const clean = report.missing.length + report.unexpected.length + report.mismatched.length === 0;
    if (strict && !clean)
      throw new StateDictError(
        `loadStateDict: the state dict does not fit ${this.constructor.name} (${report.missing.length} missing, ${report.unexpected.length} unexpected, ` +
          `${report.mismatched.length} mismatched keys; check the model name and its options, or pass { strict: false }): ${summarise(report)}`,
        report,
      );
    const bad = new Set(report.mismatched.map((m) => m.key));
    for (const [key, t] of own) {
      const e = entries.get(key);
      if (e === undefined || bad.has(key)) continue;
      if (t.device === 'cpu') t.data.set(e.data);
      else (t.storage as DeviceArray).upload(e.data);
    }
    for (const [, m] of this.namedModules()) m.stateChanged();
    return report;
  }

  /** Called on every module after its tensors were overwritten or its mode changed: modules
   * holding derived data (folded or standardised weights) drop it here. */
  protected stateChanged(): void {}

  /** Tells the model its weights were edited in place (`t.data[i] = ...`): eval-mode modules
   * cache weights derived from them (BN folded into convs, BiT's standardised weights). Loading
   * with loadStateDict and switching train/eval need no call. */
  weightsChanged(): this {
    for (const [, m] of this.namedModules()) m.stateChanged();
    return this;
  }

  /** Sets train (true) or eval (false) mode on the whole tree. */
  train(mode = true): this {
    if (typeof mode !== 'boolean') throw new TypeError(`train: mode must be a boolean, got ${typeof mode}`);
    for (const [, m] of this.namedModules()) {
      m.training = mode;
      m.stateChanged();
    }
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets requiresGrad on every parameter. Parameters start without it: attacks and robustness
   * metrics need only input gradients, and skipping the weight gradients saves most of a backward. */
  setRequiresGrad(flag: boolean): this {
    if (typeof flag !== 'boolean') throw new TypeError(`setRequiresGrad: flag must be a boolean, got ${typeof flag}`);
    for (const [, t] of this.namedParameters()) t.requiresGrad = flag;
    return this;
  }

  /** Moves every parameter and buffer to `device` ('cpu' or 'cuda') in place, keeping the
   * Tensor objects, like PyTorch's module.to(). Derived weights (folded BN) are rebuilt there. */
  to(device: Device | 'cuda:0'): this {
    const d = checkDevice('Module.to', 'device', device);
    for (const [, m] of this.namedModules()) {
      for (const t of m.params.values()) t.relocate(d);
      for (const t of m.buffers.values()) t.relocate(d);
      m.stateChanged();
    }
    return this;
  }

  /** Where the parameters are: 'cpu' or 'cuda' (the first parameter's or buffer's device). */
  get device(): Device {
    for (const [, m] of this.namedModules()) {
      for (const t of m.params.values()) return t.device;
      for (const t of m.buffers.values()) return t.device;
    }
    return 'cpu';
  }

  /** Number of parameter elements. */
  numParameters(): number {
    return this.namedParameters().reduce((s, [, t]) => s + t.size, 0);
  }
}

/** A module mapping one tensor to one tensor. */
export abstract class Layer extends Module {
  abstract forward(x: Tensor): Tensor;
}
