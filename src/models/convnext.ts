// ConvNeXt as timm defines it (conv_mlp = False, layer scale `gamma`), with the depthwise kernel
// size a parameter (3..51 in the large-kernel study's ablation). Runs channels-first: the block's
// LayerNorm and MLP act on channels, as 1x1 convolutions.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { MAX_DEPTHWISE_KERNEL } from '../tensor/ops/dwconv';
import { Module, Layer, Conv2d, Linear, LayerNorm, Mlp, Sequence, ModuleList, uniformParameter } from '../nn';
import { ImageClassifier, ForwardContext, Triple } from './classifier';

export interface ConvNeXtConfig {
  depths: number[];
  dims: number[];
  /** Depthwise kernel of every block (7 in the paper). */
  kernelSize: number;
  numClasses: number;
}

const LN_EPS = 1e-6;

/** timm's LayerNorm2d: a LayerNorm over the channels of an NCHW tensor. */
class LayerNorm2d extends LayerNorm {
  override forward(x: Tensor): Tensor {
    return this.forwardChannels(x);
  }
}

class ConvNeXtBlock extends Layer {
  readonly convDw: Conv2d;
  readonly norm: LayerNorm;
  readonly mlp: Mlp;
  readonly gamma: Tensor;

  constructor(dim: number, kernelSize: number) {
    super();
    this.convDw = this.child('conv_dw', new Conv2d(dim, dim, kernelSize, { padding: kernelSize >> 1, groups: dim }));
    this.norm = this.child('norm', new LayerNorm(dim, LN_EPS));
    this.mlp = this.child('mlp', new Mlp(dim, 4 * dim));
    this.gamma = this.param('gamma', uniformParameter([dim], null));
    this.gamma.data.fill(1e-6); // timm's ls_init_value
  }

  forward(x: Tensor): Tensor {
    const y = this.mlp.forwardChannels(this.norm.forwardChannels(this.convDw.forward(x)));
    return ops.add(x, ops.mul(y, ops.reshape(this.gamma, [this.gamma.size, 1, 1])));
  }
}

class ConvNeXtStage extends Module {
  readonly downsample: Sequence | null;
  readonly blocks: Sequence<ConvNeXtBlock>;

  constructor(inDim: number, dim: number, depth: number, kernelSize: number, downsample: boolean) {
    super();
    this.downsample = downsample
      ? this.child(
          'downsample',
          new Sequence([new LayerNorm2d(inDim, LN_EPS), new Conv2d(inDim, dim, 2, { stride: 2 })]),
        )
      : null;
    this.blocks = this.child(
      'blocks',
      new Sequence(Array.from({ length: depth }, () => new ConvNeXtBlock(dim, kernelSize))),
    );
  }
}

class Head extends Module {
  readonly norm: LayerNorm;
  readonly fc: Linear;

  constructor(dim: number, numClasses: number) {
    super();
    this.norm = this.child('norm', new LayerNorm(dim, LN_EPS));
    this.fc = this.child('fc', new Linear(dim, numClasses));
  }
}

export class ConvNeXt extends ImageClassifier {
  readonly config: ConvNeXtConfig;
  readonly stem: Sequence;
  readonly stages: ConvNeXtStage[];
  readonly head: Head;

  constructor(config: ConvNeXtConfig, mean: Triple, std: Triple) {
    super(config.numClasses, mean, std);
    this.config = checkConfig(config);
    const { dims, depths, kernelSize } = config;
    this.stem = this.child(
      'stem',
      new Sequence([new Conv2d(3, dims[0], 4, { stride: 4 }), new LayerNorm2d(dims[0], LN_EPS)]),
    );
    const list = this.child('stages', new ModuleList<ConvNeXtStage>());
    this.stages = depths.map((d, i) =>
      list.add(new ConvNeXtStage(dims[Math.max(i - 1, 0)], dims[i], d, kernelSize, i > 0)),
    );
    this.head = this.child('head', new Head(dims[dims.length - 1], config.numClasses));
  }

  blockNames(): string[] {
    return this.stages.flatMap((s, i) => s.blocks.items.map((_, j) => `stages.${i}.blocks.${j}`));
  }

  protected forwardNormalized(x: Tensor, ctx: ForwardContext): Tensor {
    let y = this.stem.forward(x);
    this.stages.forEach((stage, i) => {
      if (stage.downsample) y = stage.downsample.forward(y);
      stage.blocks.items.forEach((blk, j) => {
        y = ctx.block(`stages.${i}.blocks.${j}`, y, (v) => blk.forward(v));
      });
    });
    const pooled = ops.globalAvgPool2d(y);
    return this.head.fc.forward(this.head.norm.forward(pooled));
  }
}

function checkConfig(c: ConvNeXtConfig): ConvNeXtConfig {
  const n = c.depths.length;
  if (
    !Array.isArray(c.dims) ||
    c.dims.length !== n ||
    [...c.dims, ...c.depths].some((v) => !Number.isInteger(v) || v < 1)
  )
    throw new RangeError(
      `ConvNeXt: depths and dims must be positive integers, one per stage, got ${JSON.stringify(c.depths)} and ${JSON.stringify(c.dims)}`,
    );
  if (
    !Number.isInteger(c.kernelSize) ||
    c.kernelSize < 1 ||
    c.kernelSize % 2 === 0 ||
    c.kernelSize > MAX_DEPTHWISE_KERNEL
  )
    throw new RangeError(
      `ConvNeXt: kernelSize must be an odd integer in [1, ${MAX_DEPTHWISE_KERNEL}], got ${String(c.kernelSize)}`,
    );
  if (!Number.isInteger(c.numClasses) || c.numClasses < 1)
    throw new RangeError(`ConvNeXt: numClasses must be a positive integer, got ${String(c.numClasses)}`);
  return c;
}
