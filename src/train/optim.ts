// Optimisers with PyTorch's update rules (torch.optim.SGD and AdamW), so recipes and learning rates
// carry over. They update parameters in place from `.grad` and keep their state per parameter key,
// which `stateDict` exposes for checkpoints (PyTorch's names: momentum_buffer, exp_avg, exp_avg_sq).
import { DeviceArray } from '../tensor/device';
import { Tensor } from '../tensor/tensor';
import { Module } from '../nn/module';

export type NamedParameters = [string, Tensor][];

/** Whether weight decay applies to a parameter (all by default, as in PyTorch). */
export type DecayFilter = (name: string, param: Tensor) => boolean;

/** timm's rule: no decay for biases and norm weights (1-D) or the ViT's tokens and position embedding. */
export const decayMatricesOnly: DecayFilter = (name, p) => p.ndim > 1 && !/(^|\.)(cls_token|pos_embed)$/.test(name);

interface CommonOptions {
  lr: number;
  weightDecay?: number;
  decay?: DecayFilter;
}

export interface SgdOptions extends CommonOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
}

export interface AdamWOptions extends CommonOptions {
  betas?: [number, number];
  eps?: number;
}

function checkRate(op: string, name: string, v: unknown, min: number, max = Infinity, maxOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (maxOpen && v === max))
    throw new RangeError(`${op}: ${name} must be a number in [${min}, ${max}${maxOpen ? ')' : ']'}, got ${String(v)}`);
  return v;
}

function namedParameters(op: string, params: Module | NamedParameters): NamedParameters {
  const list = params instanceof Module ? params.namedParameters() : params;
  if (
    !Array.isArray(list) ||
    list.some((e) => !Array.isArray(e) || typeof e[0] !== 'string' || !(e[1] instanceof Tensor))
  )
    throw new TypeError(`${op}: params must be a Module or [name, Tensor] pairs`);
  return list;
}

export abstract class Optimizer {
  readonly params: NamedParameters;
  lr: number;
  readonly weightDecay: number;
  /** Completed steps (AdamW's bias correction counts them). */
  steps = 0;
  protected readonly decays: boolean[];
  protected readonly state = new Map<string, Float32Array>();

  constructor(
    readonly name: string,
    params: Module | NamedParameters,
    options: CommonOptions,
    defaultDecay: number,
  ) {
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`${name}: options must be an object with at least lr`);
    this.params = namedParameters(name, params);
    this.lr = checkRate(name, 'lr', options.lr, 0);
    this.weightDecay = checkRate(name, 'weightDecay', options.weightDecay ?? defaultDecay, 0);
    if (options.decay !== undefined && typeof options.decay !== 'function')
      throw new TypeError(`${name}: decay must be a function (name, param) => boolean`);
    this.decays = this.params.map(([k, p]) => (options.decay ? options.decay(k, p) : true));
  }

  /** Clears every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const [, p] of this.params) p.grad = null;
  }

  /** One update from the current gradients; parameters without a gradient are left alone. */
  step(): void {
    this.steps++;
    this.params.forEach(([key, p], i) => {
      if (!p.grad) return;
      const decay = this.decays[i] ? this.weightDecay : 0;
      if (p.device === 'cpu') this.update(key, p.data, p.grad.data, decay);
      else {
        // A parameter on CUDA: the update runs on a host copy (state stays on the host), one
        // download of the weight and gradient and one upload per parameter and step.
        const w = p.toArray();
        this.update(key, w, p.grad.toArray(), decay);
        (p.storage as DeviceArray).upload(w);
      }
    });
  }

  protected abstract update(key: string, w: Float32Array, g: Float32Array, decay: number): void;

  protected buffer(key: string, kind: string, size: number): Float32Array {
    const k = `${key}.${kind}`;
    let b = this.state.get(k);
    if (!b) this.state.set(k, (b = new Float32Array(size)));
    return b;
  }

  /** The optimiser's state by `<param key>.<buffer>`, plus `step`. */
  stateDict(): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, b] of this.state) out.set(k, { shape: [b.length], data: b });
    out.set('step', { shape: [1], data: new Float32Array([this.steps]) });
    return out;
  }

  /** Restores a state written by stateDict (of an optimiser of the same kind over the same parameters). */
  loadStateDict(state: Map<string, { shape: readonly number[]; data: Float32Array }>): void {
    const sizes = new Map(this.params.map(([k, p]) => [k, p.size]));
    const next = new Map<string, Float32Array>();
    for (const [k, e] of state) {
      if (k === 'step') continue;
      const dot = k.lastIndexOf('.');
      const param = k.slice(0, dot),
        kind = k.slice(dot + 1);
      if (!this.kinds().includes(kind) || !sizes.has(param))
        throw new RangeError(
          `${this.name}.loadStateDict: unexpected entry '${k}' (not a ${this.kinds().join('/')} buffer of a parameter)`,
        );
      if (e.data.length !== sizes.get(param))
        throw new RangeError(
          `${this.name}.loadStateDict: '${k}' holds ${e.data.length} values, the parameter ${sizes.get(param)}`,
        );
      next.set(k, Float32Array.from(e.data));
    }
    const step = state.get('step');
    if (!step || step.data.length !== 1 || !Number.isInteger(step.data[0]) || step.data[0] < 0)
      throw new RangeError(`${this.name}.loadStateDict: missing or bad 'step' entry`);
    this.state.clear();
    for (const [k, b] of next) this.state.set(k, b);
    this.steps = step.data[0];
  }

  protected abstract kinds(): string[];
}

/** torch.optim.SGD: coupled L2 weight decay, momentum with dampening, Nesterov. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;

  constructor(params: Module | NamedParameters, options: SgdOptions) {
    super('SGD', params, options, 0);
    this.momentum = checkRate('SGD', 'momentum', options.momentum ?? 0, 0);
    this.dampening = checkRate('SGD', 'dampening', options.dampening ?? 0, 0, 1);
    if (options.nesterov !== undefined && typeof options.nesterov !== 'boolean')
      throw new TypeError('SGD: nesterov must be a boolean');
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      throw new RangeError('SGD: nesterov needs momentum > 0 and dampening 0 (as in PyTorch)');
  }

  protected kinds(): string[] {
    return ['momentum_buffer'];
  }

  protected update(key: string, w: Float32Array, g: Float32Array, decay: number): void {
    const { lr, momentum: mu, dampening, nesterov } = this;
    const first = !this.state.has(`${key}.momentum_buffer`);
    const buf = mu > 0 ? this.buffer(key, 'momentum_buffer', w.length) : null;
    for (let i = 0; i < w.length; i++) {
      let d = g[i] + decay * w[i];
      if (buf) {
        buf[i] = first ? d : mu * buf[i] + (1 - dampening) * d;
        d = nesterov ? d + mu * buf[i] : buf[i];
      }
      w[i] -= lr * d;
    }
  }
}

/** torch.optim.AdamW: decoupled weight decay (w *= 1 - lr * wd), bias-corrected moments. */
export class AdamW extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;

  constructor(params: Module | NamedParameters, options: AdamWOptions) {
    super('AdamW', params, options, 0.01);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2)
      throw new TypeError('AdamW: betas must be two numbers [beta1, beta2]');
    this.beta1 = checkRate('AdamW', 'betas[0]', betas[0], 0, 1, true);
    this.beta2 = checkRate('AdamW', 'betas[1]', betas[1], 0, 1, true);
    this.eps = checkRate('AdamW', 'eps', options.eps ?? 1e-8, 0);
  }

  protected kinds(): string[] {
    return ['exp_avg', 'exp_avg_sq'];
  }

  protected update(key: string, w: Float32Array, g: Float32Array, decay: number): void {
    const { lr, beta1: b1, beta2: b2, eps } = this;
    const m = this.buffer(key, 'exp_avg', w.length),
      v = this.buffer(key, 'exp_avg_sq', w.length);
    const stepSize = lr / (1 - b1 ** this.steps),
      root2 = Math.sqrt(1 - b2 ** this.steps);
    const shrink = 1 - lr * decay;
    for (let i = 0; i < w.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      w[i] = w[i] * shrink - (stepSize * m[i]) / (Math.sqrt(v[i]) / root2 + eps);
    }
  }
}

/** Scales all gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_);
 * returns the norm before clipping. */
export function clipGradNorm(params: Module | NamedParameters, maxNorm: number): number {
  const list = namedParameters('clipGradNorm', params);
  checkRate('clipGradNorm', 'maxNorm', maxNorm, 0);
  let sq = 0;
  for (const [, p] of list) if (p.grad) for (const g of p.grad.toArray()) sq += g * g;
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1)
    for (const [, p] of list) {
      if (!p.grad) continue;
      const d = p.grad.toArray(); // the gradient itself on the CPU, a copy from CUDA
      for (let i = 0; i < d.length; i++) d[i] *= coef;
      if (p.grad.device !== 'cpu') (p.grad.storage as DeviceArray).upload(d);
    }
  return norm;
}
