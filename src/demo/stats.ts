// The statistics of the multi-seed demo: mean and range over seeds, and the paired comparison that
// decides whether two models differ (Student's t on the per-seed differences, two-sided).

export interface Spread {
  mean: number;
  min: number;
  max: number;
  /** One value per seed, in the order of the seeds. */
  values: number[];
}

export interface PairedComparison {
  /** Seeds compared. */
  n: number;
  /** Mean of a - b over the seeds. */
  meanDiff: number;
  /** 95% confidence interval of the mean difference (null with fewer than 2 seeds, or when every seed gives the same difference). */
  ci: [number, number] | null;
  /** Two-sided p-value of the paired t-test (null with fewer than 2 seeds); when every seed gives
   * the same non-zero difference, the sign test's 2^(1-n). */
  p: number | null;
  /** Seeds where a > b, a < b, a = b. */
  wins: number;
  losses: number;
  ties: number;
  /** p < alpha: the seeds support a difference in the sign of meanDiff. */
  shown: boolean;
}

export const ALPHA = 0.05;

export function spread(values: number[]): Spread {
  if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
    throw new RangeError(`spread: values must be a non-empty array of finite numbers, got ${JSON.stringify(values)}`);
  return {
    mean: values.reduce((s, v) => s + v, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    values: values.slice(),
  };
}

// Lanczos approximation (g = 7, n = 9), good to about 15 digits for x > 0.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

// Continued fraction of the incomplete beta function (modified Lentz).
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1,
    d = 1 - ((a + b) * x) / (a + 1);
  d = Math.abs(d) < tiny ? tiny : d;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    for (const aa of [
      (m * (b - m) * x) / ((a + m2 - 1) * (a + m2)),
      (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1)),
    ]) {
      d = 1 + aa * d;
      d = Math.abs(d) < tiny ? tiny : d;
      c = 1 + aa / c;
      c = Math.abs(c) < tiny ? tiny : c;
      d = 1 / d;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(|T| >= |t|) for Student's t with df degrees of freedom. */
export function tTwoSided(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`tTwoSided: df must be > 0, got ${df}`);
  if (!Number.isFinite(t)) return Number.isNaN(t) ? NaN : 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** The t with P(|T| >= t) = p (bisection on tTwoSided). */
export function tCritical(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tCritical: p must be in (0, 1), got ${p}`);
  let lo = 0,
    hi = 1;
  while (tTwoSided(hi, df) > p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tTwoSided(mid, df) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Paired t-test of a against b (same seeds, same order): is the mean difference non-zero? */
export function pairedComparison(a: number[], b: number[], alpha = ALPHA): PairedComparison {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length || a.length === 0)
    throw new RangeError(
      `pairedComparison: a and b must be arrays of the same non-zero length, got ${a?.length} and ${b?.length}`,
    );
  const d = a.map((v, i) => v - b[i]);
  if (d.some((v) => !Number.isFinite(v))) throw new RangeError('pairedComparison: values must be finite numbers');
  const n = d.length;
  const meanDiff = d.reduce((s, v) => s + v, 0) / n;
  const wins = d.filter((v) => v > 0).length,
    losses = d.filter((v) => v < 0).length;
  if (n < 2) return { n, meanDiff, ci: null, p: null, wins, losses, ties: n - wins - losses, shown: false };
  const sd = Math.sqrt(d.reduce((s, v) => s + (v - meanDiff) ** 2, 0) / (n - 1));
  // Differences equal up to rounding (100 * (0.95 - 0.85) is not 100 * (0.9 - 0.8)) count as equal.
  const se = sd <= 1e-9 * Math.max(1, Math.abs(meanDiff)) ? 0 : sd / Math.sqrt(n);
  // Identical differences in every seed leave t undefined: then the sign test's p (all n seeds on one side).
  const p = se === 0 ? (meanDiff === 0 ? 1 : Math.min(1, 2 * 0.5 ** n)) : tTwoSided(meanDiff / se, n - 1);
  // No spread, no interval: a point [d, d] would claim a precision the seeds do not have.
  const half = se === 0 ? NaN : tCritical(alpha, n - 1) * se;
  return {
    n,
    meanDiff,
    ci: se === 0 ? null : [meanDiff - half, meanDiff + half],
    p,
    wins,
    losses,
    ties: n - wins - losses,
    shown: p < alpha,
  };
}
