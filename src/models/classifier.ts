// The base of every model: input in [0, 1] pixel space, normalisation inside the model, and the
// hooks the analyses need (block outputs, skipped blocks, attention maps, depthwise kernels).
import { Tensor, shapeString } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Module, Conv2d } from '../nn';

export type Triple = [number, number, number];

export interface ForwardOptions {
  /** Record block outputs: true for every block, or the names of the blocks wanted. */
  features?: boolean | string[];
  /** Residual blocks to skip (the block becomes the identity): the lesion study. */
  skip?: string[];
  /** ViT: attention-probability maps of these block indices (true: every block). */
  attention?: boolean | number[];
}

export interface ForwardResult {
  logits: Tensor;
  /** Block name -> output, in forward order (only when `features` was asked for). */
  features: Map<string, Tensor>;
  /** ViT block index -> attention probabilities [N, heads, T, T] (no grad). */
  attention: Map<number, Tensor>;
}

/** One forward pass's hooks, passed down the model. */
export class ForwardContext {
  readonly features = new Map<string, Tensor>();
  readonly attention = new Map<number, Tensor>();
  private readonly wantFeatures: boolean | Set<string>;
  private readonly skip: Set<string>;
  private readonly wantAttention: boolean | Set<number>;

  constructor(options: ForwardOptions, blockNames: readonly string[], skippable: readonly string[]) {
    const f = options.features ?? false;
    if (typeof f !== 'boolean' && !Array.isArray(f))
      throw new TypeError(`forward: features must be a boolean or an array of block names, got ${typeof f}`);
    if (Array.isArray(f)) checkNames('features', f, blockNames);
    this.wantFeatures = Array.isArray(f) ? new Set(f) : f;
    const skip = options.skip ?? [];
    if (!Array.isArray(skip)) throw new TypeError('forward: skip must be an array of block names');
    checkNames('skip', skip, skippable);
    this.skip = new Set(skip);
    const a = options.attention ?? false;
    if (typeof a !== 'boolean' && !(Array.isArray(a) && a.every((i) => Number.isInteger(i))))
      throw new TypeError('forward: attention must be a boolean or an array of block indices');
    this.wantAttention = Array.isArray(a) ? new Set(a) : a;
  }

  /** Runs block `name` (or skips it) and records its output when asked. */
  block(name: string, x: Tensor, run: (x: Tensor) => Tensor): Tensor {
    const y = this.skip.has(name) ? x : run(x);
    if (this.wantFeatures === true || (this.wantFeatures instanceof Set && this.wantFeatures.has(name)))
      this.features.set(name, y);
    return y;
  }

  wantsAttention(index: number): boolean {
    return this.wantAttention === true || (this.wantAttention instanceof Set && this.wantAttention.has(index));
  }
}

function checkNames(option: string, names: unknown[], known: readonly string[]): void {
  const set = new Set(known);
  const bad = names.filter((n) => typeof n !== 'string' || !set.has(n));
  if (bad.length)
    throw new RangeError(
      `forward: ${option} names unknown block(s) ${bad.map(String).join(', ')}; this model's are ${known.slice(0, 6).join(', ')}${known.length > 6 ? `, ... (${known.length} in all, see model.blockNames())` : ''}`,
    );
}

export interface ClassifierInfo {
  numClasses: number;
  mean: Triple;
  std: Triple;
  /** Input side the model was built for, or null when any size works. */
  imageSize: number | null;
}

/**
 * The normalisation a model accepts: |mean| <= 1e6 and 1e-6 <= std <= 1e6 per channel. Outside that,
 * 1/std or -mean/std overflow float32 (std 1e-45 gives infinite weights and NaN logits), and no real
 * dataset's statistics come near it on [0, 1] images.
 */
export const NORMALIZATION_LIMITS = { maxAbsMean: 1e6, minStd: 1e-6, maxStd: 1e6 };

/** Checks a mean / std pair (TypeError for the wrong type, RangeError out of NORMALIZATION_LIMITS; `fn` names the caller). */
export function checkNormalization(fn: string, mean: unknown, std: unknown): void {
  const triple = (v: unknown) => Array.isArray(v) && v.length === 3 && v.every((e) => typeof e === 'number');
  const { maxAbsMean, minStd, maxStd } = NORMALIZATION_LIMITS;
  if (!triple(mean)) throw new TypeError(`${fn}: mean must be 3 numbers, got ${JSON.stringify(mean)}`);
  if (!triple(std)) throw new TypeError(`${fn}: std must be 3 numbers, got ${JSON.stringify(std)}`);
  if ((mean as number[]).some((m) => !(Math.abs(m) <= maxAbsMean)))
    throw new RangeError(
      `${fn}: mean must be 3 finite numbers in [-${maxAbsMean}, ${maxAbsMean}], got ${JSON.stringify(mean)}`,
    );
  if ((std as number[]).some((s) => !(s >= minStd && s <= maxStd)))
    throw new RangeError(`${fn}: std must be 3 numbers in [${minStd}, ${maxStd}], got ${JSON.stringify(std)}`);
}

export abstract class ImageClassifier extends Module {
  readonly numClasses: number;
  // Set by setNormalization, which the constructor calls.
  private inputNorm!: { weight: Tensor; bias: Tensor };
  private meanStd!: { mean: Triple; std: Triple };
  private origin: { name: string; config: Record<string, unknown> } | null = null;

  constructor(
    numClasses: number,
    mean: Triple,
    std: Triple,
    readonly imageSize: number | null = null,
  ) {
    super();
    this.numClasses = numClasses;
    this.setNormalization(mean, std);
  }

  /** The registry name this model was built as (createModel / loadModel), or null when built from its class. */
  get modelName(): string | null {
    return this.origin?.name ?? null;
  }

  /** The architecture options it was built with (defaults filled in), or null when built from its class. */
  get modelConfig(): Readonly<Record<string, unknown>> | null {
    return this.origin ? { ...this.origin.config } : null;
  }

  /** @internal createModel records the name and options it built this model from. */
  recordOrigin(name: string, config: Record<string, unknown>): void {
    this.origin = { name, config: JSON.parse(JSON.stringify(config)) };
  }

  /** What saveWeights stores beside the weights so that loadModel (and the CLI) can rebuild this
   * model without being told: `lkvit.model` (the name) and `lkvit.config` (its options as JSON,
   * with the current mean and std), as timm's pretrained configs do. Empty for a model built from its class. */
  checkpointMetadata(): Record<string, string> {
    if (!this.origin) return {};
    return {
      'lkvit.model': this.origin.name,
      'lkvit.config': JSON.stringify({ ...this.origin.config, mean: this.mean, std: this.std }),
    };
  }

  get mean(): Triple {
    return this.meanStd.mean;
  }

  get std(): Triple {
    return this.meanStd.std;
  }

  /** Changes the per-channel normalisation applied to [0, 1] inputs: (x - mean) / std. */
  setNormalization(mean: Triple, std: Triple): void {
    checkNormalization('setNormalization', mean, std);
    this.meanStd = { mean: [...mean] as Triple, std: [...std] as Triple };
    // A 1x1 depthwise convolution does (x - m) / s as x * (1/s) + (-m/s), differentiably.
    this.inputNorm = {
      weight: new Tensor(
        Float32Array.from(std, (s) => 1 / s),
        [3, 1, 1, 1],
      ),
      bias: new Tensor(
        Float32Array.from(mean, (m, i) => -m / std[i]),
        [3],
      ),
    };
    this.inputNormDevice = null;
  }

  /** Names of the blocks `forward` can record (in order), as state-dict prefixes. */
  abstract blockNames(): string[];

  /** The residual blocks that `skip` may remove. */
  skippableBlocks(): string[] {
    return this.blockNames();
  }

  /** Logits for x [N, 3, H, W] in [0, 1]. A model moved with .to('cuda') takes x on either
   * device: a CPU batch is copied to the model's device (differentiably) and the logits come back
   * to the CPU, so attacks, suites and training run on the device unchanged. */
  forward(x: Tensor): Tensor {
    return this.run(x).logits;
  }

  /** A forward pass with hooks: block outputs, skipped blocks, attention maps. */
  run(x: Tensor, options: ForwardOptions = {}): ForwardResult {
    if (!(x instanceof Tensor)) throw new TypeError(`forward: x must be a Tensor [N, 3, H, W], got ${typeof x}`);
    if (x.ndim !== 4 || x.shape[1] !== 3 || x.shape[0] < 1)
      throw new RangeError(`forward: x must have shape [N, 3, H, W] (RGB in [0, 1]), got ${shapeString(x.shape)}`);
    if (this.imageSize !== null && (x.shape[2] !== this.imageSize || x.shape[3] !== this.imageSize))
      throw new RangeError(
        `forward: this model takes ${this.imageSize}x${this.imageSize} images, got ${shapeString(x.shape)}`,
      );
    const ctx = new ForwardContext(options, this.blockNames(), this.skippableBlocks());
    const device = this.device;
    const input = x.device === device ? x : x.to(device);
    const norm = this.inputNormOn(device);
    const normalized = ops.depthwiseConv2d(input, norm.weight, { bias: norm.bias });
    const logits = this.forwardNormalized(normalized, ctx);
    if (device === x.device) return { logits, features: ctx.features, attention: ctx.attention };
    const back = <K>(m: Map<K, Tensor>) => new Map([...m].map(([k, t]) => [k, t.to(x.device)] as [K, Tensor]));
    return { logits: logits.to(x.device), features: back(ctx.features), attention: back(ctx.attention) };
  }

  private inputNormDevice: { weight: Tensor; bias: Tensor } | null = null;
  private inputNormOn(device: 'cpu' | 'cuda'): { weight: Tensor; bias: Tensor } {
    if (device === 'cpu') return this.inputNorm;
    const d = this.inputNormDevice;
    if (d && d.weight.device === device) return d;
    this.inputNormDevice = { weight: this.inputNorm.weight.to(device), bias: this.inputNorm.bias.to(device) };
    return this.inputNormDevice;
  }

  protected abstract forwardNormalized(x: Tensor, ctx: ForwardContext): Tensor;

  /** Every depthwise kernel (groups = channels, kernel > 1x1) by state-dict key of its weight. */
  depthwiseKernels(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [path, m] of this.namedModules())
      if (m instanceof Conv2d && m.isDepthwise && m.kernelSize[0] * m.kernelSize[1] > 1)
        out.set(`${path}.weight`, m.weight);
    return out;
  }

  info(): ClassifierInfo {
    return { numClasses: this.numClasses, mean: this.mean, std: this.std, imageSize: this.imageSize };
  }
}
