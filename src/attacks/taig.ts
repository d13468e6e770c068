// TAIG (Huang & Kong, ICLR 2022): transfer attacks that step along the sign of integrated gradients,
// as the published code computes them. With a black reference b = 0 and S = 20, the path points are
// p_s = s/S x for s = 0..S (S + 1 points, both ends included) and IG(x) = (p_S - p_0) * mean_s
// grad(z_y)(p_s). TAIG-S uses that straight line; TAIG-R moves every point by its own noise uniform in
// [-eps, eps] (the code's random path, unclamped). Each step: x <- clip(x - alpha sign(IG(x)),
// x0 +- eps, [0, 1]), alpha = 1/255: down the true class's logit.
import { checkOneOf } from '../tensor/check';
import type { Classifier } from '../models/evaluate';
import { setup, finish, intOption, numberOption, AttackResult, CommonAttackOptions } from './common';
import { lossAndGrad } from './loss';
import { pgdUpdate } from './project';

export interface TaigOptions extends CommonAttackOptions {
  /** 'straight' (TAIG-S, default) or 'random' (TAIG-R). */
  path?: 'straight' | 'random';
  /** Segments of the path, S (default 20: 21 points). */
  points?: number;
  /** Step size (default 1/255). */
  alpha?: number;
  /** Iterations (default ceil(min(eps / alpha + 4, 1.25 eps / alpha)), the basic iterative method's rule). */
  steps?: number;
}

export function taig(model: Classifier, x: unknown, y: unknown, options: TaigOptions): AttackResult {
  const s = setup('taig', model, x, y, options, ['path', 'points', 'alpha', 'steps']);
  if (s.norm !== 'linf') throw new RangeError("taig: only norm 'linf' is implemented (the published attack)");
  if (s.target) throw new TypeError("taig: option 'target' is not supported");
  const path =
    s.o.path === undefined
      ? 'straight'
      : checkOneOf('taig', 'path', s.o.path, ['straight', 'random'], "'straight' is TAIG-S, 'random' TAIG-R");
  const points = intOption(s, 'points', 20);
  const alpha = numberOption(s, 'alpha', 1 / 255, { positive: true });
  const steps = intOption(s, 'steps', Math.max(1, Math.ceil(Math.min(s.eps / alpha + 4, (1.25 * s.eps) / alpha))));
  let z: Float32Array = s.z0.slice();
  for (let t = 0; t < steps; t++) {
    // The 'logit' loss is -z_y, so its IG is minus TAIG's and a +alpha step along its sign goes down z_y.
    const ig = new Float32Array(z.length),
      first = new Float32Array(z.length),
      last = new Float32Array(z.length);
    for (let p = 0; p <= points; p++) {
      const at = new Float32Array(z.length);
      for (let e = 0; e < z.length; e++)
        at[e] = (p / points) * z[e] + (path === 'random' ? s.eps * (2 * s.rng.uniform() - 1) : 0);
      if (p === 0) first.set(at);
      if (p === points) last.set(at);
      const { grad } = lossAndGrad(model, s.space, at, s.shape, s.y, 'logit');
      for (let e = 0; e < z.length; e++) ig[e] += grad[e];
    }
    for (let e = 0; e < z.length; e++) ig[e] *= last[e] - first[e]; // the 1/(S + 1) does not change the sign
    z = pgdUpdate(z, ig, s.z0, s.eps, alpha, 'linf', s.space, s.shape);
  }
  return finish(s, z);
}
