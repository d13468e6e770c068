// Dense and grouped conv2d (native/cpu/conv.cc: im2col / direct / patch strategies over the
// blocked SGEMM); each gradient is its own native call.
import { Tensor, record, shapeString } from '../tensor';
import { backendOf, Storage } from '../device';
import { checkTensor, checkOptions, checkPair, checkInt, checkOutput, describe, MAX_NUMEL } from '../check';
import { Conv2dGeometry } from '../../native';

export interface Conv2dOptions {
  bias?: Tensor | null;
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

/** 2-D convolution (cross-correlation, as PyTorch): x [N, Cin, H, W], weight [Cout, Cin/groups, KH, KW]
 * -> [N, Cout, OH, OW] with OH = floor((H + 2*padH - dilH*(KH-1) - 1) / strideH) + 1. */
export function conv2d(x: Tensor, weight: Tensor, options?: Conv2dOptions): Tensor {
  const op = 'conv2d';
  const opts = checkOptions(op, options, ['bias', 'stride', 'padding', 'dilation', 'groups']);
  checkTensor(op, 'x', x);
  checkTensor(op, 'weight', weight);
  if (x.ndim !== 4) throw new RangeError(`${op}: x must be 4-D [N, Cin, H, W], got shape ${shapeString(x.shape)}`);
  const [n, cin, h, w] = x.shape;
  const groups = checkInt(op, 'groups', opts.groups ?? 1, 1, MAX_NUMEL);
  const [sh, sw] = checkPair(op, 'stride', opts.stride ?? 1, 1, MAX_NUMEL);
  const [ph, pw] = checkPair(op, 'padding', opts.padding ?? 0, 0, MAX_NUMEL);
  const [dh, dw] = checkPair(op, 'dilation', opts.dilation ?? 1, 1, MAX_NUMEL);
  if (cin % groups !== 0) throw new RangeError(`${op}: groups = ${groups} must divide the ${cin} channels of x`);
  const cg = cin / groups;
  if (weight.ndim !== 4 || weight.shape[1] !== cg)
    throw new RangeError(
      `${op}: weight must have shape [Cout, Cin/groups, KH, KW] = [*, ${cg}, *, *] for x with ${cin} channels and groups = ${groups}, got ${shapeString(weight.shape)}`,
    );
  const [cout, , kh, kw] = weight.shape;
  if (cout % groups !== 0)
    throw new RangeError(`${op}: groups = ${groups} must divide Cout = ${cout} (dim 0 of weight)`);
  const bias = opts.bias;
  const hasBias = bias !== undefined && bias !== null;
  if (hasBias) {
    if (!(bias instanceof Tensor)) throw new TypeError(`${op}: bias must be a Tensor, got ${describe(bias)}`);
    if (bias.ndim !== 1 || bias.shape[0] !== cout)
      throw new RangeError(`${op}: bias must have shape [${cout}] (Cout of weight), got ${shapeString(bias.shape)}`);
  }
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (!(oh >= 1 && ow >= 1) || n < 1 || cin < 1 || h < 1 || w < 1 || cout < 1 || kh < 1 || kw < 1)
    throw new RangeError(
      `${op}: output size would be [${n}, ${cout}, ${oh}, ${ow}] for x ${shapeString(x.shape)}, weight ${shapeString(weight.shape)}, ` +
        `stride [${sh}, ${sw}], padding [${ph}, ${pw}], dilation [${dh}, ${dw}]; every size must be >= 1`,
    );
  checkOutput(
    op,
    'output',
    [n, cout, oh, ow],
    `x ${shapeString(x.shape)} with padding [${ph}, ${pw}], stride [${sh}, ${sw}], dilation [${dh}, ${dw}]`,
  );
  const dims: Conv2dGeometry = [n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups];
  const dev = backendOf(op, x, weight, hasBias ? bias : null);
  const y = dev.empty(n * cout * oh * ow);
  dev.native.conv2dForward(x.storage, weight.storage, hasBias ? bias.storage : null, y, ...dims);
  const inputs = hasBias ? [x, weight, bias as Tensor] : [x, weight];
  return record<Storage>(op, y, [n, cout, oh, ow], inputs, (g, needs) => {
    let gx: Storage | null = null,
      gw: Storage | null = null,
      gb: Storage | null = null;
    if (needs[0]) {
      gx = dev.empty(x.size);
      dev.native.conv2dBackwardInput(g, weight.storage, gx, ...dims);
    }
    if (needs[1]) {
      gw = dev.empty(weight.size);
      dev.native.conv2dBackwardWeight(g, x.storage, gw, ...dims);
    }
    if (hasBias && needs[2]) {
      gb = dev.empty(cout);
      dev.native.conv2dBackwardBias(g, gb, n, cout, oh, ow);
    }
    return hasBias ? [gx, gw, gb] : [gx, gw];
  });
}
