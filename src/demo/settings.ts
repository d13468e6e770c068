// How much the demo trains and measures per seed: the default run and --quick (what the test runs).
// Every figure records the settings it was made with.
import { Perturbation, PERTURBATIONS } from './perturb';
import { checkOneOf } from '../tensor/check';

export interface DemoSettings {
  /** Training digits used (a prefix of the shuffled training split, at most 8,000). */
  trainSamples: number;
  epochs: number;
  batchSize: number;
  /** AdamW, peak learning rate after a linear warm-up, cosine to 0. */
  lr: number;
  weightDecay: number;
  warmupEpochs: number;
  labelSmoothing: number;
  /** Random translation of the training digits, in pixels. */
  maxShift: number;
  /** Held-out digits for clean accuracy and occlusion. */
  testSamples: number;
  /** Held-out digits for the noise measures (band, white and brightness noise). */
  noiseSamples: number;
  /** Held-out digits for the attack curves. */
  attackSamples: number;
  /** Held-out digits for the lesion study. */
  lesionSamples: number;
  evalBatchSize: number;
  /** L-inf budgets in pixel units ([0, 1] scale, MNIST's convention). */
  eps: number[];
  pgdSteps: number;
  /** The eps the summary table reports. */
  headlineEps: number;
  occlusionRatios: number[];
  occlusionPatch: number;
  frequencyBands: number[];
  frequencyNoiseStd: number;
  lesionTrials: number;
  /** Where attacks and noise act: the digit's one grey channel (default) or the three copies independently. */
  perturb: Perturbation;
}

export const DEFAULT_SETTINGS: DemoSettings = {
  trainSamples: 5000,
  epochs: 4,
  batchSize: 64,
  lr: 5e-3,
  weightDecay: 0.05,
  warmupEpochs: 1,
  labelSmoothing: 0.1,
  maxShift: 2,
  testSamples: 1000,
  noiseSamples: 500,
  attackSamples: 300,
  lesionSamples: 500,
  evalBatchSize: 100,
  eps: [0, 0.02, 0.05, 0.1, 0.2],
  pgdSteps: 10,
  headlineEps: 0.05,
  occlusionRatios: [0.1, 0.3, 0.5, 0.7, 0.9],
  occlusionPatch: 4,
  frequencyBands: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
  frequencyNoiseStd: 0.15,
  lesionTrials: 4,
  perturb: 'grey',
};

/** Seeds of a default run and of --quick: enough for a paired test, few enough to end in minutes. */
export const DEFAULT_SEEDS = 4;
export const QUICK_SEEDS = 2;

export const QUICK_SETTINGS: DemoSettings = {
  ...DEFAULT_SETTINGS,
  trainSamples: 2000,
  epochs: 3,
  batchSize: 32,
  warmupEpochs: 0,
  testSamples: 200,
  noiseSamples: 100,
  attackSamples: 60,
  lesionSamples: 100,
  eps: [0, 0.05, 0.2],
  pgdSteps: 5,
  occlusionRatios: [0.5],
  frequencyBands: [0, 0.3, 0.6, 0.9],
  lesionTrials: 2,
};

const INTEGER_KEYS = [
  'trainSamples',
  'epochs',
  'batchSize',
  'testSamples',
  'noiseSamples',
  'attackSamples',
  'lesionSamples',
  'evalBatchSize',
  'pgdSteps',
  'occlusionPatch',
  'lesionTrials',
] as const;
const NUMBER_KEYS = [
  'lr',
  'weightDecay',
  'warmupEpochs',
  'labelSmoothing',
  'maxShift',
  'headlineEps',
  'frequencyNoiseStd',
] as const;
const LIST_KEYS = ['eps', 'occlusionRatios', 'frequencyBands'] as const;

/** The base settings with `overrides` applied, each checked. */
export function demoSettings(quick: boolean, overrides: Partial<DemoSettings> = {}): DemoSettings {
  const fn = 'runDemo';
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))
    throw new TypeError(`${fn}: settings must be an object`);
  const known = [...INTEGER_KEYS, ...NUMBER_KEYS, ...LIST_KEYS, 'perturb'] as string[];
  const unknown = Object.keys(overrides).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new RangeError(`${fn}: unknown setting(s) ${unknown.join(', ')}; it takes ${known.join(', ')}`);
  const s: DemoSettings = { ...(quick ? QUICK_SETTINGS : DEFAULT_SETTINGS), ...overrides };
  for (const k of INTEGER_KEYS)
    if (!Number.isInteger(s[k]) || s[k] < 1)
      throw new RangeError(`${fn}: settings.${k} must be an integer >= 1, got ${String(s[k])}`);
  for (const k of NUMBER_KEYS)
    if (typeof s[k] !== 'number' || !Number.isFinite(s[k]) || s[k] < 0)
      throw new RangeError(`${fn}: settings.${k} must be a finite number >= 0, got ${String(s[k])}`);
  for (const k of LIST_KEYS)
    if (!Array.isArray(s[k]) || s[k].length === 0 || s[k].some((v) => typeof v !== 'number' || !(v >= 0 && v <= 1)))
      throw new RangeError(
        `${fn}: settings.${k} must be a non-empty array of numbers in [0, 1], got ${JSON.stringify(s[k])}`,
      );
  if (!(s.lr > 0)) throw new RangeError(`${fn}: settings.lr must be > 0, got ${s.lr}`);
  if (!Number.isInteger(s.maxShift))
    throw new RangeError(`${fn}: settings.maxShift must be an integer, got ${s.maxShift}`);
  if (!s.eps.some((e) => e > 0)) throw new RangeError(`${fn}: settings.eps needs a value > 0`);
  checkOneOf(fn, 'settings.perturb', s.perturb, PERTURBATIONS);
  if (s.labelSmoothing >= 1)
    throw new RangeError(`${fn}: settings.labelSmoothing must be < 1, got ${s.labelSmoothing}`);
  return s;
}
