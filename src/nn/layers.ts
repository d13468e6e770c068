// The layers the model families are built from, with PyTorch's parameter names and shapes.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Layer } from './module';
import { uniformParameter } from './init';

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

function checkPositiveInt(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new RangeError(`${layer}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
}

/** nn.Conv2d. A depthwise convolution (groups = in = out channels) runs on the depthwise kernels. */
export class Conv2d extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly kernelSize: [number, number];

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    options: Conv2dOptions = {},
  ) {
    super();
    checkPositiveInt('Conv2d', 'inChannels', inChannels);
    checkPositiveInt('Conv2d', 'outChannels', outChannels);
    this.kernelSize = pair(kernelSize);
    this.kernelSize.forEach((k) => checkPositiveInt('Conv2d', 'kernelSize', k));
    this.stride = pair(options.stride ?? 1);
    this.padding = pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    this.groups = checkPositiveInt('Conv2d', 'groups', options.groups ?? 1);
    if (inChannels % this.groups || outChannels % this.groups)
      throw new RangeError(
        `Conv2d: groups = ${this.groups} must divide inChannels = ${inChannels} and outChannels = ${outChannels}`,
      );
    const fanIn = (inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
    const bound = 1 / Math.sqrt(fanIn);
    this.weight = this.param(
      'weight',
      uniformParameter([outChannels, inChannels / this.groups, ...this.kernelSize], bound),
    );
    this.bias = options.bias === false ? null : this.param('bias', uniformParameter([outChannels], bound));
  }

  get isDepthwise(): boolean {
    return this.groups === this.inChannels && this.groups === this.outChannels;
  }

  /** The weight the convolution uses (StdConv2d standardises it first). */
  protected effectiveWeight(): Tensor {
    return this.weight;
  }

  forward(x: Tensor): Tensor {
    return conv2dWith(this, x, this.effectiveWeight(), this.bias);
  }
}

/** Runs the geometry of `conv` with the given weight and bias (fused variants pass their own). */
export function conv2dWith(conv: Conv2d, x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [sh, sw] = conv.stride;
  const plainDepthwise = conv.isDepthwise && conv.dilation[0] === 1 && conv.dilation[1] === 1 && sh === sw && sh <= 2;
  if (plainDepthwise) return ops.depthwiseConv2d(x, weight, { bias, stride: conv.stride, padding: conv.padding });
  return ops.conv2d(x, weight, {
    bias,
    stride: conv.stride,
    padding: conv.padding,
    dilation: conv.dilation,
    groups: conv.groups,
  });
}

/** timm's StdConv2d (BiT): the weight is standardised per output filter before each use. In eval
 * mode with frozen weights the standardised copy is cached until the weights change. */
export class StdConv2d extends Conv2d {
  private cached: Tensor | null = null;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    options: Conv2dOptions & { eps?: number } = {},
  ) {
    const { eps, ...convOptions } = options;
    super(inChannels, outChannels, kernelSize, convOptions);
    this.eps = eps ?? 1e-6;
  }

  readonly eps: number;

  protected override effectiveWeight(): Tensor {
    if (this.weight.requiresGrad) return ops.weightStandardize(this.weight, this.eps);
    this.cached ??= ops.weightStandardize(this.weight, this.eps);
    return this.cached;
  }

  protected override stateChanged(): void {
    this.cached = null;
  }
}

/** nn.Linear: y = x W^T + b over the last dim. */
export class Linear extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    checkPositiveInt('Linear', 'inFeatures', inFeatures);
    checkPositiveInt('Linear', 'outFeatures', outFeatures);
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param('weight', uniformParameter([outFeatures, inFeatures], bound));
    this.bias = options.bias === false ? null : this.param('bias', uniformParameter([outFeatures], bound));
  }

  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }

  /** The same map applied to the channels of an NCHW tensor (a 1x1 convolution). */
  forwardChannels(x: Tensor): Tensor {
    return ops.conv2d(x, ops.reshape(this.weight, [this.outFeatures, this.inFeatures, 1, 1]), { bias: this.bias });
  }
}

const ones = (n: number) => new Tensor(new Float32Array(n).fill(1), [n]);
const zerosOf = (n: number) => new Tensor(new Float32Array(n), [n]);

/** nn.BatchNorm2d with affine parameters and running statistics. */
export class BatchNorm2d extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;

  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    checkPositiveInt('BatchNorm2d', 'numFeatures', numFeatures);
    this.weight = this.param('weight', ones(numFeatures));
    this.bias = this.param('bias', zerosOf(numFeatures));
    this.runningMean = this.buffer('running_mean', zerosOf(numFeatures));
    this.runningVar = this.buffer('running_var', ones(numFeatures));
    this.numBatchesTracked = this.buffer('num_batches_tracked', new Tensor(new Float32Array(1), []));
  }

  forward(x: Tensor): Tensor {
    if (this.training) {
      // On CUDA the count is kept here and written with a fill (no copy back per layer).
      if (this.tracked === null) this.tracked = this.numBatchesTracked.toArray()[0];
      this.tracked += 1;
      this.numBatchesTracked.storage.fill(this.tracked);
    }
    return ops.batchNorm2d(x, {
      weight: this.weight,
      bias: this.bias,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
  }

  private tracked: number | null = null;
  protected override stateChanged(): void {
    this.tracked = null; // reread num_batches_tracked after loads and moves
  }

  /** The eval-mode map as y = scale * x + shift per channel, in float64. */
  affine(): { scale: Float64Array; shift: Float64Array } {
    const C = this.numFeatures;
    const scale = new Float64Array(C),
      shift = new Float64Array(C);
    const w = this.weight.toArray(),
      b = this.bias.toArray(),
      m = this.runningMean.toArray(),
      v = this.runningVar.toArray();
    for (let c = 0; c < C; c++) {
      scale[c] = w[c] / Math.sqrt(v[c] + this.eps);
      shift[c] = b[c] - m[c] * scale[c];
    }
    return { scale, shift };
  }
}

/** nn.LayerNorm over the last dimension. */
export class LayerNorm extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    checkPositiveInt('LayerNorm', 'dim', dim);
    this.weight = this.param('weight', ones(dim));
    this.bias = this.param('bias', zerosOf(dim));
  }

  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, this.weight, this.bias, { eps: this.eps });
  }

  /** The same normalisation over the channels of an NCHW tensor (timm's LayerNorm2d, ConvNeXt's norms). */
  forwardChannels(x: Tensor): Tensor {
    return ops.layerNorm2d(x, this.weight, this.bias, { eps: this.eps });
  }
}

/** nn.GroupNorm. */
export class GroupNorm extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
  ) {
    super();
    checkPositiveInt('GroupNorm', 'numGroups', numGroups);
    checkPositiveInt('GroupNorm', 'numChannels', numChannels);
    if (numChannels % numGroups)
      throw new RangeError(`GroupNorm: numGroups = ${numGroups} must divide numChannels = ${numChannels}`);
    this.weight = this.param('weight', ones(numChannels));
    this.bias = this.param('bias', zerosOf(numChannels));
  }

  forward(x: Tensor): Tensor {
    return ops.groupNorm(x, this.numGroups, this.weight, this.bias, { eps: this.eps });
  }
}

/** timm's Mlp: fc1 -> exact GELU -> fc2 (ViT blocks; ConvNeXt blocks apply it to channels). */
export class Mlp extends Layer {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = this.child('fc1', new Linear(dim, hidden));
    this.fc2 = this.child('fc2', new Linear(hidden, dim));
  }

  /** Over the last dimension. */
  forward(x: Tensor): Tensor {
    return this.fc2.forward(ops.gelu(this.fc1.forward(x)));
  }

  /** Over the channels of an NCHW tensor (1x1 convolutions). */
  forwardChannels(x: Tensor): Tensor {
    return this.fc2.forwardChannels(ops.gelu(this.fc1.forwardChannels(x)));
  }
}
