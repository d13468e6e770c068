// FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018), L-inf and L2, untargeted or targeted,
// with a random start in the ball and restarts that keep each sample's worst case.
import { Classifier, argmaxRow } from '../models/evaluate';
import {
  setup,
  finish,
  intOption,
  numberOption,
  boolOption,
  AttackResult,
  CommonAttackOptions,
  AttackSetup,
} from './common';
import { lossAndGrad, lossOnly, LossName } from './loss';
import { pgdUpdate, randomStart, copySample } from './project';

/** FGSM takes only the options every attack shares. */
export type FgsmOptions = CommonAttackOptions;

/** One step of size eps along the sign (L-inf) or the unit gradient (L2) of the cross-entropy, from x. */
export function fgsm(model: Classifier, x: unknown, y: unknown, options: FgsmOptions): AttackResult {
  const s = setup('fgsm', model, x, y, options, []);
  const g = lossAndGrad(model, s.space, s.z0, s.shape, s.y, s.target ? 'ce-targeted' : 'ce', s.target);
  return finish(s, pgdUpdate(s.z0, g.grad, s.z0, s.eps, s.eps, s.norm, s.space, s.shape), {}, { clean: g.logits });
}

export interface PgdOptions extends CommonAttackOptions {
  /** Iterations (default 10). */
  steps?: number;
  /** Step size (default 2.5 * eps / steps, Madry et al.'s choice). */
  alpha?: number;
  /** Start uniformly at random in the eps-ball (default true). */
  randomStart?: boolean;
  /** Independent runs; each sample keeps its first success, else its highest-loss point (default 1). */
  restarts?: number;
}

const PGD_OPTIONS = ['steps', 'alpha', 'randomStart', 'restarts'];

export function pgd(model: Classifier, x: unknown, y: unknown, options: PgdOptions): AttackResult {
  const s = setup('pgd', model, x, y, options, PGD_OPTIONS);
  const steps = intOption(s, 'steps', 10);
  const alpha = numberOption(s, 'alpha', (2.5 * s.eps) / steps, { min: 0 });
  const start = boolOption(s, 'randomStart', true);
  const restarts = intOption(s, 'restarts', 1);
  const loss: LossName = s.target ? 'ce-targeted' : 'ce';
  const N = s.shape[0];

  let best: Float32Array | null = null,
    bestLogits: Float32Array | null = null;
  const bestLoss = new Float64Array(N).fill(-Infinity);
  const done = new Uint8Array(N); // reached the goal in an earlier restart
  for (let r = 0; r < restarts; r++) {
    const z = runPgd(s, steps, alpha, start, loss);
    const { loss: l, logits } = lossOnly(model, s.space, z, s.shape, s.y, loss, s.target);
    if (!best) best = z.slice();
    if (!bestLogits) bestLogits = logits.slice();
    const K = logits.length / N;
    for (let n = 0; n < N; n++) {
      if (done[n]) continue;
      const p = argmaxRow(logits, n, K);
      const success = s.target ? p === s.target[n] : p !== s.y[n];
      if (success || l[n] > bestLoss[n]) {
        copySample(best, z, n, s.shape);
        bestLogits.set(logits.subarray(n * K, (n + 1) * K), n * K);
        bestLoss[n] = l[n];
        if (success) done[n] = 1;
      }
    }
  }
  return finish(s, best!, {}, { adv: bestLogits! });
}

function runPgd(s: AttackSetup, steps: number, alpha: number, start: boolean, loss: LossName): Float32Array {
  let z = start ? randomStart(s.z0, s.eps, s.norm, s.rng, s.space, s.shape) : s.z0.slice();
  for (let t = 0; t < steps; t++) {
    const g = lossAndGrad(s.model, s.space, z, s.shape, s.y, loss, s.target);
    z = pgdUpdate(z, g.grad, s.z0, s.eps, alpha, s.norm, s.space, s.shape);
  }
  return z;
}
