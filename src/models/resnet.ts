// ResNet-50 as torchvision (and timm) define it: bottleneck blocks with the stride on the 3x3
// conv (v1.5), keys conv1/bn1/layer1.0.conv1/.../fc.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Layer, Conv2d, BatchNorm2d, Linear, Sequence } from '../nn';
import { ImageClassifier, ForwardContext, Triple } from './classifier';

export interface ResNetConfig {
  /** Bottleneck blocks per stage. */
  layers: number[];
  /** Bottleneck widths (planes) per stage; each block outputs 4x its width. */
  widths: number[];
  stemWidth: number;
  numClasses: number;
}

const EXPANSION = 4;

class Bottleneck extends Layer {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequence | null;

  constructor(inChannels: number, width: number, stride: number) {
    super();
    const out = width * EXPANSION;
    this.conv1 = this.child('conv1', new Conv2d(inChannels, width, 1, { bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(width));
    this.conv2 = this.child('conv2', new Conv2d(width, width, 3, { stride, padding: 1, bias: false }));
    this.bn2 = this.child('bn2', new BatchNorm2d(width));
    this.conv3 = this.child('conv3', new Conv2d(width, out, 1, { bias: false }));
    this.bn3 = this.child('bn3', new BatchNorm2d(out));
    this.downsample =
      stride !== 1 || inChannels !== out
        ? this.child(
            'downsample',
            new Sequence([new Conv2d(inChannels, out, 1, { stride, bias: false }), new BatchNorm2d(out)]),
          )
        : null;
  }

  forward(x: Tensor): Tensor {
    let y = ops.relu(this.bn1.forward(this.conv1.forward(x)));
    y = ops.relu(this.bn2.forward(this.conv2.forward(y)));
    y = this.bn3.forward(this.conv3.forward(y));
    return ops.relu(ops.add(y, this.downsample ? this.downsample.forward(x) : x));
  }
}

export class ResNet extends ImageClassifier {
  readonly config: ResNetConfig;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly stages: Sequence<Bottleneck>[];
  readonly fc: Linear;

  constructor(config: ResNetConfig, mean: Triple, std: Triple) {
    super(config.numClasses, mean, std);
    this.config = checkConfig(config);
    const { layers, widths, stemWidth } = config;
    this.conv1 = this.child('conv1', new Conv2d(3, stemWidth, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(stemWidth));
    let inChannels = stemWidth;
    this.stages = layers.map((n, i) => {
      const blocks = Array.from({ length: n }, (_, j) => {
        const b = new Bottleneck(inChannels, widths[i], j === 0 && i > 0 ? 2 : 1);
        inChannels = widths[i] * EXPANSION;
        return b;
      });
      return this.child(`layer${i + 1}`, new Sequence(blocks));
    });
    this.fc = this.child('fc', new Linear(inChannels, config.numClasses));
  }

  blockNames(): string[] {
    return this.stages.flatMap((s, i) => s.items.map((_, j) => `layer${i + 1}.${j}`));
  }

  /** Blocks whose input and output shapes agree (no downsample), so skipping leaves a valid net. */
  override skippableBlocks(): string[] {
    return this.stages.flatMap((s, i) => s.items.flatMap((b, j) => (b.downsample ? [] : [`layer${i + 1}.${j}`])));
  }

  protected forwardNormalized(x: Tensor, ctx: ForwardContext): Tensor {
    let y = ops.relu(this.bn1.forward(this.conv1.forward(x)));
    y = ops.maxPool2d(y, { kernelSize: 3, stride: 2, padding: 1 });
    this.stages.forEach((stage, i) =>
      stage.items.forEach((blk, j) => {
        y = ctx.block(`layer${i + 1}.${j}`, y, (v) => blk.forward(v));
      }),
    );
    const pooled = ops.globalAvgPool2d(y);
    return this.fc.forward(pooled);
  }
}

function checkConfig(c: ResNetConfig): ResNetConfig {
  const n = c.layers.length;
  if (
    !Array.isArray(c.widths) ||
    c.widths.length !== n ||
    [...c.layers, ...c.widths].some((v) => !Number.isInteger(v) || v < 1)
  )
    throw new RangeError(
      `ResNet: layers and widths must be positive integers, one per stage, got ${JSON.stringify(c.layers)} and ${JSON.stringify(c.widths)}`,
    );
  if (!Number.isInteger(c.stemWidth) || c.stemWidth < 1)
    throw new RangeError(`ResNet: stemWidth must be a positive integer, got ${String(c.stemWidth)}`);
  if (!Number.isInteger(c.numClasses) || c.numClasses < 1)
    throw new RangeError(`ResNet: numClasses must be a positive integer, got ${String(c.numClasses)}`);
  return c;
}
