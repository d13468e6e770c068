// Depthwise 2-D convolution (groups = channels), the large-kernel ConvNets' core op. The native
// kernels pick their own path (a blocked SIMD path for stride 1, plain loops otherwise).
import { Tensor, record, shapeString } from '../tensor';
import { backendOf, Storage } from '../device';
import { checkRank, checkTensor, checkPair, checkOptions, checkOutput } from '../check';
import { native, Dwconv2dGeometry } from '../../native';

export interface DepthwiseConv2dOptions {
  /** [C], added to every output channel. */
  bias?: Tensor | null;
  /** 1 or 2, or [strideH, strideW]. Default 1. */
  stride?: number | [number, number];
  /** Zero padding on each side, or [padH, padW]. Default 0. */
  padding?: number | [number, number];
}

const OP = 'depthwiseConv2d';
/** The largest kernel side (KH, KW) depthwiseConv2d takes, as the addon reports it (63). */
export const MAX_DEPTHWISE_KERNEL = native.maxDepthwiseKernel;
const MAX_KERNEL = MAX_DEPTHWISE_KERNEL;
const MAX_PADDING = native.maxDepthwisePadding;

/**
 * Depthwise conv2d like `F.conv2d(x, weight, bias, stride, padding, groups=C)`: x [N, C, H, W],
 * weight [C, 1, KH, KW] (KH, KW in 1..63) -> [N, C, OH, OW] with OH = floor((H + 2 padH - KH) / strideH) + 1.
 */
export function depthwiseConv2d(x: Tensor, weight: Tensor, options?: DepthwiseConv2dOptions): Tensor {
  checkRank(OP, 'x', x, 4, '[N, C, H, W]');
  checkRank(OP, 'weight', weight, 4, '[C, 1, KH, KW]');
  const opts = checkOptions(OP, options, ['bias', 'stride', 'padding']);
  const [N, C, H, W] = x.shape;
  const [KH, KW] = [weight.shape[2], weight.shape[3]];
  if (N < 1 || C < 1 || H < 1 || W < 1)
    throw new RangeError(`${OP}: x must have no empty dimension, got ${shapeString(x.shape)}`);
  if (weight.shape[0] !== C || weight.shape[1] !== 1)
    throw new RangeError(
      `${OP}: weight must have shape [C, 1, KH, KW] with C = ${C} (channels of x), got ${shapeString(weight.shape)}`,
    );
  if (KH < 1 || KH > MAX_KERNEL || KW < 1 || KW > MAX_KERNEL)
    throw new RangeError(
      `${OP}: kernel size KH, KW must be in [1, ${MAX_KERNEL}], got weight ${shapeString(weight.shape)}`,
    );
  const bias = opts.bias ?? null;
  if (bias !== null) {
    checkTensor(OP, 'bias', bias);
    if (bias.ndim !== 1 || bias.shape[0] !== C)
      throw new RangeError(
        `${OP}: bias must have shape [C] with C = ${C} (channels of x), got ${shapeString(bias.shape)}`,
      );
  }
  const [sh, sw] = opts.stride === undefined ? [1, 1] : checkPair(OP, 'stride', opts.stride, 1, 2);
  const [ph, pw] = opts.padding === undefined ? [0, 0] : checkPair(OP, 'padding', opts.padding, 0, MAX_PADDING);
  const OH = Math.floor((H + 2 * ph - KH) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - KW) / sw) + 1;
  if (OH < 1 || OW < 1)
    throw new RangeError(
      `${OP}: the output would be empty: input ${H}x${W} with padding [${ph}, ${pw}] is smaller than the kernel ${KH}x${KW}`,
    );

  checkOutput(OP, 'output', [N, C, OH, OW], `x ${shapeString(x.shape)} with padding [${ph}, ${pw}]`);
  const geometry: Dwconv2dGeometry = [N, C, H, W, KH, KW, sh, sw, ph, pw];
  const dev = backendOf(OP, x, weight, bias);
  const y = dev.empty(N * C * OH * OW);
  dev.native.dwconv2dForward(x.storage, weight.storage, bias ? bias.storage : null, y, ...geometry);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record<Storage>(OP, y, [N, C, OH, OW], inputs, (gradY, needs) => {
    let gradX: Storage | null = null;
    let gradWeight: Storage | null = null;
    let gradBias: Storage | null = null;
    if (needs[0]) {
      gradX = dev.empty(x.size);
      dev.native.dwconv2dBackwardInput(gradY, weight.storage, gradX, ...geometry);
    }
    if (needs[1]) {
      gradWeight = dev.empty(weight.size);
      dev.native.dwconv2dBackwardWeight(gradY, x.storage, gradWeight, ...geometry);
    }
    if (bias && needs[2]) {
      gradBias = dev.empty(C);
      dev.native.conv2dBackwardBias(gradY, gradBias, N, C, OH, OW); // per-channel sum, shared with conv2d
    }
    return bias ? [gradX, gradWeight, gradBias] : [gradX, gradWeight];
  });
}
