// Square Attack (Andriushchenko et al. 2020): gradient-free random search, keeping a change when the
// margin loss drops; the window shrinks on AutoAttack's schedule from p_init. L-inf: each query sets
// one random square window per image to a vertex of the eps-box (one sign per channel). L2 (AutoAttack's
// square.py): a tiling of "meta pseudo-gaussian" windows to start; each query moves the perturbation's
// mass of a second window into the first, as a fresh pseudo-gaussian bump plus the old content, then
// rescales the whole perturbation to L2 norm eps. Windows are drawn per image (AutoAttack draws one
// position for the batch), so a sample's result does not depend on its batch.
import type { Classifier } from '../models/evaluate';
import {
  setup,
  finish,
  gather,
  samplesShape,
  intOption,
  numberOption,
  AttackResult,
  AttackSetup,
  CommonAttackOptions,
} from './common';
import { lossOnly } from './loss';
import { project } from './project';

export interface SquareOptions extends CommonAttackOptions {
  /** Model queries per sample (default 5000). */
  queries?: number;
  /** Initial fraction of pixels a window covers (default 0.8). */
  pInit?: number;
}

/** The fraction of the image a window covers at query `it` of `total` (AutoAttack's schedule, rescaled to 10000 queries). */
export function squareFraction(it: number, total: number, pInit: number): number {
  const i = Math.floor((it / total) * 10000);
  const bounds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let halvings = 0;
  while (halvings < bounds.length && i > bounds[halvings]) halvings++;
  return pInit / 2 ** halvings;
}

export function square(model: Classifier, x: unknown, y: unknown, options: SquareOptions): AttackResult {
  const s = setup('square', model, x, y, options, ['queries', 'pInit']);
  if (s.target) throw new TypeError("square: option 'target' is not supported (untargeted margin loss)");
  const total = intOption(s, 'queries', 5000);
  const pInit = numberOption(s, 'pInit', 0.8, { min: 0, max: 1, positive: true });
  const N = s.shape[0],
    D = s.z0.length / N;
  const margin = (z: Float32Array, idx: number[]) => {
    const r = lossOnly(
      s.model,
      s.space,
      z,
      samplesShape(s.shape, idx.length),
      Int32Array.from(idx, (n) => s.y[n]),
      'margin',
    );
    return { m: r.loss.map((v) => -v), logits: r.logits }; // y's logit minus the best other: <= 0 is misclassified
  };

  const best = s.norm === 'linf' ? linfStart(s) : l2Start(s);
  const all = Array.from({ length: N }, (_, n) => n);
  const init = margin(best, all);
  const marginMin = Float64Array.from(init.m);
  const queries = new Int32Array(N).fill(1);
  const bestLogits = init.logits.slice();
  const K = bestLogits.length / N;

  for (let it = 0; it < total - 1; it++) {
    const idx = all.filter((n) => marginMin[n] > 0);
    if (idx.length === 0) break;
    const p = squareFraction(it, total, pInit);
    const cand = gather(best, idx, D);
    idx.forEach((n, j) => (s.norm === 'linf' ? linfProposal : l2Proposal)(s, p, best, n, cand, j));
    const { m, logits } = margin(cand, idx);
    idx.forEach((n, j) => {
      queries[n]++;
      if (m[j] < marginMin[n] || m[j] <= 0) {
        marginMin[n] = m[j];
        best.set(cand.subarray(j * D, (j + 1) * D), n * D);
        bestLogits.set(logits.subarray(j * K, (j + 1) * K), n * K);
      }
    });
  }
  return finish(s, best, { queries }, { adv: bestLogits });
}

const at = (s: AttackSetup, n: number, c: number, h: number, w: number) =>
  ((n * s.shape[1] + c) * s.shape[2] + h) * s.shape[3] + w;

/** L-inf start: vertical stripes of +-eps, one sign per channel and column. */
function linfStart(s: AttackSetup): Float32Array {
  const [N, C, H, W] = s.shape;
  const best = new Float32Array(s.z0.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let w = 0; w < W; w++) {
        const v = s.eps * s.rng.sign();
        for (let h = 0; h < H; h++) best[at(s, n, c, h, w)] = s.z0[at(s, n, c, h, w)] + v;
      }
  return project(best, s.z0, s.eps, 'linf', s.space, s.shape);
}

/** L-inf query: one window of sample n (row j of cand) set to a vertex of the eps-box. */
function linfProposal(s: AttackSetup, p: number, best: Float32Array, n: number, cand: Float32Array, j: number): void {
  const [, C, H, W] = s.shape;
  const side = Math.min(H, W, Math.max(Math.round(Math.sqrt((p * C * H * W) / C)), 1));
  const top = s.rng.below(H - side + 1),
    left = s.rng.below(W - side + 1);
  const o = (j - n) * C * H * W; // row j of cand holds sample n
  // Redraw the signs while they would leave the window unchanged (a wasted query).
  for (let tries = 0; tries < 16; tries++) {
    let changed = false;
    for (let c = 0; c < C; c++) {
      const sgn = s.rng.sign(),
        hi = s.space.upper(c);
      for (let h = top; h < top + side; h++)
        for (let w = left; w < left + side; w++) {
          const e = at(s, n, c, h, w);
          const v = Math.min(Math.max(s.z0[e] + sgn * s.eps, 0), hi);
          if (Math.abs(v - best[e]) > 1e-7) changed = true;
          cand[o + e] = v;
        }
    }
    if (changed) break;
  }
}

/** AutoAttack's eta_rectangles(x, y): nested rectangles around the centre, the k-th weighted 1 / k^2, unit L2 norm. */
function rectangles(x: number, y: number): Float64Array {
  const d = new Float64Array(x * y);
  const xc = Math.floor(x / 2) + 1,
    yc = Math.floor(y / 2) + 1;
  let r0 = xc - 1,
    c0 = yc - 1;
  for (let k = 0; k < Math.max(xc, yc); k++, r0--, c0--)
    for (let r = Math.max(r0, 0); r < Math.min(r0 + 2 * k + 1, x); r++)
      for (let c = Math.max(c0, 0); c < Math.min(c0 + 2 * k + 1, y); c++) d[r * y + c] += 1 / (k + 1) ** 2;
  return unit(d);
}

function unit(d: Float64Array): Float64Array {
  const n = Math.sqrt(d.reduce((a, v) => a + v * v, 0));
  return n > 0 ? d.map((v) => v / n) : d;
}

/** The meta pseudo-gaussian window of side s (AutoAttack's eta(s) before its random transpose): the
 * top half's rectangles minus the bottom half's, unit L2 norm, row-major [s, s]. */
export function squareL2Window(s: number): Float64Array {
  const d = new Float64Array(s * s),
    h = Math.floor(s / 2);
  d.set(rectangles(h, s), 0);
  rectangles(s - h, s).forEach((v, i) => (d[h * s + i] = -v));
  return unit(d);
}

/** squareL2Window(s), transposed with probability 1/2. */
function drawWindow(s: AttackSetup, side: number): Float64Array {
  const w = squareL2Window(side);
  if (s.rng.uniform() <= 0.5) return w;
  return w.map((_, i) => w[(i % side) * side + Math.floor(i / side)]);
}

/** z0 + eps * delta / ||delta||_2 per sample, clamped to the box, into out at row j for sample n. */
function rescaled(s: AttackSetup, n: number, delta: Float64Array, out: Float32Array, j: number): void {
  const D = delta.length,
    plane = D / s.shape[1];
  const f = s.eps / (Math.sqrt(delta.reduce((a, v) => a + v * v, 0)) + 1e-12);
  for (let i = 0; i < D; i++)
    out[j * D + i] = Math.min(Math.max(s.z0[n * D + i] + f * delta[i], 0), s.space.upper(Math.floor(i / plane)));
}

/** L2 start (AutoAttack): a grid of floor(H / 5)-sided windows from the centre, each a pseudo-gaussian
 * with one sign per channel, the whole rescaled to norm eps. Images under 5 pixels get 1-pixel windows. */
function l2Start(s: AttackSetup): Float32Array {
  const [N, C, H, W] = s.shape,
    D = C * H * W;
  const side = Math.max(Math.floor(H / 5), 1),
    count = Math.floor(H / side);
  const top0 = Math.max(Math.floor((H - 5 * side) / 2), 0);
  const best = new Float32Array(s.z0.length);
  for (let n = 0; n < N; n++) {
    const delta = new Float64Array(D);
    for (let a = 0, vh = top0; a < count; a++, vh += side)
      for (let b = 0, vw = top0; b < Math.floor(W / side); b++, vw += side) {
        const win = drawWindow(s, side);
        for (let c = 0; c < C; c++) {
          const sgn = s.rng.sign();
          // Windows that run past the edge keep their top-left part (AutoAttack assumes 32 or 224 pixels).
          for (let h = vh; h < Math.min(vh + side, H); h++)
            for (let w = vw; w < Math.min(vw + side, W); w++)
              delta[at(s, 0, c, h, w)] += sgn * win[(h - vh) * side + (w - vw)];
        }
      }
    rescaled(s, n, delta, best, n);
  }
  return best;
}

/** L2 query (AutoAttack's loop body): window 2 is emptied and window 1 becomes its old content
 * (normalised per channel) plus a fresh pseudo-gaussian, scaled per channel so the perturbation's
 * mass of both windows plus the unused budget goes there; then the whole is rescaled to norm eps. */
function l2Proposal(s: AttackSetup, p: number, best: Float32Array, n: number, cand: Float32Array, j: number): void {
  const [, C, H, W] = s.shape,
    D = C * H * W;
  let side = Math.max(Math.round(Math.sqrt((p * D) / C)), 3);
  if (side % 2 === 0) side++;
  side = Math.min(side, H, W);
  const vh = s.rng.below(H - side + 1),
    vw = s.rng.below(W - side + 1);
  const vh2 = s.rng.below(H - side + 1),
    vw2 = s.rng.below(W - side + 1);
  const delta = Float64Array.from({ length: D }, (_, i) => best[n * D + i] - s.z0[n * D + i]);
  const inside = (h: number, w: number, top: number, left: number) =>
    h >= top && h < top + side && w >= left && w < left + side;
  let normImage = 0,
    normWindows = 0;
  for (let c = 0; c < C; c++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) {
        const v = delta[at(s, 0, c, h, w)] ** 2;
        normImage += v;
        if (inside(h, w, vh, vw) || inside(h, w, vh2, vw2)) normWindows += v;
      }
  const budget = Math.sqrt(Math.max(s.eps ** 2 - normImage, 0) / C + normWindows);
  const win = drawWindow(s, side);
  const fresh = new Float64Array(C * side * side);
  for (let c = 0; c < C; c++) {
    const sgn = s.rng.sign();
    let old = 0;
    for (let h = 0; h < side; h++) for (let w = 0; w < side; w++) old += delta[at(s, 0, c, vh + h, vw + w)] ** 2;
    old = Math.sqrt(old);
    let norm = 0;
    for (let h = 0; h < side; h++)
      for (let w = 0; w < side; w++) {
        const v = sgn * win[h * side + w] + delta[at(s, 0, c, vh + h, vw + w)] / (1e-12 + old);
        fresh[(c * side + h) * side + w] = v;
        norm += v * v;
      }
    const f = budget / (1e-12 + Math.sqrt(norm));
    for (let i = c * side * side; i < (c + 1) * side * side; i++) fresh[i] *= f;
  }
  for (let c = 0; c < C; c++)
    for (let h = 0; h < side; h++) for (let w = 0; w < side; w++) delta[at(s, 0, c, vh2 + h, vw2 + w)] = 0;
  for (let c = 0; c < C; c++)
    for (let h = 0; h < side; h++)
      for (let w = 0; w < side; w++) delta[at(s, 0, c, vh + h, vw + w)] = fresh[(c * side + h) * side + w];
  rescaled(s, n, delta, cand, j);
}
