// How much the demo trains and measures: the default run (about 6 minutes on 2 cores) and --quick
// (about a minute, what the test runs). Every figure records the settings it was made with.

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
  /** Held-out digits for clean accuracy, occlusion and frequency noise. */
  testSamples: number;
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
}

export const DEFAULT_SETTINGS: DemoSettings = {
  trainSamples: 8000, epochs: 6, batchSize: 64, lr: 5e-3, weightDecay: 0.05, warmupEpochs: 1, labelSmoothing: 0.1, maxShift: 2,
  testSamples: 2000, attackSamples: 500, lesionSamples: 1000, evalBatchSize: 100,
  eps: [0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3], pgdSteps: 10, headlineEps: 0.05,
  occlusionRatios: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], occlusionPatch: 4,
  frequencyBands: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], frequencyNoiseStd: 0.15,
  lesionTrials: 6,
};

export const QUICK_SETTINGS: DemoSettings = {
  ...DEFAULT_SETTINGS,
  trainSamples: 4000, epochs: 3, batchSize: 32, warmupEpochs: 0,
  testSamples: 300, attackSamples: 100, lesionSamples: 200,
  eps: [0, 0.05, 0.1, 0.2], pgdSteps: 5,
  occlusionRatios: [0.25, 0.5, 0.75], frequencyBands: [0, 0.3, 0.6, 0.9], lesionTrials: 3,
};

const INTEGER_KEYS = ['trainSamples', 'epochs', 'batchSize', 'testSamples', 'attackSamples', 'lesionSamples', 'evalBatchSize', 'pgdSteps', 'occlusionPatch', 'lesionTrials'] as const;
const NUMBER_KEYS = ['lr', 'weightDecay', 'warmupEpochs', 'labelSmoothing', 'maxShift', 'headlineEps', 'frequencyNoiseStd'] as const;
const LIST_KEYS = ['eps', 'occlusionRatios', 'frequencyBands'] as const;

/** The base settings with `overrides` applied, each checked. */
export function demoSettings(quick: boolean, overrides: Partial<DemoSettings> = {}): DemoSettings {
  const fn = 'runDemo';
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) throw new TypeError(`${fn}: settings must be an object`);
  const known = [...INTEGER_KEYS, ...NUMBER_KEYS, ...LIST_KEYS] as string[];
  const unknown = Object.keys(overrides).filter((k) => !known.includes(k));
  if (unknown.length) throw new RangeError(`${fn}: unknown setting(s) ${unknown.join(', ')}; it takes ${known.join(', ')}`);
  const s: DemoSettings = { ...(quick ? QUICK_SETTINGS : DEFAULT_SETTINGS), ...overrides };
  for (const k of INTEGER_KEYS)
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new RangeError(`${fn}: settings.${k} must be an integer >= 1, got ${String(s[k])}`);
  for (const k of NUMBER_KEYS)
    if (typeof s[k] !== 'number' || !Number.isFinite(s[k]) || s[k] < 0) throw new RangeError(`${fn}: settings.${k} must be a finite number >= 0, got ${String(s[k])}`);
  for (const k of LIST_KEYS)
    if (!Array.isArray(s[k]) || s[k].length === 0 || s[k].some((v) => typeof v !== 'number' || !(v >= 0 && v <= 1)))
      throw new RangeError(`${fn}: settings.${k} must be a non-empty array of numbers in [0, 1], got ${JSON.stringify(s[k])}`);
  if (!(s.lr > 0)) throw new RangeError(`${fn}: settings.lr must be > 0, got ${s.lr}`);
  if (!Number.isInteger(s.maxShift)) throw new RangeError(`${fn}: settings.maxShift must be an integer, got ${s.maxShift}`);
  if (!s.eps.some((e) => e > 0)) throw new RangeError(`${fn}: settings.eps needs a value > 0`);
  if (s.labelSmoothing >= 1) throw new RangeError(`${fn}: settings.labelSmoothing must be < 1, got ${s.labelSmoothing}`);
  return s;
}
