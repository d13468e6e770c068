// conv -> BatchNorm (-> ReLU), the unit RepLKNet is built from (the official `conv_bn` /
// `conv_bn_relu`, whose children are named `conv` and `bn`). In eval mode with frozen weights it
// runs as one convolution with the BN folded into its weight and bias (the same function up to
// float rounding, one pass less); the folded copy is rebuilt after loads, mode changes and
// Module.weightsChanged().
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Layer } from './module';
import { BatchNorm2d, Conv2d, Conv2dOptions, conv2dWith } from './layers';

/** The BN folded into the conv: w' = w * s, b' = shift (+ conv bias * s), s = gamma / sqrt(var + eps).
 * Computed on the host (weights are small) and placed on the conv's device. */
export function foldBatchNorm(conv: Conv2d, bn: BatchNorm2d): { weight: Tensor; bias: Tensor } {
  const f = foldHost(conv, bn);
  return { weight: f.weight.to(conv.weight.device), bias: f.bias.to(conv.weight.device) };
}

function foldHost(conv: Conv2d, bn: BatchNorm2d): { weight: Tensor; bias: Tensor } {
  const { scale, shift } = bn.affine();
  const O = conv.outChannels,
    per = conv.weight.size / O;
  const cw = conv.weight.toArray(),
    cb = conv.bias ? conv.bias.toArray() : null;
  const w = new Float32Array(conv.weight.size),
    b = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < per; i++) w[o * per + i] = cw[o * per + i] * scale[o];
    b[o] = shift[o] + (cb ? cb[o] * scale[o] : 0);
  }
  return { weight: new Tensor(w, conv.weight.shape), bias: new Tensor(b, [O]) };
}

export class ConvBN extends Layer {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  private folded: { weight: Tensor; bias: Tensor } | null = null;
  private foldedPre: BatchNorm2d | null = null;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    options: Conv2dOptions & { relu?: boolean } = {},
  ) {
    super();
    const { relu, ...conv } = options;
    this.relu = relu ?? false;
    this.conv = this.child('conv', new Conv2d(inChannels, outChannels, kernelSize, { ...conv, bias: false }));
    this.bn = this.child('bn', new BatchNorm2d(outChannels));
  }

  readonly relu: boolean;

  /** The eval-mode conv weight and bias with the BN folded in; with `pre`, also a BatchNorm
   * applied before this unit (pre y = s x + t per input channel): exact for a 1x1 convolution
   * without padding, W'[o, i] = W[o, i] s[i], b' = b + W t. */
  foldedWeights(pre: BatchNorm2d | null = null): { weight: Tensor; bias: Tensor } {
    if (!pre) return foldBatchNorm(this.conv, this.bn);
    const f = foldHost(this.conv, this.bn);
    const c = this.conv;
    if (c.kernelSize[0] !== 1 || c.kernelSize[1] !== 1 || c.groups !== 1 || c.padding[0] !== 0 || c.padding[1] !== 0)
      throw new Error('ConvBN: only a 1x1 convolution without padding can absorb a preceding BatchNorm');
    const { scale, shift } = pre.affine();
    const O = c.outChannels,
      I = c.inChannels;
    for (let o = 0; o < O; o++) {
      let b = f.bias.data[o];
      for (let i = 0; i < I; i++) {
        b += f.weight.data[o * I + i] * shift[i];
        f.weight.data[o * I + i] *= scale[i];
      }
      f.bias.data[o] = b;
    }
    const device = this.conv.weight.device;
    return { weight: f.weight.to(device), bias: f.bias.to(device) };
  }

  /** conv-BN(-ReLU) of x, or of pre(x) when a BatchNorm `pre` comes first (RepLKNet's prelkb_bn /
   * preffn_bn): in eval mode with frozen weights both BNs fold into one convolution. */
  forward(x: Tensor, pre: BatchNorm2d | null = null): Tensor {
    let y: Tensor;
    const frozen = !this.conv.weight.requiresGrad && !this.bn.weight.requiresGrad && !(pre && pre.weight.requiresGrad);
    if (!this.training && frozen) {
      if (!this.folded || this.foldedPre !== pre) {
        this.folded = this.foldedWeights(pre);
        this.foldedPre = pre;
      }
      y = conv2dWith(this.conv, x, this.folded.weight, this.folded.bias);
    } else {
      y = this.bn.forward(this.conv.forward(pre ? pre.forward(x) : x));
    }
    return this.relu ? ops.relu(y) : y;
  }

  protected override stateChanged(): void {
    this.folded = null;
  }
}
