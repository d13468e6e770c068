// The geometry every gradient attack shares, in attack units z (see space.ts): steps along the sign
// (L-inf) or the unit-norm gradient (L2) with the projection onto the eps-ball around z0 and the
// valid box, random starts, and the per-sample perturbation norms reported in pixels. The step and
// the projection are ops.pgdStep's (native/cpu/steps.cc), in every space: written once.
import { Tensor } from '../tensor/tensor';
import { pgdStep } from '../tensor/ops/steps';
import type { AttackSpace } from './space';
import type { Rng } from '../tensor/random';

export type Norm = 'linf' | 'l2';

function perSample(shape: readonly number[]): { N: number; D: number } {
  const N = shape[0];
  return { N, D: shape.slice(1).reduce((a, b) => a * b, 1) };
}

// The largest float32: as a clamp bound it leaves every finite value alone.
const OPEN = 3.4028234663852886e38;

/**
 * One PGD step, a new array: z + alpha * direction(g) (sign(g) for linf, g / ||g|| for l2, no step
 * where g = 0), projected onto {||z - z0|| <= eps} and then the valid box, per sample. alpha is one
 * for all samples or one per sample (APGD's step sizes). In pixel space the box [0, 1] is the op's
 * own clamp; in normalised space the box is [0, 1 / std_c] per channel, so the op runs unclamped
 * and space.clampBox closes it (the op clamps last, so the result is the same).
 */
export function pgdUpdate(
  z: Float32Array,
  g: Float32Array,
  z0: Float32Array,
  eps: number,
  alpha: number | Float64Array,
  norm: Norm,
  space: AttackSpace,
  shape: readonly number[],
): Float32Array {
  if (typeof alpha !== 'number') {
    const { N, D } = perSample(shape),
      one = [1, ...shape.slice(1)],
      out = new Float32Array(z.length);
    for (let n = 0; n < N; n++) {
      const at = (a: Float32Array) => a.subarray(n * D, (n + 1) * D);
      out.set(pgdUpdate(at(z), at(g), at(z0), eps, alpha[n], norm, space, one), n * D);
    }
    return out;
  }
  const box = space.isPixel ? { min: 0, max: 1 } : { min: -OPEN, max: OPEN };
  const out = pgdStep(new Tensor(z, shape), new Tensor(g, shape), {
    x0: new Tensor(z0, shape),
    eps,
    alpha,
    norm,
    ...box,
  }).data;
  return space.isPixel ? out : space.clampBox(out, shape);
}

/** z projected onto {||z - z0|| <= eps} and then the valid box, per sample, as a new array: the step with alpha = 0. */
export function project(
  z: Float32Array,
  z0: Float32Array,
  eps: number,
  norm: Norm,
  space: AttackSpace,
  shape: readonly number[],
): Float32Array {
  return pgdUpdate(z, new Float32Array(z.length), z0, eps, 0, norm, space, shape);
}

/** A start drawn uniformly from the eps-ball around z0 (then clamped to the box). */
export function randomStart(
  z0: Float32Array,
  eps: number,
  norm: Norm,
  rng: Rng,
  space: AttackSpace,
  shape: readonly number[],
): Float32Array {
  const { N, D } = perSample(shape);
  const z = new Float32Array(z0.length);
  for (let n = 0; n < N; n++) {
    const o = n * D;
    if (norm === 'linf') {
      for (let i = o; i < o + D; i++) z[i] = z0[i] + eps * (2 * rng.uniform() - 1);
    } else {
      // Uniform in the ball: a uniform direction, radius eps * u^(1/D).
      const dir = new Float64Array(D);
      let s = 0;
      for (let i = 0; i < D; i++) {
        dir[i] = rng.normal();
        s += dir[i] * dir[i];
      }
      const f = (eps * Math.pow(rng.uniform(), 1 / D)) / Math.sqrt(s);
      for (let i = 0; i < D; i++) z[o + i] = z0[o + i] + f * dir[i];
    }
  }
  return space.clampBox(z, shape);
}

/** Per-sample L-inf and L2 norms of xAdv - x, in pixels. */
export function perturbationNorms(
  xAdv: Float32Array,
  x: Float32Array,
  shape: readonly number[],
): { linf: Float32Array; l2: Float32Array } {
  const { N, D } = perSample(shape);
  const linf = new Float32Array(N),
    l2n = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0,
      s = 0;
    for (let i = n * D; i < (n + 1) * D; i++) {
      const v = Math.abs(xAdv[i] - x[i]);
      if (v > m) m = v;
      s += v * v;
    }
    linf[n] = m;
    l2n[n] = Math.sqrt(s);
  }
  return { linf, l2: l2n };
}

/** Copies sample n of src into dst. */
export function copySample(dst: Float32Array, src: Float32Array, n: number, shape: readonly number[]): void {
  const { D } = perSample(shape);
  dst.set(src.subarray(n * D, (n + 1) * D), n * D);
}
