// MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019) as timm's Mixup class does them: the batch
// is mixed with its flip (sample i with sample N-1-i), lambda ~ Beta(alpha, alpha); CutMix pastes a
// box with sides sqrt(1 - lambda) of the image's, centred uniformly, clipped to the image, and
// corrects lambda to the area actually kept (correctLam); with both on, `switchProb` picks CutMix;
// `prob` is the chance to mix at all. Modes: 'batch' (one draw per batch), 'pair' (per pair),
// 'elem' (per sample). Targets are timm's mixup_target: smoothed one-hots of y and of flip(y)
// weighted by lambda and 1 - lambda; the loss is the soft-target cross-entropy.
import { Tensor } from '../../tensor/tensor';
import * as ops from '../../tensor/ops';
import type { Rng } from '../../tensor/random';
import { checkOneOf } from '../../tensor/check';
import { batchDims, checkNumber } from './image';
import { beta, randint } from './sample';

export type MixMode = 'batch' | 'pair' | 'elem';

export interface MixupSpec {
  name: 'mixup';
  /** Beta(alpha, alpha) of MixUp (default 0.8, DeiT's --mixup). */
  alpha?: number;
  /** Chance to mix a batch (pair, sample in the other modes); default 1. */
  prob?: number;
  /** With CutMix on too: the chance to take CutMix (default 0.5). */
  switchProb?: number;
  mode?: MixMode;
}

export interface CutmixSpec {
  name: 'cutmix';
  /** Beta(alpha, alpha) of CutMix (default 1.0, DeiT's --cutmix). */
  alpha?: number;
  /** Box sides uniform in [min, max] of the image's instead of from lambda (timm's cutmix_minmax). */
  minMax?: [number, number] | null;
  /** Lambda from the box's clipped area (default true, timm's Mixup default). */
  correctLam?: boolean;
  prob?: number;
  switchProb?: number;
  mode?: MixMode;
}

/** Both halves merged: timm's Mixup(mixup_alpha, cutmix_alpha, cutmix_minmax, prob, switch_prob, mode, correct_lam). */
export interface CheckedMix {
  name: 'mix';
  mixupAlpha: number;
  cutmixAlpha: number;
  minMax: [number, number] | null;
  prob: number;
  switchProb: number;
  mode: MixMode;
  correctLam: boolean;
}

/** Merges the mixup and cutmix specs of a pipeline into one mixer (shared options must agree). */
export function checkMix(fn: string, specs: Record<string, unknown>[]): CheckedMix {
  const m: CheckedMix = {
    name: 'mix',
    mixupAlpha: 0,
    cutmixAlpha: 0,
    minMax: null,
    prob: 1,
    switchProb: 0.5,
    mode: 'batch',
    correctLam: true,
  };
  const set: Record<string, unknown> = {};
  for (const s of specs) {
    const at = (k: string) => `augment ${String(s.name)}.${k}`;
    const known =
      s.name === 'mixup'
        ? ['name', 'alpha', 'prob', 'switchProb', 'mode']
        : ['name', 'alpha', 'minMax', 'correctLam', 'prob', 'switchProb', 'mode'];
    for (const k of Object.keys(s))
      if (!known.includes(k))
        throw new TypeError(
          `${fn}: unknown option '${k}' of augment ${String(s.name)} (known: ${known.slice(1).join(', ')})`,
        );
    const alpha = s.alpha === undefined ? (s.name === 'mixup' ? 0.8 : 1) : checkNumber(fn, at('alpha'), s.alpha, 0);
    if (!(alpha > 0))
      throw new RangeError(
        `${fn}: ${at('alpha')} must be > 0 (leave the spec out to turn ${String(s.name)} off), got ${alpha}`,
      );
    if (s.name === 'mixup') m.mixupAlpha = alpha;
    else m.cutmixAlpha = alpha;
    for (const k of ['prob', 'switchProb', 'mode'] as const) {
      if (s[k] === undefined) continue;
      if (k === 'mode') checkOneOf(fn, at('mode'), s.mode, ['batch', 'pair', 'elem']);
      if (k !== 'mode') checkNumber(fn, at(k), s[k], 0, 1);
      if (k in set && set[k] !== s[k])
        throw new RangeError(
          `${fn}: mixup and cutmix give different ${k} (${JSON.stringify(set[k])} and ${JSON.stringify(s[k])}); they share one mixer`,
        );
      set[k] = s[k];
    }
    if (s.minMax !== undefined && s.minMax !== null) {
      const mm = s.minMax as unknown[];
      if (!Array.isArray(mm) || mm.length !== 2)
        throw new TypeError(
          `${fn}: ${at('minMax')} must be [min, max] fractions of the image side, got ${JSON.stringify(s.minMax)}`,
        );
      const lo = checkNumber(fn, `${at('minMax')}[0]`, mm[0], 0, 1),
        hi = checkNumber(fn, `${at('minMax')}[1]`, mm[1], lo, 1);
      m.minMax = [lo, hi];
    }
    if (s.correctLam !== undefined) {
      if (typeof s.correctLam !== 'boolean')
        throw new TypeError(`${fn}: ${at('correctLam')} must be true or false, got ${JSON.stringify(s.correctLam)}`);
      m.correctLam = s.correctLam;
    }
  }
  return { ...m, ...set } as CheckedMix;
}

export interface CutmixBox {
  /** Rows [yl, yh) and columns [xl, xh) taken from the partner. */
  yl: number;
  yh: number;
  xl: number;
  xh: number;
  /** Lambda after correction (the share of the sample's own pixels), or the drawn one. */
  lam: number;
}

/** timm's cutmix_bbox_and_lam (rand_bbox, or rand_bbox_minmax with `minMax`). */
export function cutmixBox(
  H: number,
  W: number,
  lam: number,
  rng: Rng,
  minMax: [number, number] | null = null,
  correctLam = true,
): CutmixBox {
  let yl: number, yh: number, xl: number, xh: number;
  if (minMax) {
    const ch = randint(rng, Math.trunc(H * minMax[0]), Math.trunc(H * minMax[1]));
    const cw = randint(rng, Math.trunc(W * minMax[0]), Math.trunc(W * minMax[1]));
    yl = randint(rng, 0, H - ch);
    xl = randint(rng, 0, W - cw);
    yh = yl + ch;
    xh = xl + cw;
  } else {
    const ratio = Math.sqrt(1 - lam),
      ch = Math.trunc(H * ratio),
      cw = Math.trunc(W * ratio);
    const cy = randint(rng, 0, H),
      cx = randint(rng, 0, W);
    const clip = (v: number, n: number) => Math.min(n, Math.max(0, v));
    yl = clip(cy - Math.floor(ch / 2), H);
    yh = clip(cy + Math.floor(ch / 2), H);
    xl = clip(cx - Math.floor(cw / 2), W);
    xh = clip(cx + Math.floor(cw / 2), W);
  }
  if (correctLam || minMax) lam = 1 - ((yh - yl) * (xh - xl)) / (H * W);
  return { yl, yh, xl, xh, lam };
}

interface MixParams {
  lam: number;
  cutmix: boolean;
}

// timm's _params_per_batch (one draw) and, per element, _params_per_elem.
function mixParams(m: CheckedMix, rng: Rng): MixParams {
  if (!(rng.uniform() < m.prob)) return { lam: 1, cutmix: false };
  const cutmix = m.mixupAlpha > 0 && m.cutmixAlpha > 0 ? rng.uniform() < m.switchProb : m.cutmixAlpha > 0;
  const alpha = cutmix ? m.cutmixAlpha : m.mixupAlpha;
  return { lam: beta(rng, alpha, alpha), cutmix };
}

export interface MixResult {
  x: Tensor;
  /** Per sample: the weight of its own label in the target. */
  lam: Float64Array;
  /** Per sample: whether CutMix (not MixUp) mixed it. */
  cutmix: boolean[];
  /** Soft targets [N, K]. */
  targets: Tensor;
}

/** timm's mixup_target: lam * smooth(onehot(y)) + (1 - lam) * smooth(onehot(flip(y))). */
export function mixupTarget(y: Int32Array, numClasses: number, lam: ArrayLike<number>, smoothing: number): Tensor {
  const N = y.length,
    K = numClasses,
    off = smoothing / K,
    on = 1 - smoothing + off;
  const t = new Float32Array(N * K);
  for (let i = 0; i < N; i++) {
    const a = y[i],
      b = y[N - 1 - i],
      l = lam[i];
    for (let k = 0; k < K; k++) t[i * K + k] = l * (k === a ? on : off) + (1 - l) * (k === b ? on : off);
  }
  return new Tensor(t, [N, K]);
}

/** Mixes x [N, C, H, W] (N even) with its flip, as timm's Mixup.__call__. */
export function mixBatch(
  m: CheckedMix,
  x: Tensor,
  y: Int32Array,
  numClasses: number,
  smoothing: number,
  rng: Rng,
): MixResult {
  const [N, C, H, W] = batchDims('mixBatch', x),
    HW = H * W,
    size = C * HW;
  if (N % 2 !== 0)
    throw new RangeError(
      `mixBatch: mixup/cutmix pair each sample with the batch's flip; the batch size must be even, got ${N}`,
    );
  const src = x.data,
    out = src.slice();
  const lam = new Float64Array(N).fill(1),
    cutmix = new Array<boolean>(N).fill(false);
  // Sample i takes from partner j (flip); the box or lambda of each pair of (i, j) are set below.
  const blend = (i: number, j: number, l: number) => {
    const a = src.subarray(i * size, (i + 1) * size),
      b = src.subarray(j * size, (j + 1) * size),
      o = out.subarray(i * size, (i + 1) * size);
    for (let e = 0; e < size; e++) o[e] = a[e] * l + b[e] * (1 - l);
  };
  const paste = (i: number, j: number, b: CutmixBox) => {
    for (let c = 0; c < C; c++)
      for (let r = b.yl; r < b.yh; r++) {
        const o = c * HW + r * W;
        out.set(src.subarray(j * size + o + b.xl, j * size + o + b.xh), i * size + o + b.xl);
      }
  };
  const mixOne = (i: number, p: MixParams, both: boolean) => {
    if (p.lam === 1) return;
    const j = N - 1 - i;
    if (p.cutmix) {
      const b = cutmixBox(H, W, p.lam, rng, m.minMax, m.correctLam);
      paste(i, j, b);
      if (both) paste(j, i, b);
      lam[i] = b.lam;
    } else {
      blend(i, j, p.lam);
      if (both) blend(j, i, p.lam);
      lam[i] = p.lam;
    }
    cutmix[i] = p.cutmix;
    if (both) {
      lam[j] = lam[i];
      cutmix[j] = p.cutmix;
    }
  };
  if (m.mode === 'batch') {
    const p = mixParams(m, rng);
    if (p.lam !== 1) {
      if (p.cutmix) {
        const b = cutmixBox(H, W, p.lam, rng, m.minMax, m.correctLam);
        for (let i = 0; i < N; i++) paste(i, N - 1 - i, b);
        lam.fill(b.lam);
      } else {
        for (let i = 0; i < N; i++) blend(i, N - 1 - i, p.lam);
        lam.fill(p.lam);
      }
      cutmix.fill(p.cutmix);
    }
  } else {
    // timm draws all parameters first (per pair: the first half), then the boxes in sample order.
    const n = m.mode === 'pair' ? N / 2 : N;
    const params = perElementParams(m, rng, n);
    for (let i = 0; i < n; i++) mixOne(i, params[i], m.mode === 'pair');
  }
  return { x: new Tensor(out, x.shape), lam, cutmix, targets: mixupTarget(y, numClasses, lam, smoothing) };
}

// timm's _params_per_elem: the switch draws, the lambdas, then the prob draws, each for all elements.
function perElementParams(m: CheckedMix, rng: Rng, n: number): MixParams[] {
  const both = m.mixupAlpha > 0 && m.cutmixAlpha > 0;
  const cut = Array.from({ length: n }, () => (both ? rng.uniform() < m.switchProb : m.cutmixAlpha > 0));
  const lams = cut.map((c) => (c ? m.cutmixAlpha : m.mixupAlpha)).map((a) => beta(rng, a, a));
  return lams.map((l, i) => (rng.uniform() < m.prob ? { lam: l, cutmix: cut[i] } : { lam: 1, cutmix: false }));
}

/** timm's SoftTargetCrossEntropy: mean over the batch of -sum_k t_k log softmax(z)_k. */
export function softTargetCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  if (
    logits.ndim !== 2 ||
    targets.ndim !== 2 ||
    logits.shape[0] !== targets.shape[0] ||
    logits.shape[1] !== targets.shape[1]
  )
    throw new RangeError(
      `softTargetCrossEntropy: logits and targets must both be [N, K], got [${logits.shape}] and [${targets.shape}]`,
    );
  return ops.scale(ops.sum(ops.mul(ops.logSoftmax(logits), targets)), -1 / logits.shape[0]);
}
