// Normalisation (PyTorch semantics): BatchNorm, LayerNorm, GroupNorm, channels-first LayerNorm
// (kernels in native/cpu/norm.cc) and weight standardisation (TypeScript). Each backward
// computes only the gradients its inputs need (attacks want the input gradient alone).
import { Tensor, BackwardFn, record, numel, shapeString } from '../tensor';
import { backendOf, Backend, Storage } from '../device';
import { checkTensor, checkRank, checkInt, checkNumber, checkOptions, describe } from '../check';

// ---- shared argument checks ------------------------------------------------------------------

/** An optional per-channel parameter (weight, bias, running stats): absent (undefined / null)
 * or a Tensor of shape [C]. `what` says where C comes from, for the message. */
function checkChannelParam(op: string, name: string, v: unknown, C: number, what: string): Tensor | null {
  if (v === undefined || v === null) return null;
  checkTensor(op, name, v);
  if (v.ndim !== 1 || v.shape[0] !== C)
    throw new RangeError(`${op}: ${name} must have shape [C] with C = ${C} (${what}), got ${shapeString(v.shape)}`);
  return v;
}

function checkBool(op: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${op}: ${name} must be a boolean, got ${describe(v)}`);
  return v;
}

function checkEps(op: string, v: unknown): number {
  return checkNumber(op, 'eps', v, { min: 0 });
}

/** Records an op whose differentiable inputs are x plus the present affine parameters; the
 * backward gets (gradOut, wants gx, wants gweight, wants gbias) and returns [gx, gweight, gbias]. */
function recordAffine(
  op: string,
  out: Storage,
  shape: readonly number[],
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  backward: (g: Storage, wantX: boolean, wantW: boolean, wantB: boolean) => (Storage | null)[],
): Tensor {
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  const slot = (t: Tensor | null) => (t ? inputs.indexOf(t) : -1);
  const iw = slot(weight),
    ib = slot(bias);
  const bw: BackwardFn<Storage> = (g, needs) => {
    const [gx, gw, gb] = backward(g, needs[0], iw >= 0 && needs[iw], ib >= 0 && needs[ib]);
    const res: (Storage | null)[] = [gx];
    if (iw >= 0) res.push(gw);
    if (ib >= 0) res.push(gb);
    return res;
  };
  return record<Storage>(op, out, shape, inputs, bw);
}

const maybe = (dev: Backend, want: boolean, n: number) => (want ? dev.empty(n) : null);

// ---- normalisation ------------------------------------------------------------------------------

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/** BatchNorm over x [N, C, H, W], like F.batch_norm. Inference (training = false, the default)
 * normalises with the running statistics, which are then required. Training normalises with the
 * batch statistics (biased variance) and, when running stats are given, updates them in place:
 * r = (1 - momentum) r + momentum * batch stat (unbiased variance for runningVar). */
export function batchNorm2d(x: Tensor, options?: BatchNormOptions): Tensor {
  const op = 'batchNorm2d';
  checkRank(op, 'x', x, 4, '[N, C, H, W]');
  const o = checkOptions(op, options, ['weight', 'bias', 'runningMean', 'runningVar', 'training', 'momentum', 'eps']);
  const [N, C, H, W] = x.shape;
  const what = 'channels of x';
  const weight = checkChannelParam(op, 'weight', o.weight, C, what);
  const bias = checkChannelParam(op, 'bias', o.bias, C, what);
  const runningMean = checkChannelParam(op, 'runningMean', o.runningMean, C, what);
  const runningVar = checkChannelParam(op, 'runningVar', o.runningVar, C, what);
  const training = o.training === undefined ? false : checkBool(op, 'training', o.training);
  const momentum = o.momentum === undefined ? 0.1 : checkNumber(op, 'momentum', o.momentum, { min: 0, max: 1 });
  const eps = o.eps === undefined ? 1e-5 : checkEps(op, o.eps);
  if (!runningMean !== !runningVar)
    throw new TypeError(
      `${op}: runningMean and runningVar must be given together (got only ${runningMean ? 'runningMean' : 'runningVar'})`,
    );
  if (!training && !runningMean)
    throw new TypeError(
      `${op}: runningMean and runningVar are required when training is false (inference uses the running statistics)`,
    );
  const S = H * W;
  if (training && N * S <= 1)
    throw new RangeError(
      `${op}: training needs more than one value per channel, got x of shape ${shapeString(x.shape)}`,
    );

  const dev = backendOf(op, x, weight, bias, runningMean, runningVar);
  const y = dev.empty(x.size);
  const mean = dev.empty(C),
    rstd = dev.empty(C);
  dev.native.batchNorm2dForward(
    x.storage,
    N,
    C,
    S,
    weight?.storage ?? null,
    bias?.storage ?? null,
    training,
    eps,
    momentum,
    runningMean?.storage ?? null,
    runningVar?.storage ?? null,
    y,
    mean,
    rstd,
  );
  return recordAffine(op, y, x.shape, x, weight, bias, (g, wantX, wantW, wantB) => {
    const gx = maybe(dev, wantX, x.size),
      gw = maybe(dev, wantW, C),
      gb = maybe(dev, wantB, C);
    dev.native.batchNorm2dBackward(x.storage, g, N, C, S, weight?.storage ?? null, mean, rstd, training, gx, gw, gb);
    return [gx, gw, gb];
  });
}

/** Statistics over contiguous spans (GroupNorm; LayerNorm is one group with S = 1). */
function groupNormCore(
  op: string,
  x: Tensor,
  N: number,
  C: number,
  S: number,
  G: number,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
): Tensor {
  const dev = backendOf(op, x, weight, bias);
  const y = dev.empty(x.size);
  const mean = dev.empty(N * G),
    rstd = dev.empty(N * G);
  dev.native.groupNormForward(
    x.storage,
    N,
    C,
    S,
    G,
    weight?.storage ?? null,
    bias?.storage ?? null,
    eps,
    y,
    mean,
    rstd,
  );
  return recordAffine(op, y, x.shape, x, weight, bias, (g, wantX, wantW, wantB) => {
    const gx = maybe(dev, wantX, x.size),
      gw = maybe(dev, wantW, C),
      gb = maybe(dev, wantB, C);
    dev.native.groupNormBackward(x.storage, g, N, C, S, G, weight?.storage ?? null, mean, rstd, gx, gw, gb);
    return [gx, gw, gb];
  });
}

/** LayerNorm over the last dimension D (weight, bias: [D]), like F.layer_norm(x, [D]). */
export function layerNorm(x: Tensor, weight?: Tensor | null, bias?: Tensor | null, options?: { eps?: number }): Tensor {
  const op = 'layerNorm';
  checkTensor(op, 'x', x);
  if (x.ndim < 1) throw new RangeError(`${op}: x must have at least 1 dimension, got shape ${shapeString(x.shape)}`);
  const o = checkOptions(op, options, ['eps']);
  const D = x.shape[x.ndim - 1];
  const w = checkChannelParam(op, 'weight', weight, D, 'last dim of x');
  const b = checkChannelParam(op, 'bias', bias, D, 'last dim of x');
  const eps = o.eps === undefined ? 1e-5 : checkEps(op, o.eps);
  return groupNormCore(op, x, D === 0 ? 0 : x.size / D, D, 1, 1, w, b, eps);
}

/** GroupNorm of x [N, C, ...] with numGroups groups dividing C (weight, bias: [C]). */
export function groupNorm(
  x: Tensor,
  numGroups: number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  options?: { eps?: number },
): Tensor {
  const op = 'groupNorm';
  checkTensor(op, 'x', x);
  if (x.ndim < 2) throw new RangeError(`${op}: x must have shape [N, C, ...], got ${shapeString(x.shape)}`);
  const o = checkOptions(op, options, ['eps']);
  const [N, C] = x.shape;
  const G = checkInt(op, 'numGroups', numGroups, 1, Math.max(C, 1));
  if (C % G !== 0) throw new RangeError(`${op}: numGroups must divide the channels of x (C = ${C}), got ${G}`);
  const w = checkChannelParam(op, 'weight', weight, C, 'channels of x');
  const b = checkChannelParam(op, 'bias', bias, C, 'channels of x');
  const eps = o.eps === undefined ? 1e-5 : checkEps(op, o.eps);
  return groupNormCore(op, x, N, C, numel(x.shape.slice(2)), G, w, b, eps);
}

/** Channels-first LayerNorm of x [N, C, H, W]: normalises the C values at each pixel
 * (ConvNeXt's LayerNorm2d; weight, bias: [C]). */
export function layerNorm2d(
  x: Tensor,
  weight?: Tensor | null,
  bias?: Tensor | null,
  options?: { eps?: number },
): Tensor {
  const op = 'layerNorm2d';
  checkRank(op, 'x', x, 4, '[N, C, H, W]');
  const o = checkOptions(op, options, ['eps']);
  const [N, C, H, W] = x.shape;
  const w = checkChannelParam(op, 'weight', weight, C, 'channels of x');
  const b = checkChannelParam(op, 'bias', bias, C, 'channels of x');
  const eps = o.eps === undefined ? 1e-6 : checkEps(op, o.eps);
  const S = H * W;
  const dev = backendOf(op, x, w, b);
  const y = dev.empty(x.size);
  const mean = dev.empty(N * S),
    rstd = dev.empty(N * S);
  dev.native.layerNorm2dForward(x.storage, N, C, S, w?.storage ?? null, b?.storage ?? null, eps, y, mean, rstd);
  return recordAffine(op, y, x.shape, x, w, b, (g, wantX, wantW, wantB) => {
    const gx = maybe(dev, wantX, x.size),
      gw = maybe(dev, wantW, C),
      gb = maybe(dev, wantB, C);
    dev.native.layerNorm2dBackward(x.storage, g, N, C, S, w?.storage ?? null, mean, rstd, gx, gw, gb);
    return [gx, gw, gb];
  });
}

/** Weight standardisation (BiT's StdConv2d): each output filter w[o] of w [O, ...] becomes
 * (w[o] - mean) / sqrt(var + eps) with the biased variance, as timm computes it. Runs in
 * TypeScript with float64 sums: weights are small next to activations. */
export function weightStandardize(w: Tensor, eps = 1e-6): Tensor {
  const op = 'weightStandardize';
  checkTensor(op, 'w', w);
  if (w.ndim < 2 || w.size === 0)
    throw new RangeError(`${op}: w must have shape [O, ...] with no empty dimension, got ${shapeString(w.shape)}`);
  checkEps(op, eps);
  // Weights are small: on CUDA, standardise a host copy and move the result back (differentiably).
  if (w.device !== 'cpu') return weightStandardize(w.to('cpu'), eps).to(w.device);
  const O = w.shape[0],
    K = w.size / O;
  const y = new Float32Array(w.size);
  const rstd = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    const row = w.data.subarray(o * K, (o + 1) * K);
    let s = 0;
    for (let i = 0; i < K; i++) s += row[i];
    const mean = s / K;
    let v = 0;
    for (let i = 0; i < K; i++) v += (row[i] - mean) * (row[i] - mean);
    rstd[o] = 1 / Math.sqrt(v / K + eps);
    for (let i = 0; i < K; i++) y[o * K + i] = (row[i] - mean) * rstd[o];
  }
  return record(op, y, w.shape, [w], (g) => {
    const gw = new Float32Array(w.size);
    for (let o = 0; o < O; o++) {
      let sg = 0,
        sgy = 0;
      for (let i = 0; i < K; i++) {
        sg += g[o * K + i];
        sgy += g[o * K + i] * y[o * K + i];
      }
      for (let i = 0; i < K; i++) gw[o * K + i] = rstd[o] * (g[o * K + i] - sg / K - y[o * K + i] * (sgy / K));
    }
    return [gw];
  });
}
