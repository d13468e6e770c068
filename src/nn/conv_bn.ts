// conv -> BatchNorm (-> ReLU), the unit RepLKNet is built from (the official `conv_bn` /
// `conv_bn_relu`, whose children are named `conv` and `bn`). In eval mode with frozen weights it
// runs as one convolution with the BN folded into its weight and bias (the same function up to
// float rounding, one pass less); the folded copy is rebuilt after loads, mode changes and
// Module.weightsChanged().
import { Tensor } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { Layer } from './module';
import { BatchNorm2d, Conv2d, Conv2dOptions, conv2dWith } from './layers';

/** The BN folded into the conv: w' = w * s, b' = shift (+ conv bias * s), s = gamma / sqrt(var + eps). */
export function foldBatchNorm(conv: Conv2d, bn: BatchNorm2d): { weight: Tensor; bias: Tensor } {
  const { scale, shift } = bn.affine();
  const O = conv.outChannels, per = conv.weight.size / O;
  const w = new Float32Array(conv.weight.size), b = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < per; i++) w[o * per + i] = conv.weight.data[o * per + i] * scale[o];
    b[o] = shift[o] + (conv.bias ? conv.bias.data[o] * scale[o] : 0);
  }
  return { weight: new Tensor(w, conv.weight.shape), bias: new Tensor(b, [O]) };
}

export class ConvBN extends Layer {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  private folded: { weight: Tensor; bias: Tensor } | null = null;

  constructor(inChannels: number, outChannels: number, kernelSize: number, options: Conv2dOptions & { relu?: boolean } = {}) {
    super();
    const { relu, ...conv } = options;
    this.relu = relu ?? false;
    this.conv = this.child('conv', new Conv2d(inChannels, outChannels, kernelSize, { ...conv, bias: false }));
    this.bn = this.child('bn', new BatchNorm2d(outChannels));
  }

  readonly relu: boolean;

  /** The eval-mode conv weight and bias with the BN folded in. */
  foldedWeights(): { weight: Tensor; bias: Tensor } {
    return foldBatchNorm(this.conv, this.bn);
  }

  forward(x: Tensor): Tensor {
    let y: Tensor;
    if (!this.training && !this.conv.weight.requiresGrad && !this.bn.weight.requiresGrad) {
      this.folded ??= this.foldedWeights();
      y = conv2dWith(this.conv, x, this.folded.weight, this.folded.bias);
    } else {
      y = this.bn.forward(this.conv.forward(x));
    }
    return this.relu ? ops.relu(y) : y;
  }

  protected override stateChanged(): void {
    this.folded = null;
  }
}
