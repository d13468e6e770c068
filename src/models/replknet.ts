// RepLKNet (Ding et al., CVPR 2022) as the official code defines it, module for module, so the
// official checkpoints' keys (stages.2.blocks.4.large_kernel.lkb_origin.conv.weight) load as they are.
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { MAX_DEPTHWISE_KERNEL } from '../tensor/ops/dwconv';
import {
  Module,
  Layer,
  Conv2d,
  BatchNorm2d,
  Linear,
  ConvBN,
  foldBatchNorm,
  Sequence,
  ModuleList,
  DropPath,
  dropPathRates,
} from '../nn';
import type { StateDictLike, LoadReport } from '../nn';
import { ImageClassifier, ForwardContext, Triple } from './classifier';

export interface RepLKNetConfig {
  /** Large depthwise kernel of each stage. */
  kernelSizes: number[];
  /** Blocks per stage (each is a RepLK block followed by a ConvFFN block). */
  layers: number[];
  channels: number[];
  /** Parallel small depthwise kernel, merged into the large one by reparam(); null for none. */
  smallKernel: number | null;
  /** Depthwise channels = channels * dwRatio. */
  dwRatio: number;
  /** ConvFFN hidden channels = channels * ffnRatio. */
  ffnRatio: number;
  numClasses: number;
  /** Total stride of the stem: 4 (the official stem, default), or 2 or 1 for small images (its
   * stride-2 convolutions then use stride 1). */
  stemStride?: 1 | 2 | 4;
  /** Stochastic depth: per-block rates rise linearly from 0 to this over all blocks (default 0). */
  dropPathRate?: number;
}

/** The large depthwise conv plus its parallel small one (official ReparamLargeKernelConv). */
class ReparamLargeKernelConv extends Layer {
  private origin: ConvBN | null;
  private small: ConvBN | null;
  private merged: Conv2d | null = null;

  constructor(
    readonly channels: number,
    readonly kernelSize: number,
    readonly smallKernel: number | null,
  ) {
    super();
    this.origin = this.child(
      'lkb_origin',
      new ConvBN(channels, channels, kernelSize, { padding: kernelSize >> 1, groups: channels }),
    );
    this.small =
      smallKernel === null
        ? null
        : this.child(
            'small_conv',
            new ConvBN(channels, channels, smallKernel, { padding: smallKernel >> 1, groups: channels }),
          );
  }

  get isMerged(): boolean {
    return this.merged !== null;
  }

  forward(x: Tensor): Tensor {
    if (this.merged) return this.merged.forward(x);
    const y = (this.origin as ConvBN).forward(x);
    return this.small ? ops.add(y, this.small.forward(x)) : y;
  }

  /** The official merge: BNs folded, the small kernel zero-padded into the large one's centre. */
  merge(): void {
    if (this.merged || !this.origin) return;
    const big = foldBatchNorm(this.origin.conv, this.origin.bn);
    if (this.small) {
      const sm = foldBatchNorm(this.small.conv, this.small.bn);
      const K = this.kernelSize,
        k = this.small.conv.kernelSize[0],
        off = (K - k) >> 1;
      for (let c = 0; c < this.channels; c++) {
        big.bias.data[c] += sm.bias.data[c];
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++)
            big.weight.data[(c * K + i + off) * K + j + off] += sm.weight.data[(c * k + i) * k + j];
      }
    }
    const conv = this.becomeMerged();
    conv.weight.data.set(big.weight.data);
    conv.bias?.data.set(big.bias.data);
  }

  /** Swaps the two branches for one `lkb_reparam` conv with bias (weights to be filled in). */
  becomeMerged(): Conv2d {
    if (this.merged) return this.merged;
    this.removeChild('lkb_origin');
    this.removeChild('small_conv');
    this.origin = this.small = null;
    this.merged = this.child(
      'lkb_reparam',
      new Conv2d(this.channels, this.channels, this.kernelSize, {
        padding: this.kernelSize >> 1,
        groups: this.channels,
        bias: true,
      }),
    );
    return this.merged;
  }

  /** The depthwise kernel the block applies (merged or large branch). */
  get largeConv(): Conv2d {
    return this.merged ?? (this.origin as ConvBN).conv;
  }
}

/** BN -> 1x1 conv-BN-ReLU -> large depthwise conv(+small) -> ReLU -> 1x1 conv-BN, plus the input. */
class RepLKBlock extends Layer {
  readonly prelkbBn: BatchNorm2d;
  readonly pw1: ConvBN;
  readonly largeKernel: ReparamLargeKernelConv;
  readonly pw2: ConvBN;
  readonly dropPath: DropPath;

  constructor(channels: number, dwChannels: number, kernelSize: number, smallKernel: number | null, dropPath: number) {
    super();
    this.pw1 = this.child('pw1', new ConvBN(channels, dwChannels, 1, { relu: true }));
    this.pw2 = this.child('pw2', new ConvBN(dwChannels, channels, 1));
    this.largeKernel = this.child('large_kernel', new ReparamLargeKernelConv(dwChannels, kernelSize, smallKernel));
    this.prelkbBn = this.child('prelkb_bn', new BatchNorm2d(channels));
    this.dropPath = this.child('drop_path', new DropPath(dropPath));
  }

  forward(x: Tensor): Tensor {
    const y = ops.relu(this.largeKernel.forward(this.pw1.forward(x, this.prelkbBn)));
    return ops.add(x, this.dropPath.forward(this.pw2.forward(y)));
  }
}

/** BN -> 1x1 conv-BN (C -> ffnRatio C) -> GELU -> 1x1 conv-BN, plus the input. */
class ConvFFN extends Layer {
  readonly preffnBn: BatchNorm2d;
  readonly pw1: ConvBN;
  readonly pw2: ConvBN;
  readonly dropPath: DropPath;

  constructor(channels: number, hidden: number, dropPath: number) {
    super();
    this.preffnBn = this.child('preffn_bn', new BatchNorm2d(channels));
    this.pw1 = this.child('pw1', new ConvBN(channels, hidden, 1));
    this.pw2 = this.child('pw2', new ConvBN(hidden, channels, 1));
    this.dropPath = this.child('drop_path', new DropPath(dropPath));
  }

  forward(x: Tensor): Tensor {
    return ops.add(x, this.dropPath.forward(this.pw2.forward(ops.gelu(this.pw1.forward(x, this.preffnBn)))));
  }
}

/** A stage: `blocks` alternating RepLK and ConvFFN blocks. */
class RepLKNetStage extends Module {
  readonly blocks: Sequence;

  /** `dropPaths`: one rate per RepLK/ConvFFN pair, as the official code assigns them. */
  constructor(channels: number, numBlocks: number, kernelSize: number, c: RepLKNetConfig, dropPaths: number[]) {
    super();
    const blocks: Layer[] = [];
    for (let i = 0; i < numBlocks; i++) {
      blocks.push(new RepLKBlock(channels, Math.trunc(channels * c.dwRatio), kernelSize, c.smallKernel, dropPaths[i]));
      blocks.push(new ConvFFN(channels, Math.trunc(channels * c.ffnRatio), dropPaths[i]));
    }
    this.blocks = this.child('blocks', new Sequence(blocks));
  }
}

export class RepLKNet extends ImageClassifier {
  readonly config: RepLKNetConfig;
  readonly stem: Sequence<ConvBN>;
  readonly stages: RepLKNetStage[];
  readonly transitions: Sequence<ConvBN>[];
  readonly norm: BatchNorm2d;
  readonly head: Linear;

  constructor(config: RepLKNetConfig, mean: Triple, std: Triple) {
    super(config.numClasses, mean, std);
    this.config = checkConfig(config);
    const { channels: ch, layers, kernelSizes } = config;
    const c0 = ch[0];
    const stemStride = config.stemStride ?? 4;
    this.stem = this.child(
      'stem',
      new Sequence([
        new ConvBN(3, c0, 3, { stride: stemStride >= 2 ? 2 : 1, padding: 1, relu: true }),
        new ConvBN(c0, c0, 3, { padding: 1, groups: c0, relu: true }),
        new ConvBN(c0, c0, 1, { relu: true }),
        new ConvBN(c0, c0, 3, { stride: stemStride === 4 ? 2 : 1, padding: 1, groups: c0, relu: true }),
      ]),
    );
    const rates = dropPathRates(
      config.dropPathRate ?? 0,
      layers.reduce((a, b) => a + b, 0),
    );
    const stages = this.child('stages', new ModuleList());
    const transitions = this.child('transitions', new ModuleList());
    this.stages = [];
    this.transitions = [];
    for (let i = 0; i < layers.length; i++) {
      const first = layers.slice(0, i).reduce((a, b) => a + b, 0);
      this.stages.push(
        stages.add(new RepLKNetStage(ch[i], layers[i], kernelSizes[i], config, rates.slice(first, first + layers[i]))),
      );
      if (i < layers.length - 1)
        this.transitions.push(
          transitions.add(
            new Sequence([
              new ConvBN(ch[i], ch[i + 1], 1, { relu: true }),
              new ConvBN(ch[i + 1], ch[i + 1], 3, { stride: 2, padding: 1, groups: ch[i + 1], relu: true }),
            ]),
          ),
        );
    }
    this.norm = this.child('norm', new BatchNorm2d(ch[ch.length - 1]));
    this.head = this.child('head', new Linear(ch[ch.length - 1], config.numClasses));
  }

  blockNames(): string[] {
    const names = ['stem'];
    this.stages.forEach((s, i) => {
      s.blocks.items.forEach((_, j) => names.push(`stages.${i}.blocks.${j}`));
      if (i < this.transitions.length) names.push(`transitions.${i}`);
    });
    return names;
  }

  override skippableBlocks(): string[] {
    return this.blockNames().filter((n) => n.startsWith('stages.'));
  }

  protected forwardNormalized(x: Tensor, ctx: ForwardContext): Tensor {
    let y = ctx.block('stem', x, (v) => this.stem.forward(v));
    this.stages.forEach((stage, i) => {
      stage.blocks.items.forEach((blk, j) => {
        y = ctx.block(`stages.${i}.blocks.${j}`, y, (v) => blk.forward(v));
      });
      if (i < this.transitions.length) y = ctx.block(`transitions.${i}`, y, (v) => this.transitions[i].forward(v));
    });
    y = ops.globalAvgPool2d(this.norm.forward(y));
    return this.head.forward(y);
  }

  private largeKernelConvs(): ReparamLargeKernelConv[] {
    return [...this.namedModules()]
      .map(([, m]) => m)
      .filter((m): m is ReparamLargeKernelConv => m instanceof ReparamLargeKernelConv);
  }

  /** Structural re-parameterisation for inference: merges every small kernel into its large one
   * (the state dict then holds `lkb_reparam.*`, as the official merged checkpoints). Outputs are
   * unchanged up to rounding. (The other conv-BN pairs fold by themselves in eval mode.) */
  reparam(): this {
    for (const lk of this.largeKernelConvs()) lk.merge();
    return this;
  }

  get isReparameterized(): boolean {
    return this.largeKernelConvs().every((lk) => lk.isMerged);
  }

  /** Loads official checkpoints in either form: a merged one (`lkb_reparam.*` keys) switches the
   * large-kernel branches to their merged structure first. */
  override loadStateDict(state: StateDictLike, options: { strict?: boolean } = {}): LoadReport {
    const keys = state instanceof Map ? [...state.keys()] : Object.keys(state);
    if (keys.some((k) => k.includes('.lkb_reparam.'))) for (const lk of this.largeKernelConvs()) lk.becomeMerged();
    return super.loadStateDict(state, options);
  }
}

function checkConfig(c: RepLKNetConfig): RepLKNetConfig {
  const n = c.layers.length;
  const ints = (name: string, v: unknown, min: number) => {
    if (!Array.isArray(v) || v.length !== n || v.some((e) => !Number.isInteger(e) || e < min))
      throw new RangeError(
        `RepLKNet: ${name} must be ${n} integers >= ${min} (one per stage), got ${JSON.stringify(v)}`,
      );
  };
  ints('layers', c.layers, 0);
  ints('channels', c.channels, 1);
  ints('kernelSizes', c.kernelSizes, 1);
  if (c.kernelSizes.some((k) => k % 2 === 0 || k > MAX_DEPTHWISE_KERNEL))
    throw new RangeError(
      `RepLKNet: kernelSizes must be odd and at most ${MAX_DEPTHWISE_KERNEL}, got ${JSON.stringify(c.kernelSizes)}`,
    );
  if (c.smallKernel !== null) {
    if (!Number.isInteger(c.smallKernel) || c.smallKernel < 1 || c.smallKernel % 2 === 0)
      throw new RangeError(
        `RepLKNet: smallKernel must be an odd positive integer or null, got ${String(c.smallKernel)}`,
      );
    const over = c.kernelSizes.filter((k) => k < (c.smallKernel as number));
    if (over.length)
      throw new RangeError(
        `RepLKNet: smallKernel ${c.smallKernel} must not exceed the large kernels, got kernelSizes ${JSON.stringify(c.kernelSizes)} (use smallKernel: null)`,
      );
  }
  if (!(c.dwRatio > 0) || !(c.ffnRatio > 0))
    throw new RangeError(`RepLKNet: dwRatio and ffnRatio must be positive, got ${c.dwRatio}, ${c.ffnRatio}`);
  if (!Number.isInteger(c.numClasses) || c.numClasses < 1)
    throw new RangeError(`RepLKNet: numClasses must be a positive integer, got ${String(c.numClasses)}`);
  if (c.stemStride !== undefined && c.stemStride !== 1 && c.stemStride !== 2 && c.stemStride !== 4)
    throw new RangeError(`RepLKNet: stemStride must be 1, 2 or 4, got ${String(c.stemStride)}`);
  if (
    c.dropPathRate !== undefined &&
    !(typeof c.dropPathRate === 'number' && c.dropPathRate >= 0 && c.dropPathRate < 1)
  )
    throw new RangeError(`RepLKNet: dropPathRate must be a number in [0, 1), got ${String(c.dropPathRate)}`);
  return c;
}
