// Training augmentations described by name, so that fit, `lkvit train --augment` and the worker API
// share them: timm-style strings ('rand-m9-mstd0.5-inc1', 'erase-p0.25-pixel', 'mixup-a0.8',
// 'cutmix-a1') or plain objects ({ name: 'mixup', alpha: 0.8 }), alone or in a list, applied in the
// list's order; mixup and cutmix come last (they mix labels) and merge into one timm Mixup. Each
// family draws from its own stream keyed by (seed, step, family, occurrence), so adding one
// augmentation leaves the others' draws unchanged and a resumed run repeats them exactly.
import { Tensor } from '../../tensor/tensor';
import { Rng } from '../../tensor/random';
import { checkOneOf } from '../../tensor/check';
import {
  RandAugmentSpec,
  CheckedRandAugment,
  checkRandAugment,
  parseRandAugmentString,
  randAugment,
} from './randaugment';
import { RandomErasingSpec, CheckedErasing, checkErasing, randomErasing } from './erasing';
import { MixupSpec, CutmixSpec, CheckedMix, checkMix, mixBatch } from './mixup';

export type AugmentFunction = (x: Tensor, rng: Rng) => Tensor;
export type NamedAugment = string | RandAugmentSpec | RandomErasingSpec | MixupSpec | CutmixSpec;
/** What fit's `augment` takes: a function (x, rng) => x, a named spec, or a list of either. */
export type AugmentSpec = AugmentFunction | NamedAugment | (AugmentFunction | NamedAugment)[];

/** A checked stage: JSON for the named ones (what a checkpoint records), or a caller's function. */
export type AugmentStage = CheckedRandAugment | CheckedErasing | CheckedMix | { name: 'function'; fn: AugmentFunction };

// Stream families (the 4th key of Rng.keyed(seed, AUGMENT, step, family, occurrence)).
const FAMILY: Record<AugmentStage['name'], number> = { randaugment: 1, erase: 2, mix: 3, function: 4 };

const NAMES = ['randaugment', 'erase', 'mixup', 'cutmix'];

/** One timm-style string as a spec object: rand-..., erase-..., mixup-..., cutmix-... */
export function parseAugmentString(fn: string, text: string): Exclude<NamedAugment, string> {
  const t = text.trim();
  if (t === 'rand' || t.startsWith('rand-')) return parseRandAugmentString(fn, t);
  if (t === 'randaugment') return { name: 'randaugment' };
  const [head, ...sections] = t.split('-');
  const keys: Record<string, Record<string, string>> = {
    erase: { p: 'prob', c: 'maxCount' },
    mixup: { a: 'alpha', p: 'prob', s: 'switchProb' },
    cutmix: { a: 'alpha', p: 'prob', s: 'switchProb' },
  };
  const words: Record<string, [string, string[]]> = {
    erase: ['mode', ['const', 'rand', 'pixel']],
    mixup: ['mode', ['batch', 'pair', 'elem']],
    cutmix: ['mode', ['batch', 'pair', 'elem']],
  };
  if (!(head in keys))
    throw new RangeError(
      `${fn}: unknown augmentation ${JSON.stringify(text)}; expected rand-..., erase-..., mixup-... or cutmix-... (or a { name, ... } object)`,
    );
  const spec: Record<string, unknown> = { name: head };
  for (const s of sections) {
    const [wordKey, wordValues] = words[head];
    if (wordValues.includes(s)) {
      spec[wordKey] = s;
      continue;
    }
    const m = /^([a-z]+)(\d.*)$/.exec(s);
    const key = m && keys[head][m[1]],
      value = m ? Number(m[2]) : NaN;
    if (!key || !Number.isFinite(value))
      throw new RangeError(
        `${fn}: section ${JSON.stringify(s)} of ${JSON.stringify(text)} is not one of ${Object.keys(keys[head])
          .map((k) => `${k}<number>`)
          .join(', ')}, ${wordValues.join(', ')}`,
      );
    spec[key] = value;
  }
  return spec as unknown as Exclude<NamedAugment, string>;
}

/** Checks `spec` (fit's augment) and returns its stages in order, mixup and cutmix merged at the end. */
export function parseAugment(fn: string, spec: unknown): AugmentStage[] {
  const list = Array.isArray(spec) ? spec : [spec];
  const stages: AugmentStage[] = [];
  const mixes: Record<string, unknown>[] = [];
  list.forEach((item, i) => {
    const at = Array.isArray(spec) ? `augment[${i}]` : 'augment';
    if (typeof item === 'function') {
      if (mixes.length)
        throw new RangeError(`${fn}: ${at} comes after mixup/cutmix; they mix the labels and must come last`);
      stages.push({ name: 'function', fn: item as AugmentFunction });
      return;
    }
    const s = typeof item === 'string' ? parseAugmentString(fn, item) : item;
    if (typeof s !== 'object' || s === null || Array.isArray(s))
      throw new TypeError(
        `${fn}: ${at} must be a function, a string such as 'rand-m9-mstd0.5' or an object { name, ... }, got ${JSON.stringify(s)}`,
      );
    const o = s as Record<string, unknown>;
    checkOneOf(fn, `${at}.name`, o.name, NAMES);
    if (o.name === 'mixup' || o.name === 'cutmix') {
      if (mixes.some((m) => m.name === o.name)) throw new RangeError(`${fn}: ${at}: ${o.name} is given twice`);
      mixes.push(o);
      return;
    }
    if (mixes.length)
      throw new RangeError(`${fn}: ${at} (${o.name}) comes after mixup/cutmix; they mix the labels and must come last`);
    const known =
      o.name === 'randaugment'
        ? ['magnitude', 'numOps', 'magnitudeStd', 'magnitudeMax', 'prob', 'increasing', 'ops', 'interpolation', 'fill']
        : ['prob', 'minArea', 'maxArea', 'minAspect', 'maxAspect', 'mode', 'minCount', 'maxCount'];
    for (const k of Object.keys(o))
      if (k !== 'name' && !known.includes(k))
        throw new TypeError(`${fn}: unknown option '${k}' of augment ${o.name} (known: ${known.join(', ')})`);
    stages.push(o.name === 'randaugment' ? checkRandAugment(fn, o) : checkErasing(fn, o));
  });
  if (mixes.length) stages.push(checkMix(fn, mixes));
  return stages;
}

/** `--augment`'s text: a JSON list or object, or comma-separated strings. */
export function parseAugmentText(fn: string, text: string): NamedAugment[] {
  const t = text.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw new RangeError(`${fn}: --augment is not valid JSON (${(e as Error).message})`, { cause: e });
    }
    const list = Array.isArray(v) ? v : [v];
    parseAugment(fn, list);
    return list as NamedAugment[];
  }
  const list = t
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (!list.length)
    throw new RangeError(`${fn}: --augment is empty; give e.g. rand-m9-mstd0.5-inc1,erase-p0.25,mixup,cutmix`);
  parseAugment(fn, list);
  return list;
}

export interface AugmentContext {
  /** The model's normalisation (RandAugment's fill, Random Erasing's values). */
  mean: readonly number[];
  std: readonly number[];
  numClasses: number;
  labelSmoothing: number;
}

export interface Augmented {
  x: Tensor;
  /** Soft targets [N, K] when the pipeline mixes, else null (train on the labels). */
  targets: Tensor | null;
}

/** A checked pipeline, ready to run on batches. */
export class Augmentation {
  readonly stages: AugmentStage[];
  /** The named stages as JSON (functions as 'function'): what a checkpoint compares on resume. */
  readonly settings: unknown[];

  /** `fn` names the caller in errors. */
  constructor(
    spec: AugmentSpec,
    readonly context: AugmentContext,
    fn = 'augment',
  ) {
    this.stages = parseAugment(fn, spec);
    this.settings = this.stages.map((s) => (s.name === 'function' ? 'function' : s));
  }

  get mixes(): boolean {
    return this.stages.some((s) => s.name === 'mix');
  }

  /** Augments one batch; draws come from Rng.keyed(...key, family, occurrence). */
  apply(x: Tensor, y: Int32Array, key: number[]): Augmented {
    const seen: Record<string, number> = {};
    let targets: Tensor | null = null;
    for (const s of this.stages) {
      const occurrence = (seen[s.name] = (seen[s.name] ?? -1) + 1);
      const rng = Rng.keyed(...key, FAMILY[s.name], occurrence);
      const c = this.context;
      if (s.name === 'function') x = s.fn(x, rng);
      else if (s.name === 'randaugment') x = randAugment(x, s, rng, c.mean);
      else if (s.name === 'erase') x = randomErasing(x, s, rng, c.mean, c.std);
      else ({ x, targets } = mixBatch(s, x, y, c.numClasses, c.labelSmoothing, rng));
    }
    return { x, targets };
  }
}

export {
  RAND_TRANSFORMS,
  RAND_INCREASING_TRANSFORMS,
  RAND_AUGMENT_OPS,
  LEVEL_DENOM,
  randAugment,
  randAugmentPlan,
  checkRandAugment,
} from './randaugment';
export type { RandAugmentSpec, CheckedRandAugment, PlannedOp } from './randaugment';
export { randomErasing, erasingBoxes, erase, checkErasing } from './erasing';
export type { RandomErasingSpec, CheckedErasing, ErasingMode, Box } from './erasing';
export { mixBatch, mixupTarget, cutmixBox, softTargetCrossEntropy, checkMix } from './mixup';
export type { MixupSpec, CutmixSpec, CheckedMix, MixMode, MixResult, CutmixBox } from './mixup';
export { affine, rotate, inverseAffineMatrix } from './geometry';
export type { AffineOptions, Interpolation } from './geometry';
export {
  invert,
  posterize,
  solarize,
  solarizeAdd,
  autocontrast,
  equalize,
  adjustBrightness,
  adjustSaturation,
  adjustContrast,
  adjustSharpness,
  toUint8,
} from './color';
export { beta, gamma } from './sample';
