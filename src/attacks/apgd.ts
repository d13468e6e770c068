// APGD-CE and APGD-T (Croce & Hein 2020) as AutoAttack runs them: step 2 eps, momentum 0.75, a
// step-size check at checkpoints (the first after 22% of the iterations, then windows shrinking by
// 3% down to 6%), halving the step of a sample when at most 75% of the window's steps raised its loss
// or when its best loss did not improve since the last checkpoint and the last check did not halve;
// a halved sample restarts from its best point. Only points still classified correctly are attacked.
import { checkOneOf } from '../tensor/check';
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
import { lossAndGrad, lossOnly, LossName, minClasses } from './loss';
import { project, pgdUpdate, randomStart, copySample } from './project';
import { checkImages } from './space';

export interface ApgdOptions extends CommonAttackOptions {
  /** Iterations per run (default 100). */
  steps?: number;
  /** Runs per point (default 1); later runs attack only the points still robust. */
  restarts?: number;
  /** 'ce' (APGD-CE, default) or 'dlr'; APGD-T uses 'dlr-targeted'. */
  loss?: 'ce' | 'dlr';
  /** Momentum weight of the new step (AutoAttack: 0.75). */
  momentum?: number;
  /** The first run's start point (pixels) instead of a random point in the ball. */
  xInit?: unknown;
  /** Called after each iteration of each run (for tracing and tests). */
  onIteration?: (info: ApgdIteration) => void;
}

export interface ApgdTOptions extends Omit<ApgdOptions, 'loss' | 'target'> {
  /** Target classes tried: the 2nd .. (numTargets + 1)th highest clean logits (default 9). */
  numTargets?: number;
}

export interface ApgdIteration {
  /** Run (restart) index, and the target rank for APGD-T (else 0). */
  run: number;
  targetRank: number;
  iteration: number;
  /** Indices (into the batch) of the samples this run attacks. */
  samples: readonly number[];
  loss: Float64Array;
  lossBest: Float64Array;
  stepSize: Float64Array;
  /** True when this iteration was a checkpoint. */
  checkpoint: boolean;
}

/** The iterations (1-based) after which APGD checks its step sizes, and the window length of each check. */
export function apgdCheckpoints(steps: number): { iteration: number; window: number }[] {
  const out: { iteration: number; window: number }[] = [];
  let k = Math.max(Math.floor(0.22 * steps), 1);
  const decr = Math.max(Math.floor(0.03 * steps), 1),
    kMin = Math.max(Math.floor(0.06 * steps), 1);
  let counter = 0;
  for (let i = 0; i < steps; i++) {
    if (++counter === k) {
      out.push({ iteration: i + 1, window: k });
      k = Math.max(k - decr, kMin);
      counter = 0;
    }
  }
  return out;
}

const APGD_OPTIONS = ['steps', 'restarts', 'momentum', 'xInit', 'onIteration'];

export function apgd(model: Classifier, x: unknown, y: unknown, options: ApgdOptions): AttackResult {
  const s = setup('apgd', model, x, y, options, [...APGD_OPTIONS, 'loss']);
  const loss = s.o.loss === undefined ? 'ce' : checkOneOf('apgd', 'loss', s.o.loss, ['ce', 'dlr'], 'APGD-T is apgdT');
  if (s.target) throw new TypeError("apgd: option 'target' is not supported; use apgdT for targeted APGD");
  return runApgd(s, [{ loss, rank: 0 }]);
}

/** APGD-T: for each of the top numTargets non-top classes of the clean logits in turn, targeted DLR on the points still robust. */
export function apgdT(model: Classifier, x: unknown, y: unknown, options: ApgdTOptions): AttackResult {
  const s = setup('apgdT', model, x, y, options, [...APGD_OPTIONS, 'numTargets']);
  const numTargets = intOption(s, 'numTargets', 9);
  return runApgd(
    s,
    Array.from({ length: numTargets }, (_, i) => ({ loss: 'dlr-targeted' as LossName, rank: i + 2 })),
  );
}

function runApgd(s: AttackSetup, plan: { loss: LossName; rank: number }[]): AttackResult {
  const steps = intOption(s, 'steps', 100);
  const restarts = intOption(s, 'restarts', 1);
  const momentum = numberOption(s, 'momentum', 0.75, { min: 0, max: 1 });
  const onIteration = s.o.onIteration as ApgdOptions['onIteration'];
  if (onIteration !== undefined && typeof onIteration !== 'function')
    throw new TypeError(`${s.op}: onIteration must be a function`);
  const xInit =
    s.o.xInit === undefined ? null : s.space.toAttack(checkImages(`${s.op}: xInit`, s.o.xInit).data, s.shape);
  if (xInit && xInit.length !== s.z0.length) throw new RangeError(`${s.op}: xInit must have the shape of x`);

  const N = s.shape[0],
    D = s.z0.length / N;
  const clean = lossOnly(s.model, s.space, s.z0, s.shape, s.y, 'ce');
  const K = clean.logits.length / N;
  for (const p of plan)
    if (K < minClasses(p.loss))
      throw new RangeError(
        `${s.op}: the ${p.loss} loss needs at least ${minClasses(p.loss)} classes, the model has ${K}`,
      );
  const robust = Uint8Array.from({ length: N }, (_, n) => +(argmaxRow(clean.logits, n, K) === s.y[n]));
  const adv = s.z0.slice();
  let first = true;
  for (const { loss, rank } of plan) {
    for (let r = 0; r < restarts; r++) {
      const idx = [...robust.keys()].filter((n) => robust[n]);
      if (idx.length === 0) break;
      const sub = subProblem(s, idx, D);
      const target = rank ? Int32Array.from(idx, (n) => rankedClass(clean.logits, n, K, rank)) : null;
      const start =
        first && xInit ? gather(xInit, idx, D) : randomStart(sub.z0, s.eps, s.norm, s.rng, s.space, sub.shape);
      first = false;
      const out = apgdRun(s, sub, start, loss, target, steps, momentum, (info) =>
        onIteration?.({ ...info, run: r, targetRank: rank, samples: idx }),
      );
      idx.forEach((n, j) => {
        if (out.robust[j]) return;
        robust[n] = 0;
        adv.set(out.zBestAdv.subarray(j * D, (j + 1) * D), n * D); // row j of the run is sample n
      });
    }
  }
  return finish(s, adv, {}, { clean: clean.logits });
}

/** The class with the rank-th highest logit of row n (rank 1 = the top; ties keep the lower index). */
export function rankedClass(logits: Float32Array, n: number, K: number, rank: number): number {
  const row = Array.from(logits.subarray(n * K, (n + 1) * K));
  const order = row.map((_, j) => j).sort((a, b) => row[b] - row[a] || a - b);
  return order[rank - 1];
}

interface SubProblem {
  z0: Float32Array;
  y: Int32Array;
  shape: number[];
}

function subProblem(s: AttackSetup, idx: number[], D: number): SubProblem {
  return { z0: gather(s.z0, idx, D), y: Int32Array.from(idx, (n) => s.y[n]), shape: samplesShape(s.shape, idx.length) };
}

type IterationInfo = Omit<ApgdIteration, 'run' | 'targetRank' | 'samples'>;

/** One APGD run on a sub-batch from `start`; returns the last misclassified point per sample (or the start). */
function apgdRun(
  s: AttackSetup,
  p: SubProblem,
  start: Float32Array,
  loss: LossName,
  target: Int32Array | null,
  steps: number,
  momentum: number,
  trace: (info: IterationInfo) => void,
): { robust: Uint8Array; zBestAdv: Float32Array; zBest: Float32Array } {
  const { shape } = p,
    N = shape[0],
    D = p.z0.length / N;
  const evaluate = (z: Float32Array) => lossAndGrad(s.model, s.space, z, shape, p.y, loss, target);
  const project_ = (z: Float32Array) => project(z, p.z0, s.eps, s.norm, s.space, shape);

  let z: Float32Array = project_(start.slice());
  const zBestAdv = z.slice();
  let cur = evaluate(z);
  let grad = cur.grad;
  const zBest = z.slice(),
    gradBest = grad.slice();
  const lossBest = Float64Array.from(cur.loss);
  const K = cur.logits.length / N;
  const robust = Uint8Array.from({ length: N }, (_, n) => +(argmaxRow(cur.logits, n, K) === p.y[n]));
  const stepSize = new Float64Array(N).fill(2 * s.eps);
  const lossSteps = Array.from({ length: steps }, () => new Float64Array(N));
  const checks = new Map(apgdCheckpoints(steps).map((c) => [c.iteration - 1, c.window]));
  let lossBestLastCheck = Float64Array.from(lossBest);
  let reducedLastCheck = new Uint8Array(N).fill(1);
  let zOld: Float32Array = z.slice();

  for (let i = 0; i < steps; i++) {
    // The momentum step: z1 = P(z + eta * dir(grad)), then P(z + a (z1 - z) + (1 - a) (z - z_old)).
    const a = i > 0 ? momentum : 1;
    const z1 = pgdUpdate(z, grad, p.z0, s.eps, stepSize, s.norm, s.space, shape);
    const next = new Float32Array(z.length);
    for (let e = 0; e < z.length; e++) next[e] = z[e] + (z1[e] - z[e]) * a + (z[e] - zOld[e]) * (1 - a);
    zOld = z;
    z = project_(next);

    cur = evaluate(z);
    grad = cur.grad;
    for (let n = 0; n < N; n++) {
      if (argmaxRow(cur.logits, n, K) !== p.y[n]) {
        robust[n] = 0;
        copySample(zBestAdv, z, n, shape);
      }
      lossSteps[i][n] = cur.loss[n];
      if (cur.loss[n] > lossBest[n]) {
        copySample(zBest, z, n, shape);
        gradBest.set(grad.subarray(n * D, (n + 1) * D), n * D);
        lossBest[n] = cur.loss[n];
      }
    }
    const window = checks.get(i);
    if (window !== undefined) {
      const reduced = new Uint8Array(N);
      for (let n = 0; n < N; n++) {
        // AutoAttack indexes the loss history with Python's wrap-around: before the first step it reads the last (still zero) row.
        let increased = 0;
        for (let c = 0; c < window; c++) {
          const j = i - c;
          if (lossSteps[j][n] > lossSteps[(j - 1 + steps) % steps][n]) increased++;
        }
        const oscillating = increased <= window * 0.75;
        const stalled = !reducedLastCheck[n] && lossBestLastCheck[n] >= lossBest[n];
        reduced[n] = +(oscillating || stalled);
        if (reduced[n]) {
          stepSize[n] /= 2;
          copySample(z, zBest, n, shape);
          grad.set(gradBest.subarray(n * D, (n + 1) * D), n * D);
        }
      }
      reducedLastCheck = reduced;
      lossBestLastCheck = Float64Array.from(lossBest);
    }
    trace({
      iteration: i + 1,
      loss: cur.loss,
      lossBest: Float64Array.from(lossBest),
      stepSize: Float64Array.from(stepSize),
      checkpoint: window !== undefined,
    });
  }
  return { robust, zBestAdv, zBest };
}
