// The suites' metrics as pure functions over plain numbers, each defined as the reference code the
// published numbers come from defines it: sklearn's roc_auc_score / average_precision_score and
// hendrycks' fpr_and_fdr_at_recall (ImageNet-O), the CE/mCE of ImageNet-C, and the flip probability and
// top-5 distance of hendrycks/robustness ImageNet-P/test.py.

// ---------------------------------------------------------------------------------------------------------
// Rankings.

/**
 * The k highest-scoring columns of a logit row, best first; ties go to the lower column, as numpy's argmax
 * and scipy's rankdata(method='ordinal') order them. With `columns`, only those columns compete and the
 * result holds positions in `columns` (a class subset's own indices).
 */
export function topClasses(row: ArrayLike<number>, k: number, columns?: readonly number[]): number[] {
  const n = columns ? columns.length : row.length;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`topClasses: k must be an integer >= 1, got ${k}`);
  const value = (j: number) => row[columns ? columns[j] : j];
  const top: number[] = [];
  for (let j = 0; j < n; j++) {
    const v = value(j);
    // Insert after every kept column scoring >= v: equal scores keep the lower column first.
    let at = top.length;
    while (at > 0 && value(top[at - 1]) < v) at--;
    if (at < k) {
      top.splice(at, 0, j);
      if (top.length > k) top.pop();
    }
  }
  return top;
}

/** The largest softmax probability of a logit row (over `columns` only when given), in float64. */
export function maxSoftmax(row: ArrayLike<number>, columns?: readonly number[]): number {
  const n = columns ? columns.length : row.length;
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, row[columns ? columns[j] : j]);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(row[columns ? columns[j] : j] - max);
  return 1 / sum;
}

/** The largest logit of a row (over `columns` if given): the MaxLogit OOD score of Hendrycks et al. 2022,
 * higher = more in-distribution (unlike the softmax, not squashed by the other logits). */
export function maxLogit(row: ArrayLike<number>, columns?: readonly number[]): number {
  const n = columns ? columns.length : row.length;
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, row[columns ? columns[j] : j]);
  return max;
}

// ---------------------------------------------------------------------------------------------------------
// Detection (ImageNet-O): positives are the anomalies, higher score = more anomalous.

interface OperatingPoints {
  /** Cumulative true / false positives at each distinct score, from the highest score down. */
  tps: number[];
  fps: number[];
  positives: number;
  negatives: number;
}

/** sklearn's _binary_clf_curve: one point per distinct score (ties enter together). */
function operatingPoints(
  fn: string,
  scores: ArrayLike<number>,
  positive: ArrayLike<boolean | number>,
): OperatingPoints {
  if (scores.length !== positive.length)
    throw new RangeError(
      `${fn}: scores (${scores.length}) and positive (${positive.length}) must have the same length`,
    );
  const order = Array.from({ length: scores.length }, (_, i) => i);
  for (const i of order)
    if (!Number.isFinite(scores[i]))
      throw new RangeError(`${fn}: scores[${i}] must be a finite number, got ${scores[i]}`);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  const tps: number[] = [],
    fps: number[] = [];
  let tp = 0,
    fp = 0;
  order.forEach((i, r) => {
    if (positive[i]) tp++;
    else fp++;
    if (r === order.length - 1 || scores[order[r + 1]] !== scores[i]) {
      tps.push(tp);
      fps.push(fp);
    }
  });
  if (tp === 0 || fp === 0)
    throw new RangeError(`${fn}: need at least one positive and one negative sample, got ${tp} and ${fp}`);
  return { tps, fps, positives: tp, negatives: fp };
}

/** Area under the ROC curve (sklearn roc_auc_score: trapezoids, so ties count one half). */
export function auroc(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>): number {
  const { tps, fps, positives, negatives } = operatingPoints('auroc', scores, positive);
  let area = 0,
    prevTp = 0,
    prevFp = 0;
  for (let i = 0; i < tps.length; i++) {
    area += ((fps[i] - prevFp) * (tps[i] + prevTp)) / 2;
    prevTp = tps[i];
    prevFp = fps[i];
  }
  return area / (positives * negatives);
}

/** Area under the precision-recall curve as sklearn's average_precision_score: sum of (R_n - R_n-1) P_n. */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>): number {
  const { tps, fps, positives } = operatingPoints('averagePrecision', scores, positive);
  let ap = 0,
    prevRecall = 0;
  for (let i = 0; i < tps.length; i++) {
    const recall = tps[i] / positives;
    ap += (recall - prevRecall) * (tps[i] / (tps[i] + fps[i]));
    prevRecall = recall;
  }
  return ap;
}

/**
 * False-positive rate at the operating point whose recall is closest to `recall` (default 0.95), as
 * hendrycks' fpr_and_fdr_at_recall picks it: points from full recall downwards, the first closest wins.
 */
export function fprAtRecall(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>, recall = 0.95): number {
  if (!(recall >= 0 && recall <= 1)) throw new RangeError(`fprAtRecall: recall must be in [0, 1], got ${recall}`);
  const { tps, fps, positives, negatives } = operatingPoints('fprAtRecall', scores, positive);
  const full = tps.indexOf(positives);
  let best = full,
    bestGap = Infinity;
  for (let i = full; i >= 0; i--) {
    const gap = Math.abs(tps[i] / positives - recall);
    if (gap < bestGap) {
      best = i;
      bestGap = gap;
    }
  }
  // The reference also appends a point (recall 1, no false positives) last; it can only win a tie, and ties
  // go to the earlier point, so it never does.
  return fps[best] / negatives;
}

// ---------------------------------------------------------------------------------------------------------
// ImageNet-C.

/** Top-1 error rates of AlexNet per corruption, averaged over severities 1..5 (the mCE normaliser). */
export const ALEXNET_CORRUPTION_ERRORS: Readonly<Record<string, number>> = Object.freeze({
  gaussian_noise: 0.886428,
  shot_noise: 0.894468,
  impulse_noise: 0.92264,
  defocus_blur: 0.81988,
  glass_blur: 0.826268,
  motion_blur: 0.785948,
  zoom_blur: 0.79836,
  snow: 0.866816,
  frost: 0.826572,
  fog: 0.819324,
  brightness: 0.564592,
  contrast: 0.853204,
  elastic_transform: 0.646056,
  pixelate: 0.71784,
  jpeg_compression: 0.6065,
});

/** The four held-out corruptions, reported without normalisation. */
export const EXTRA_CORRUPTIONS = Object.freeze(['speckle_noise', 'gaussian_blur', 'spatter', 'saturate']);

/** CE_c = sum over severities 1..5 of the error / the same sum of the baseline's (given as its mean). */
export function corruptionError(errors: readonly number[], baselineMeanError: number): number {
  if (errors.length !== 5)
    throw new RangeError(`corruptionError: need the errors at the 5 severities, got ${errors.length}`);
  if (!(baselineMeanError > 0))
    throw new RangeError(`corruptionError: the baseline error must be > 0, got ${baselineMeanError}`);
  return errors.reduce((s, e) => s + e, 0) / (5 * baselineMeanError);
}

/** Arithmetic mean (NaN for none), for mCE, mFR, mT5D and the like. */
export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((s, v) => s + v, 0) / values.length : NaN;
}

// ---------------------------------------------------------------------------------------------------------
// ImageNet-P. A video is a list of frames; noise sequences compare every frame with the first, the others
// compare frames `difficulty` apart (each of the `difficulty` interleaved chains with its previous frame).

export interface SequenceOptions {
  /** Noise perturbation (its frames are independent draws around the first). */
  noise: boolean;
  /** Temporal stride of the non-noise sequences: 1, 2 or 3 (ignored for noise). */
  difficulty?: number;
}

/** The (earlier, later) frame pairs the metrics compare, as ImageNet-P/test.py walks them. */
export function framePairs(frames: number, options: SequenceOptions): [number, number][] {
  const step = options.noise ? 1 : (options.difficulty ?? 1);
  if (!Number.isInteger(step) || step < 1)
    throw new RangeError(`framePairs: difficulty must be an integer >= 1, got ${step}`);
  const pairs: [number, number][] = [];
  for (let i = 0; i < step; i++) {
    let prev = i;
    for (let j = i + step; j < frames; j += step) {
      pairs.push([prev, j]);
      if (!options.noise) prev = j;
    }
  }
  return pairs;
}

/** Mean over videos of the per-video mean of a per-pair measure. */
function videoMean<F>(
  fn: string,
  videos: readonly F[][],
  options: SequenceOptions,
  measure: (a: F, b: F) => number,
): number {
  if (videos.length === 0) throw new RangeError(`${fn}: need at least one video`);
  let total = 0;
  videos.forEach((frames, v) => {
    const pairs = framePairs(frames.length, options);
    if (pairs.length === 0) throw new RangeError(`${fn}: video ${v} has ${frames.length} frame(s), too few to compare`);
    total += pairs.reduce((s, [a, b]) => s + measure(frames[a], frames[b]), 0) / pairs.length / videos.length;
  });
  return total;
}

/** Flip probability: how often the top-1 prediction changes between compared frames. */
export function flipProbability(predictions: readonly (readonly number[])[], options: SequenceOptions): number {
  return videoMean('flipProbability', predictions as number[][], options, (a, b) => (a !== b ? 1 : 0));
}

/**
 * ImageNet-P's top-5 distance between two frames, from each frame's top-5 classes (best first): with
 * sigma_k the 1-based rank in frame b of frame a's k-th class, sum over k < 5 of |k - min(sigma_k - 1, 5)|.
 * A class outside b's top 5 has sigma >= 6, which the cap makes 6, so top-5 lists are all it needs.
 */
export function top5FrameDistance(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (let k = 0; k < Math.min(5, a.length); k++) {
    const at = b.indexOf(a[k]);
    d += Math.abs(k - (at >= 0 && at < 5 ? at : 5));
  }
  return d;
}

/** Mean top-5 distance over compared frames; `top5[v][f]` is frame f of video v's top-5 classes. */
export function top5Distance(top5: readonly (readonly (readonly number[])[])[], options: SequenceOptions): number {
  return videoMean('top5Distance', top5 as number[][][], options, top5FrameDistance);
}

// ---------------------------------------------------------------------------------------------------------
// ImageNet-9.

/** BG-Gap: accuracy on mixed_same minus accuracy on mixed_rand (how much a model leans on backgrounds). */
export function backgroundGap(mixedSameAccuracy: number, mixedRandAccuracy: number): number {
  return mixedSameAccuracy - mixedRandAccuracy;
}
