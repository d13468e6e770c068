// BiT (Big Transfer) as timm's ResNetV2: pre-activation bottlenecks with GroupNorm and
// weight-standardised convolutions (StdConv2d, eps 1e-8), the 'fixed' stem (zero pad + max pool),
// a 1x1-conv classifier (head.fc). Keys as timm's resnetv2_101x3_bitm.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Module, Layer, Conv2d, StdConv2d, GroupNorm, Sequence, ModuleList } from '../nn';
import { ImageClassifier, ForwardContext, Triple } from './classifier';

export interface BiTConfig {
  layers: number[];
  widthFactor: number;
  /** GroupNorm groups (32 in BiT). */
  numGroups: number;
  /** Stem channels before the width factor (timm's stem_chs, 64). */
  stemWidth: number;
  /** Block output channels per stage before the width factor (timm's channels, 256..2048). */
  outChannels: number[];
  numClasses: number;
}

const WS_EPS = 1e-8;

const conv = (cin: number, cout: number, k: number, stride = 1) =>
  new StdConv2d(cin, cout, k, { stride, padding: k >> 1, bias: false, eps: WS_EPS });

/** GroupNorm followed by ReLU (timm's GroupNormAct). */
class GroupNormAct extends GroupNorm {
  override forward(x: Tensor): Tensor {
    return ops.relu(super.forward(x));
  }
}

class DownsampleConv extends Module {
  readonly conv: StdConv2d;

  constructor(cin: number, cout: number, stride: number) {
    super();
    this.conv = this.child('conv', conv(cin, cout, 1, stride));
  }
}

class PreActBottleneck extends Layer {
  readonly downsample: DownsampleConv | null;
  readonly norm1: GroupNormAct;
  readonly conv1: StdConv2d;
  readonly norm2: GroupNormAct;
  readonly conv2: StdConv2d;
  readonly norm3: GroupNormAct;
  readonly conv3: StdConv2d;

  constructor(cin: number, cout: number, stride: number, groups: number) {
    super();
    const mid = cout / 4;
    this.downsample =
      cin !== cout || stride !== 1 ? this.child('downsample', new DownsampleConv(cin, cout, stride)) : null;
    this.norm1 = this.child('norm1', new GroupNormAct(groups, cin));
    this.conv1 = this.child('conv1', conv(cin, mid, 1));
    this.norm2 = this.child('norm2', new GroupNormAct(groups, mid));
    this.conv2 = this.child('conv2', conv(mid, mid, 3, stride));
    this.norm3 = this.child('norm3', new GroupNormAct(groups, mid));
    this.conv3 = this.child('conv3', conv(mid, cout, 1));
  }

  forward(x: Tensor): Tensor {
    const pre = this.norm1.forward(x);
    const shortcut = this.downsample ? this.downsample.conv.forward(pre) : x;
    let y = this.conv1.forward(pre);
    y = this.conv2.forward(this.norm2.forward(y));
    y = this.conv3.forward(this.norm3.forward(y));
    return ops.add(y, shortcut);
  }
}

class Stem extends Module {
  readonly conv: StdConv2d;

  constructor(cout: number) {
    super();
    this.conv = this.child('conv', new StdConv2d(3, cout, 7, { stride: 2, padding: 3, bias: false, eps: WS_EPS }));
  }

  forward(x: Tensor): Tensor {
    // 'fixed' stem: zero padding (not -inf) before an unpadded 3x3 stride-2 max pool.
    return ops.maxPool2d(ops.pad2d(this.conv.forward(x), 1), { kernelSize: 3, stride: 2 });
  }
}

class Stage extends Module {
  readonly blocks: Sequence<PreActBottleneck>;

  constructor(cin: number, cout: number, depth: number, stride: number, groups: number) {
    super();
    this.blocks = this.child(
      'blocks',
      new Sequence(
        Array.from(
          { length: depth },
          (_, j) => new PreActBottleneck(j === 0 ? cin : cout, cout, j === 0 ? stride : 1, groups),
        ),
      ),
    );
  }
}

class Head extends Module {
  /** A plain 1x1 convolution with bias (not weight-standardised). */
  readonly fc: Conv2d;

  constructor(cin: number, numClasses: number) {
    super();
    this.fc = this.child('fc', new Conv2d(cin, numClasses, 1));
  }
}

export class BiT extends ImageClassifier {
  readonly config: BiTConfig;
  readonly stem: Stem;
  readonly stages: Stage[];
  readonly norm: GroupNormAct;
  readonly head: Head;

  constructor(config: BiTConfig, mean: Triple, std: Triple) {
    super(config.numClasses, mean, std);
    this.config = checkConfig(config);
    const wf = config.widthFactor;
    const stemWidth = config.stemWidth * wf;
    const outs = config.outChannels.map((c) => c * wf);
    this.stem = this.child('stem', new Stem(stemWidth));
    const list = this.child('stages', new ModuleList<Stage>());
    this.stages = config.layers.map((d, i) =>
      list.add(new Stage(i === 0 ? stemWidth : outs[i - 1], outs[i], d, i === 0 ? 1 : 2, config.numGroups)),
    );
    this.norm = this.child('norm', new GroupNormAct(config.numGroups, outs[outs.length - 1]));
    this.head = this.child('head', new Head(outs[outs.length - 1], config.numClasses));
  }

  blockNames(): string[] {
    return this.stages.flatMap((s, i) => s.blocks.items.map((_, j) => `stages.${i}.blocks.${j}`));
  }

  override skippableBlocks(): string[] {
    return this.stages.flatMap((s, i) =>
      s.blocks.items.flatMap((b, j) => (b.downsample ? [] : [`stages.${i}.blocks.${j}`])),
    );
  }

  protected forwardNormalized(x: Tensor, ctx: ForwardContext): Tensor {
    let y = this.stem.forward(x);
    this.stages.forEach((stage, i) =>
      stage.blocks.items.forEach((blk, j) => {
        y = ctx.block(`stages.${i}.blocks.${j}`, y, (v) => blk.forward(v));
      }),
    );
    const pooled = ops.globalAvgPool2d(this.norm.forward(y)); // [N, C]
    const logits = this.head.fc.forward(ops.reshape(pooled, [...pooled.shape, 1, 1]));
    return ops.reshape(logits, [logits.shape[0], logits.shape[1]]);
  }
}

function checkConfig(c: BiTConfig): BiTConfig {
  const bad = (v: unknown) => !Number.isInteger(v) || (v as number) < 1;
  if (!Array.isArray(c.layers) || c.layers.some(bad))
    throw new RangeError(`BiT: layers must be positive integers, got ${JSON.stringify(c.layers)}`);
  if (bad(c.widthFactor) || bad(c.numGroups) || bad(c.numClasses))
    throw new RangeError(
      `BiT: widthFactor, numGroups and numClasses must be positive integers, got ${c.widthFactor}, ${c.numGroups}, ${c.numClasses}`,
    );
  if (bad(c.stemWidth)) throw new RangeError(`BiT: stemWidth must be a positive integer, got ${String(c.stemWidth)}`);
  if (
    !Array.isArray(c.outChannels) ||
    c.outChannels.length !== c.layers.length ||
    c.outChannels.some((v) => bad(v) || (v * c.widthFactor) % 4)
  )
    throw new RangeError(`BiT: outChannels must be one multiple of 4 per stage, got ${JSON.stringify(c.outChannels)}`);
  return c;
}
