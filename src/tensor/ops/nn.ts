// Activations, softmax / cross-entropy and pooling (PyTorch semantics). The kernels are in
// native/cpu/nn.cc; each backward computes only the gradients its inputs need (attacks want the
// input gradient alone).
import { Tensor, record, numel, shapeString } from '../tensor';
import { backendOf, Storage, isHost, DeviceArray } from '../device';
import {
  checkTensor,
  checkRank,
  checkInt,
  checkNumber,
  checkPair,
  checkOptions,
  checkOneOf,
  checkOutput,
  describe,
  MAX_NUMEL,
} from '../check';
import { Pool2dGeometry } from '../../native';

// ---- activations --------------------------------------------------------------------------------

function unary(
  op: string,
  x: Tensor,
  forward: 'reluForward' | 'geluForward',
  backward: 'reluBackward' | 'geluBackward',
): Tensor {
  checkTensor(op, 'x', x);
  const dev = backendOf(op, x);
  const y = dev.empty(x.size);
  dev.native[forward](x.storage, y);
  return record<Storage>(op, y, x.shape, [x], (g) => {
    const gx = dev.empty(x.size);
    dev.native[backward](x.storage, g, gx);
    return [gx];
  });
}

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  return unary('relu', x, 'reluForward', 'reluBackward');
}

/** Exact (erf-based) GELU: x * Phi(x). */
export function gelu(x: Tensor): Tensor {
  return unary('gelu', x, 'geluForward', 'geluBackward');
}

// ---- softmax / cross-entropy ---------------------------------------------------------------------

function softmaxAlong(op: string, x: Tensor, dim: number, log: boolean): Tensor {
  checkTensor(op, 'x', x);
  if (x.ndim < 1) throw new RangeError(`${op}: x must have at least 1 dimension, got shape ${shapeString(x.shape)}`);
  const d0 = checkInt(op, 'dim', dim, -x.ndim, x.ndim - 1);
  const d = d0 < 0 ? d0 + x.ndim : d0;
  const outer = numel(x.shape.slice(0, d)),
    L = x.shape[d],
    inner = numel(x.shape.slice(d + 1));
  const dev = backendOf(op, x);
  const y = dev.empty(x.size);
  dev.native.softmaxForward(x.storage, outer, L, inner, log, y);
  return record<Storage>(op, y, x.shape, [x], (g) => {
    const gx = dev.empty(x.size);
    dev.native.softmaxBackward(y, g, outer, L, inner, log, gx);
    return [gx];
  });
}

/** Softmax along dim (default: the last), numerically stable. */
export function softmax(x: Tensor, dim = -1): Tensor {
  return softmaxAlong('softmax', x, dim, false);
}

/** log(softmax(x)) along dim (default: the last), computed as x - max - log(sum exp(x - max)). */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return softmaxAlong('logSoftmax', x, dim, true);
}

export type Reduction = 'mean' | 'sum' | 'none';

/** Cross-entropy of logits [N, K] against N class indices (Int32Array or number[]), with
 * optional label smoothing, like F.cross_entropy. 'mean' and 'sum' give a scalar (shape []),
 * 'none' the per-sample losses [N]. */
export function crossEntropy(
  logits: Tensor,
  labels: Int32Array | number[],
  options?: { reduction?: Reduction; labelSmoothing?: number },
): Tensor {
  const op = 'crossEntropy';
  checkRank(op, 'logits', logits, 2, '[N, K]');
  const o = checkOptions(op, options, ['reduction', 'labelSmoothing']);
  const [N, K] = logits.shape;
  if (K < 1) throw new RangeError(`${op}: logits must have at least one class, got shape ${shapeString(logits.shape)}`);
  const lab = checkLabels(op, labels, N, K);
  const reduction =
    o.reduction === undefined ? 'mean' : checkOneOf(op, 'reduction', o.reduction, ['mean', 'sum', 'none']);
  const smoothing =
    o.labelSmoothing === undefined ? 0 : checkNumber(op, 'labelSmoothing', o.labelSmoothing, { min: 0, max: 1 });

  const dev = backendOf(op, logits);
  const loss = dev.empty(N),
    lse = dev.empty(N);
  dev.native.crossEntropyForward(logits.storage, lab, N, K, smoothing, loss, lse);
  // The reduction runs on the host: N per-sample losses (the one copy back on CUDA; the loss is
  // read there anyway) summed in float64, as on the CPU.
  const lossHost = isHost(loss) ? loss : loss.download();
  let out: Storage;
  if (reduction === 'none') out = loss;
  else {
    let s = 0;
    for (let i = 0; i < N; i++) s += lossHost[i];
    out = toDevice(Float32Array.of(reduction === 'mean' ? s / N : s), dev.device);
  }
  return record<Storage>(op, out, reduction === 'none' ? [N] : [], [logits], (g) => {
    let gloss: Storage;
    if (reduction === 'none') gloss = g;
    else {
      const g0 = (isHost(g) ? g : g.download())[0];
      gloss = toDevice(new Float32Array(N).fill(reduction === 'mean' ? g0 / N : g0), dev.device);
    }
    const gx = dev.empty(logits.size);
    dev.native.crossEntropyBackward(logits.storage, lab, N, K, smoothing, lse, gloss, gx);
    return [gx];
  });
}

function toDevice(a: Float32Array, device: 'cpu' | 'cuda'): Storage {
  if (device === 'cpu') return a;
  const d = backendOf('toDevice', { device }).empty(a.length) as DeviceArray;
  d.upload(a);
  return d;
}

function checkLabels(op: string, labels: unknown, N: number, K: number): Int32Array {
  if (!(labels instanceof Int32Array) && !Array.isArray(labels))
    throw new TypeError(`${op}: labels must be an Int32Array or an array of class indices, got ${describe(labels)}`);
  if (labels.length !== N)
    throw new RangeError(`${op}: labels must hold N = ${N} class indices (rows of logits), got ${labels.length}`);
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const v: unknown = labels[i];
    if (typeof v !== 'number') throw new TypeError(`${op}: labels[${i}] must be a number, got ${describe(v)}`);
    if (!Number.isInteger(v) || v < 0 || v >= K)
      throw new RangeError(`${op}: labels[${i}] must be a class index in [0, ${K}), got ${v}`);
    out[i] = v;
  }
  return out;
}

// ---- pooling ------------------------------------------------------------------------------------

/** Mean over H, W of x [N, C, H, W] -> [N, C]. */
export function globalAvgPool2d(x: Tensor): Tensor {
  const op = 'globalAvgPool2d';
  checkRank(op, 'x', x, 4, '[N, C, H, W]');
  const [N, C, H, W] = x.shape;
  const dev = backendOf(op, x);
  const y = dev.empty(N * C);
  dev.native.globalAvgPool2dForward(x.storage, N * C, H * W, y);
  return record<Storage>(op, y, [N, C], [x], (g) => {
    const gx = dev.empty(x.size);
    dev.native.globalAvgPool2dBackward(g, N * C, H * W, gx);
    return [gx];
  });
}

export interface Pool2dOptions {
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
}

/** Validated geometry, as the native pooling calls take it after x: planes, H, W, kh, kw, sh, sw, ph, pw. */
function poolGeometry(op: string, x: Tensor, options: unknown): { args: Pool2dGeometry; outShape: number[] } {
  checkRank(op, 'x', x, 4, '[N, C, H, W]');
  if (options === undefined) throw new TypeError(`${op}: options with kernelSize are required`);
  const o = checkOptions(op, options, ['kernelSize', 'stride', 'padding']);
  if (o.kernelSize === undefined) throw new TypeError(`${op}: kernelSize is required`);
  const [kh, kw] = checkPair(op, 'kernelSize', o.kernelSize, 1, MAX_NUMEL);
  if (kh * kw > MAX_NUMEL)
    throw new RangeError(`${op}: kernelSize [${kh}, ${kw}] would cover ${kh * kw} values (limit 2^31 - 1)`);
  const [sh, sw] = o.stride === undefined ? [kh, kw] : checkPair(op, 'stride', o.stride, 1, MAX_NUMEL);
  const [ph, pw] = o.padding === undefined ? [0, 0] : checkPair(op, 'padding', o.padding, 0, MAX_NUMEL);
  if (ph > kh >> 1 || pw > kw >> 1)
    throw new RangeError(
      `${op}: padding must be at most half of kernelSize, got padding [${ph}, ${pw}] for kernelSize [${kh}, ${kw}]`,
    );
  const [N, C, H, W] = x.shape;
  if (H < 1 || W < 1 || H + 2 * ph < kh || W + 2 * pw < kw)
    throw new RangeError(
      `${op}: kernelSize [${kh}, ${kw}] does not fit x of shape ${shapeString(x.shape)} with padding [${ph}, ${pw}]`,
    );
  const OH = Math.floor((H + 2 * ph - kh) / sh) + 1,
    OW = Math.floor((W + 2 * pw - kw) / sw) + 1;
  checkOutput(
    op,
    'output',
    [N, C, OH, OW],
    `x ${shapeString(x.shape)} with kernelSize [${kh}, ${kw}], padding [${ph}, ${pw}]`,
  );
  return { args: [N * C, H, W, kh, kw, sh, sw, ph, pw], outShape: [N, C, OH, OW] };
}

/** Max pooling of x [N, C, H, W] (padding counts as -inf, output size as PyTorch with
 * ceil_mode = false); the gradient goes to the first maximum of each window. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  const { args, outShape } = poolGeometry('maxPool2d', x, options);
  const dev = backendOf('maxPool2d', x);
  const y = dev.empty(numel(outShape));
  const argmax = isHost(y) ? new Int32Array(y.length) : (dev.empty(y.length) as DeviceArray); // int32 on the device
  dev.native.maxPool2dForward(x.storage, ...args, y, argmax);
  return record<Storage>('maxPool2d', y, outShape, [x], (g) => {
    const gx = dev.empty(x.size);
    dev.native.maxPool2dBackward(g, argmax, ...args, gx);
    return [gx];
  });
}

/** Average pooling of x [N, C, H, W]; zero padding is counted (divisor kh * kw, PyTorch's
 * count_include_pad = true). */
export function avgPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  const { args, outShape } = poolGeometry('avgPool2d', x, options);
  const dev = backendOf('avgPool2d', x);
  const y = dev.empty(numel(outShape));
  dev.native.avgPool2dForward(x.storage, ...args, y);
  return record<Storage>('avgPool2d', y, outShape, [x], (g) => {
    const gx = dev.empty(x.size);
    dev.native.avgPool2dBackward(g, ...args, gx);
    return [gx];
  });
}
