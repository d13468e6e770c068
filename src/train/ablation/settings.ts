// How much each of the ablation's runs trains and how hard it is attacked: the default and --quick.
// Every field is part of the run's identity (a folder resumes only under the same settings).

export interface AblationSettings {
  /** Training samples used (a prefix of the training data). */
  trainSamples: number;
  /** Held-out samples for the clean, PGD and AutoAttack accuracies (a prefix of the test data). */
  testSamples: number;
  epochs: number;
  batchSize: number;
  /** AdamW, peak learning rate after a linear warm-up, cosine to 0. */
  lr: number;
  weightDecay: number;
  warmupEpochs: number;
  labelSmoothing: number;
  /** Adversarial training: none (standard training), PGD-AT or TRADES, as fit's `adversarial`. */
  adversarial: 'none' | 'pgd-at' | 'trades';
  /** Attack steps per training batch (adversarial training). */
  trainAttackSteps: number;
  /** eps rises linearly from 0 over these epochs (the robust-ViT recipe's warm-up). */
  epsWarmupEpochs: number;
  /** L-inf radius in [0, 1] pixels, for adversarial training and both evaluations. */
  eps: number;
  /** PGD steps of the evaluation (random start, step 2.5 eps / steps). */
  pgdSteps: number;
  /** APGD and FAB-T iterations of the AutoAttack ensemble (AutoAttack: 100). */
  autoattackSteps: number;
  /** Square queries of the ensemble (AutoAttack: 5000). */
  autoattackQueries: number;
  evalBatchSize: number;
}

export const DEFAULT_ABLATION_SETTINGS: AblationSettings = {
  trainSamples: 5000,
  testSamples: 500,
  epochs: 6,
  batchSize: 64,
  lr: 5e-3,
  weightDecay: 0.05,
  warmupEpochs: 1,
  labelSmoothing: 0.1,
  adversarial: 'none',
  trainAttackSteps: 5,
  epsWarmupEpochs: 0,
  eps: 8 / 255,
  pgdSteps: 10,
  autoattackSteps: 100,
  autoattackQueries: 5000,
  evalBatchSize: 100,
};

/** --quick: a few minutes for all 16 runs on the digits (2 cores). */
export const QUICK_ABLATION_SETTINGS: AblationSettings = {
  ...DEFAULT_ABLATION_SETTINGS,
  trainSamples: 2000,
  testSamples: 100,
  epochs: 3,
  batchSize: 32,
  warmupEpochs: 0,
  trainAttackSteps: 2,
  pgdSteps: 5,
  autoattackSteps: 5,
  autoattackQueries: 50,
};

const INTEGER_KEYS = [
  'trainSamples',
  'testSamples',
  'epochs',
  'batchSize',
  'trainAttackSteps',
  'pgdSteps',
  'autoattackSteps',
  'autoattackQueries',
  'evalBatchSize',
] as const;
const NUMBER_KEYS = ['lr', 'weightDecay', 'warmupEpochs', 'labelSmoothing', 'epsWarmupEpochs', 'eps'] as const;
const ADVERSARIAL = ['none', 'pgd-at', 'trades'] as const;

/** The base settings with `overrides` applied, each checked (errors name the setting). */
export function ablationSettings(fn: string, quick: boolean, overrides: unknown = {}): AblationSettings {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))
    throw new TypeError(`${fn}: settings must be an object`);
  const known = [...INTEGER_KEYS, ...NUMBER_KEYS, 'adversarial'] as string[];
  const unknown = Object.keys(overrides).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new RangeError(`${fn}: unknown setting(s) ${unknown.join(', ')}; it takes ${known.join(', ')}`);
  const s: AblationSettings = {
    ...(quick ? QUICK_ABLATION_SETTINGS : DEFAULT_ABLATION_SETTINGS),
    ...(overrides as Partial<AblationSettings>),
  };
  for (const k of INTEGER_KEYS)
    if (!Number.isSafeInteger(s[k]) || s[k] < 1)
      throw new RangeError(`${fn}: settings.${k} must be an integer >= 1, got ${String(s[k])}`);
  for (const k of NUMBER_KEYS)
    if (typeof s[k] !== 'number' || !Number.isFinite(s[k]) || s[k] < 0)
      throw new RangeError(`${fn}: settings.${k} must be a finite number >= 0, got ${String(s[k])}`);
  if (!(s.lr > 0)) throw new RangeError(`${fn}: settings.lr must be > 0, got ${s.lr}`);
  if (!(s.eps > 0 && s.eps <= 1)) throw new RangeError(`${fn}: settings.eps must be in (0, 1] (pixels), got ${s.eps}`);
  if (s.labelSmoothing >= 1)
    throw new RangeError(`${fn}: settings.labelSmoothing must be < 1, got ${s.labelSmoothing}`);
  if (!ADVERSARIAL.includes(s.adversarial))
    throw new RangeError(
      `${fn}: settings.adversarial must be one of ${ADVERSARIAL.join(', ')}, got ${JSON.stringify(s.adversarial)}`,
    );
  // MixUp and CutMix pair each sample with the batch's flip.
  if (s.batchSize % 2 !== 0)
    throw new RangeError(`${fn}: settings.batchSize must be even (MixUp/CutMix pair samples), got ${s.batchSize}`);
  return s;
}
