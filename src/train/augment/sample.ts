// The draws augmentations make from the library's seeded generator, under the names numpy and
// Python's random module give them in timm's code (so the port reads line by line).
import type { Rng } from '../../tensor/random';

/** Gamma(a, 1) by Marsaglia & Tsang (2000); a < 1 through Gamma(a + 1) * U^(1/a). */
export function gamma(rng: Rng, a: number): number {
  if (a < 1) return gamma(rng, a + 1) * Math.pow(1 - rng.uniform(), 1 / a);
  const d = a - 1 / 3,
    c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.uniform();
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (np.random.beta). */
export function beta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a),
    y = gamma(rng, b);
  return x + y > 0 ? x / (x + y) : rng.uniform() < a / (a + b) ? 1 : 0;
}

/** Uniform in [lo, hi) (random.uniform). */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

/** Integer uniform in [lo, hi) (np.random.randint). */
export function randint(rng: Rng, lo: number, hi: number): number {
  return lo + rng.below(hi - lo);
}

/** Integer uniform in [lo, hi], both ends included (random.randint). */
export function randintInclusive(rng: Rng, lo: number, hi: number): number {
  return lo + rng.below(hi - lo + 1);
}
