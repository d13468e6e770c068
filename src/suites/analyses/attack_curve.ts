// Accuracy under attack as the budget grows: the study's Figure 6 (FGSM and PGD accuracy against
// eps, PGD against the number of steps) and its TAIG table (transfer success rate against eps),
// one attack run per point.
import { withDevice } from '../../models/device';
import type { Classifier } from '../../models/evaluate';
import type { LabeledDataset } from '../../io/dataset';
import { runAttack, ATTACK_NAMES, AttackName, AttackOptionsByName, RunAttackOptions } from '../../attacks/run';
import { checkOneOf } from '../../tensor/check';
import {
  DatasetOptions,
  DATASET_OPTIONS,
  checkDataset,
  checkOptionsObject,
  checkNumberList,
  datasetOptions,
  unshardable,
} from './common';

export interface AttackCurveOptions<A extends AttackName = AttackName> extends DatasetOptions {
  /** A name from ATTACKS (fgsm, pgd, apgd-ce, taig-s, ...). */
  attack: A;
  /** What varies: 'eps' (default) or 'steps'. */
  sweep?: 'eps' | 'steps';
  /** The values it takes. */
  values: number[];
  /** The attack's other options (eps when sweeping steps, space, norm, alpha, seed, ...). */
  options?: Partial<AttackOptionsByName[A]>;
  /** Craft on this model and judge on `model` (a transfer attack, as the study's TAIG table). */
  surrogate?: Classifier;
}

export interface AttackCurveResult {
  attack: AttackName;
  sweep: 'eps' | 'steps';
  samples: number;
  clean: number;
  points: { value: number; accuracy: number; drop: number; successRate: number; meanLinf: number; seconds: number }[];
}

export async function attackCurve<A extends AttackName>(
  model: Classifier,
  data: LabeledDataset,
  options: AttackCurveOptions<A>,
): Promise<AttackCurveResult> {
  return withDevice('attackCurve', options?.device, [model, options?.surrogate], () =>
    attackCurveHere<A>(model, data, options),
  );
}

async function attackCurveHere<A extends AttackName>(
  model: Classifier,
  data: LabeledDataset,
  options: AttackCurveOptions<A>,
): Promise<AttackCurveResult> {
  const fn = 'attackCurve';
  const o = checkOptionsObject<Record<string, unknown>>(fn, options, [
    ...DATASET_OPTIONS,
    'attack',
    'sweep',
    'values',
    'options',
    'surrogate',
  ]);
  unshardable(fn, o);
  checkOneOf(fn, 'attack', o.attack, ATTACK_NAMES);
  const sweep = o.sweep === undefined ? 'eps' : o.sweep;
  if (sweep !== 'eps' && sweep !== 'steps')
    throw new RangeError(`${fn}: sweep must be 'eps' or 'steps', got ${JSON.stringify(sweep)}`);
  if (o.values === undefined) throw new TypeError(`${fn}: option 'values' (the ${sweep} values) is required`);
  const values = checkNumberList(fn, 'values', o.values, sweep === 'eps' ? 0 : 1, Infinity, []);
  if (sweep === 'steps' && values.some((v) => !Number.isInteger(v)))
    throw new RangeError(`${fn}: steps values must be integers, got ${values.join(', ')}`);
  const fixed = (o.options ?? {}) as Record<string, unknown>;
  if (sweep === 'steps' && fixed.eps === undefined) throw new TypeError(`${fn}: sweeping steps needs options.eps`);
  const ds = checkDataset(fn, data);
  const { batchSize, count: limit, onProgress } = datasetOptions(fn, ds, o);
  const subset: LabeledDataset =
    limit < ds.length ? { length: limit, load: (a, b) => ds.load(a, b), id: (i) => ds.id(i) } : ds;
  const points: AttackCurveResult['points'] = [];
  let clean = NaN;
  for (const [i, value] of values.entries()) {
    const r = await runAttack(model, subset, {
      attack: o.attack,
      options: { ...fixed, [sweep]: value },
      batchSize,
      surrogate: o.surrogate as Classifier | undefined,
      keepAdversarial: false,
      onProgress: (done: number) => onProgress?.(i * limit + done, values.length * limit),
    } as unknown as RunAttackOptions);
    clean = r.summary.cleanAccuracy;
    points.push({
      value,
      accuracy: r.summary.robustAccuracy,
      drop: clean - r.summary.robustAccuracy,
      successRate: r.summary.successRate,
      meanLinf: r.summary.meanLinf,
      seconds: r.summary.seconds,
    });
  }
  return { attack: o.attack as AttackName, sweep, samples: limit, clean, points };
}
