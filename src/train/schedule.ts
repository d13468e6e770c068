// The learning-rate schedule of the RepLKNet and robust-ViT recipes: a linear warm-up, then a
// half-cosine down to minLr, evaluated per optimiser step.

export interface CosineOptions {
  baseLr: number;
  totalSteps: number;
  warmupSteps?: number;
  minLr?: number;
}

/** lr at step s (0-based): baseLr * (s + 1) / warmupSteps during the warm-up, then
 * minLr + (baseLr - minLr) * (1 + cos(pi * t / T)) / 2 for the t-th of the T remaining steps
 * (torch's CosineAnnealingLR with T_max = T). */
export function cosineLr(options: CosineOptions): (step: number) => number {
  const { baseLr, totalSteps } = options;
  const warmup = options.warmupSteps ?? 0,
    minLr = options.minLr ?? 0;
  const num = (name: string, v: unknown, min: number) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
      throw new RangeError(`cosineLr: ${name} must be a number >= ${min}, got ${String(v)}`);
  };
  num('baseLr', baseLr, 0);
  num('minLr', minLr, 0);
  if (!Number.isInteger(totalSteps) || totalSteps < 1)
    throw new RangeError(`cosineLr: totalSteps must be a positive integer, got ${String(totalSteps)}`);
  if (!Number.isInteger(warmup) || warmup < 0 || warmup > totalSteps)
    throw new RangeError(
      `cosineLr: warmupSteps must be an integer in [0, totalSteps = ${totalSteps}], got ${String(warmup)}`,
    );
  if (minLr > baseLr) throw new RangeError(`cosineLr: minLr ${minLr} must not exceed baseLr ${baseLr}`);
  const decaySteps = totalSteps - warmup;
  return (step) => {
    if (step < warmup) return (baseLr * (step + 1)) / warmup;
    const t = decaySteps > 0 ? Math.min(step - warmup, decaySteps) / decaySteps : 1;
    return minLr + ((baseLr - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}
