// FAB-T (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast adaptive boundary
// attack"), targeted, as AutoAttack's standard ensemble runs it (fab_base.py attack_single_run_targeted,
// fab_projections.py): linearise z_t - z_y at the current point, project both the current point and
// the clean one onto that hyperplane (smallest L-inf or L2 step inside the box), step a convex mix of
// the two projections extrapolated by eta, and when the point is misclassified keep it if it is the
// closest so far and pull it back towards the clean image by beta. A point counts as fooled when the
// closest misclassified point lies within eps.
import { Classifier, argmaxRow } from '../models/evaluate';
import {
  setup,
  finish,
  gather,
  samplesShape,
  intOption,
  numberOption,
  AttackResult,
  CommonAttackOptions,
  AttackSetup,
} from './common';
import { lossAndGrad, lossOnly } from './loss';
import { rankedClass } from './apgd';
import type { Norm } from './project';

export interface FabTOptions extends Omit<CommonAttackOptions, 'target'> {
  /** Iterations per run (AutoAttack: 100). */
  steps?: number;
  /** Runs per target (AutoAttack's standard version: 1); runs after the first start at a random point in the ball of radius eps / 2. */
  restarts?: number;
  /** Target classes tried: the 2nd .. (numTargets + 1)th highest clean logits (default 9, at most classes - 1). */
  numTargets?: number;
  /** Largest weight of the step from the clean image (default 0.1). */
  alphaMax?: number;
  /** Extrapolation of each projection step (default 1.05). */
  eta?: number;
  /** Pull-back towards the clean image after a misclassified point (default 0.9). */
  beta?: number;
}

/**
 * The smallest step d (L-inf or L2) with w . (p + d) = b and p + d inside the box [0, hi]; where the
 * box keeps the hyperplane out of reach, the box corner that gets closest (AutoAttack's
 * projection_linf / projection_l2, which sort and bisect; here one expected-linear water-filling).
 * Returns d in float64.
 */
export function projectOntoHyperplane(
  p: ArrayLike<number>,
  w: ArrayLike<number>,
  b: number,
  hi: ArrayLike<number>,
  norm: Norm,
): Float64Array {
  const D = p.length;
  let wp = 0;
  for (let i = 0; i < D; i++) wp += w[i] * p[i];
  // Move w . x down to b when above it (AutoAttack flips the sign so that it always goes down).
  const sgn = wp - b >= 0 ? 1 : -1,
    need = Math.abs(wp - b);
  const weight = new Float64Array(D),
    cap = new Float64Array(D),
    live = new Int32Array(D);
  let count = 0;
  for (let i = 0; i < D; i++) {
    const a = Math.abs(w[i]);
    if (norm === 'linf' ? a === 0 : a < 1e-8) continue;
    const room = Math.max(-sgn * w[i] > 0 ? hi[i] - p[i] : p[i], 0);
    // L-inf: every free coordinate moves by the same lambda; L2: coordinate i moves by lambda |w_i|.
    weight[i] = norm === 'linf' ? a : a * a;
    cap[i] = norm === 'linf' ? room : room / a;
    live[count++] = i;
  }
  const lambda = waterLevel(live.subarray(0, count), weight, cap, need);
  const d = new Float64Array(D);
  for (let k = 0; k < count; k++) {
    const i = live[k],
      step = Math.min(lambda, cap[i]);
    d[i] = -sgn * Math.sign(w[i]) * (norm === 'linf' ? step : step * Math.abs(w[i]));
  }
  return d;
}

/**
 * The smallest lambda >= 0 with G(lambda) = sum_i weight_i min(lambda, cap_i) >= need; Infinity when
 * even all caps fall short. Quickselect on the caps: entries at or below the bracket's low end are
 * saturated (their weight_i cap_i summed), those at or above its high end free (their weight summed),
 * so G is linear on the final bracket. `idx` is reordered.
 */
function waterLevel(idx: Int32Array, weight: Float64Array, cap: Float64Array, need: number): number {
  if (!(need > 0)) return 0;
  let saturated = 0,
    free = 0,
    lo = 0,
    hi = idx.length;
  while (lo < hi) {
    const v = cap[idx[(lo + hi) >> 1]];
    let g = saturated + free * v;
    for (let k = lo; k < hi; k++) g += weight[idx[k]] * Math.min(v, cap[idx[k]]);
    // Partition idx[lo, hi) into caps < v first, then the rest; keep the side that still holds lambda.
    let m = lo;
    for (let k = lo; k < hi; k++)
      if (cap[idx[k]] < v) {
        const t = idx[m];
        idx[m++] = idx[k];
        idx[k] = t;
      }
    if (g >= need) {
      for (let k = m; k < hi; k++) free += weight[idx[k]]; // lambda <= v: caps >= v stay free
      hi = m;
    } else {
      // lambda > v: caps <= v saturate (those equal to v sit in [m, hi); move them down first).
      let e = m;
      for (let k = m; k < hi; k++)
        if (cap[idx[k]] === v) {
          const t = idx[e];
          idx[e++] = idx[k];
          idx[k] = t;
        }
      for (let k = lo; k < e; k++) saturated += weight[idx[k]] * cap[idx[k]];
      lo = e;
    }
  }
  return free > 0 ? Math.max((need - saturated) / free, 0) : Infinity;
}

function normOf(d: ArrayLike<number>, norm: Norm): number {
  let m = 0;
  for (let i = 0; i < d.length; i++) m = norm === 'linf' ? Math.max(m, Math.abs(d[i])) : m + d[i] * d[i];
  return norm === 'linf' ? m : Math.sqrt(m);
}

const FAB_OPTIONS = ['steps', 'restarts', 'numTargets', 'alphaMax', 'eta', 'beta'];

export function fabT(model: Classifier, x: unknown, y: unknown, options: FabTOptions): AttackResult {
  const s = setup('fabT', model, x, y, options, FAB_OPTIONS);
  if (s.target) throw new TypeError("fabT: option 'target' is not supported (the targets are the top clean logits)");
  const cfg = {
    steps: intOption(s, 'steps', 100),
    alphaMax: numberOption(s, 'alphaMax', 0.1, { min: 0, max: 1 }),
    eta: numberOption(s, 'eta', 1.05, { min: 1 }),
    beta: numberOption(s, 'beta', 0.9, { min: 0, max: 1 }),
  };
  const restarts = intOption(s, 'restarts', 1);
  const N = s.shape[0],
    D = s.z0.length / N;
  const clean = lossOnly(s.model, s.space, s.z0, s.shape, s.y, 'ce');
  const K = clean.logits.length / N;
  if (K < 2) throw new RangeError(`fabT: needs at least 2 classes, the model has ${K}`);
  const numTargets = Math.min(intOption(s, 'numTargets', 9), K - 1);
  const robust = Uint8Array.from({ length: N }, (_, n) => +(argmaxRow(clean.logits, n, K) === s.y[n]));
  const adv = s.z0.slice();
  for (let rank = 2; rank <= numTargets + 1; rank++) {
    for (let r = 0; r < restarts; r++) {
      const idx = [...robust.keys()].filter((n) => robust[n]);
      if (idx.length === 0) break;
      const target = Int32Array.from(idx, (n) => rankedClass(clean.logits, n, K, rank));
      const out = fabRun(s, idx, target, r > 0, cfg);
      idx.forEach((n, j) => {
        if (out.res[j] > s.eps) return; // not fooled, or only farther than eps
        robust[n] = 0;
        adv.set(out.adv.subarray(j * D, (j + 1) * D), n * D);
      });
    }
  }
  return finish(s, adv, {}, { clean: clean.logits });
}

/** One targeted FAB run on the samples idx: the closest misclassified point found per sample and its
 * distance (Infinity where none was found). */
function fabRun(
  s: AttackSetup,
  idx: number[],
  target: Int32Array,
  randomStart: boolean,
  cfg: { steps: number; alphaMax: number; eta: number; beta: number },
): { adv: Float32Array; res: Float64Array } {
  const N = idx.length,
    D = s.z0.length / s.shape[0],
    shape = samplesShape(s.shape, N),
    plane = D / s.shape[1];
  const im = gather(s.z0, idx, D),
    y = Int32Array.from(idx, (n) => s.y[n]);
  const hi = Float64Array.from({ length: D }, (_, i) => s.space.upper(Math.floor(i / plane)));
  const x1 = im.slice();
  if (randomStart)
    for (let n = 0; n < N; n++) {
      const t = Float64Array.from({ length: D }, () => (s.norm === 'linf' ? 2 * s.rng.uniform() - 1 : s.rng.normal()));
      const f = (s.eps * 0.5) / Math.max(normOf(t, s.norm), 1e-12);
      for (let i = 0; i < D; i++) x1[n * D + i] = Math.min(Math.max(im[n * D + i] + f * t[i], 0), hi[i]);
    }
  const adv = im.slice(),
    res = new Float64Array(N).fill(Infinity);
  for (let it = 0; it < cfg.steps; it++) {
    // df = z_t - z_y and its gradient: the hyperplane w . x = b is where the linearisation crosses 0.
    const { loss: df, grad: dg } = lossAndGrad(s.model, s.space, x1, shape, y, 'logit-gap-targeted', target);
    for (let n = 0; n < N; n++) {
      const o = n * D,
        w = dg.subarray(o, o + D),
        cur = x1.subarray(o, o + D),
        orig = im.subarray(o, o + D);
      let b = -df[n];
      for (let i = 0; i < D; i++) b += w[i] * cur[i];
      const d1 = projectOntoHyperplane(cur, w, b, hi, s.norm),
        d2 = projectOntoHyperplane(orig, w, b, hi, s.norm);
      const a1 = Math.max(normOf(d1, s.norm), 1e-8),
        a2 = Math.max(normOf(d2, s.norm), 1e-8);
      const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), cfg.alphaMax);
      for (let i = 0; i < D; i++) {
        const v = (cur[i] + cfg.eta * d1[i]) * (1 - alpha) + (orig[i] + cfg.eta * d2[i]) * alpha;
        cur[i] = Math.min(Math.max(v, 0), hi[i]);
      }
    }
    const { logits } = lossOnly(s.model, s.space, x1, shape, y, 'ce');
    const K = logits.length / N;
    for (let n = 0; n < N; n++) {
      if (argmaxRow(logits, n, K) === y[n]) continue;
      const o = n * D,
        cur = x1.subarray(o, o + D),
        orig = im.subarray(o, o + D);
      const delta = Float64Array.from(cur, (v, i) => v - orig[i]);
      const t = normOf(delta, s.norm);
      if (t < res[n]) {
        res[n] = t;
        adv.set(cur, o);
      }
      for (let i = 0; i < D; i++) cur[i] = orig[i] + delta[i] * cfg.beta;
    }
  }
  return { adv, res };
}
