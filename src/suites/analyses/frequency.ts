// Robustness to noise by frequency (the study's 4.4) and Yin et al.'s Fourier heat map: accuracy
// under perturbations confined to one part of the centred 2-D spectrum.
import { withDevice } from '../../models/device';
import { Tensor } from '../../tensor/tensor';
import { checkOneOf } from '../../tensor/check';
import type { ImageClassifier } from '../../models/classifier';
import type { LabeledDataset } from '../../io/dataset';
import {
  DatasetOptions,
  DATASET_OPTIONS,
  accuracyOf,
  correctCounts,
  checkDataset,
  checkInt,
  checkModel,
  checkNumber,
  checkNumberList,
  checkOptionsObject,
  countCorrect,
  datasetOptions,
  sum,
  Rng,
} from './common';
import { Complex2d, bandLimited, bandMask, dft2, fourierBasis } from './spectrum';

/** How large the band noise is, per image and channel: its RMS, or its L2 norm. */
export type NoiseScale = { std: number } | { l2: number };

export interface FrequencyNoiseOptions extends DatasetOptions {
  /** Lower edges of the bands, in units of pi (default 0, 0.1, ..., 0.9). */
  bands?: number[];
  /** Width of each band in units of pi (default 0.1). */
  bandWidth?: number;
  /** Noise size per image and channel (default { std: 0.1 } on [0, 1] images). */
  noise?: NoiseScale;
  /** 'independent' (default): each channel its own noise; 'shared': one draw added to every channel
   * (grey images stored as three equal channels stay grey). */
  channels?: 'independent' | 'shared';
  /** Clamp the noisy image to [0, 1] (default true). On a black background clamping removes the
   * negative half of the noise, which adds a brightness offset: false measures the noise alone. */
  clip?: boolean;
  /** Whether the zero frequency (each channel's mean: a brightness offset) belongs to the band that
   * starts at 0 (default true). false keeps every band zero-mean. */
  zeroFrequency?: boolean;
  seed?: number;
}

export interface FrequencyBandPoint {
  /** Band [lo, hi) in units of pi. */
  lo: number;
  hi: number;
  accuracy: number;
  /** clean - accuracy. */
  drop: number;
  /** Samples still classified correctly (exact, for merging shards). */
  correct: number;
}

export interface FrequencyNoiseResult {
  samples: number;
  seed: number;
  noise: NoiseScale;
  channels: 'independent' | 'shared';
  clip: boolean;
  zeroFrequency: boolean;
  clean: number;
  cleanCorrect: number;
  bands: FrequencyBandPoint[];
}

const DEFAULT_BANDS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

function checkNoise(fn: string, v: unknown): NoiseScale {
  if (v === undefined) return { std: 0.1 };
  const o = v as Record<string, unknown>;
  const keys = o && typeof o === 'object' ? Object.keys(o) : [];
  if (keys.length !== 1 || !(keys[0] === 'std' || keys[0] === 'l2'))
    throw new TypeError(`${fn}: noise must be { std: number } or { l2: number }, got ${JSON.stringify(v)}`);
  const value = checkNumber(fn, `noise.${keys[0]}`, o[keys[0]], { positive: true }, 0);
  return keys[0] === 'std' ? { std: value } : { l2: value };
}

/**
 * Band-limited Gaussian noise for one image channel: white noise (N(0, 1) from `seed` keys) through
 * the DFT, kept on each band's mask, transformed back and scaled to `noise`. One array per mask.
 */
export function bandNoise(
  H: number,
  W: number,
  masks: Uint8Array[],
  noise: NoiseScale,
  ...seed: number[]
): Float64Array[] {
  const random = Rng.keyed(...seed);
  const spectrum: Complex2d = { re: new Float64Array(H * W), im: new Float64Array(H * W), height: H, width: W };
  for (let i = 0; i < H * W; i++) spectrum.re[i] = random.normal();
  dft2(spectrum);
  return masks.map((mask) => {
    const v = bandLimited(spectrum, mask);
    let ss = 0;
    for (let i = 0; i < v.length; i++) ss += v[i] * v[i];
    const target = 'std' in noise ? noise.std * Math.sqrt(v.length) : noise.l2;
    const k = ss > 0 ? target / Math.sqrt(ss) : 0;
    for (let i = 0; i < v.length; i++) v[i] *= k;
    return v;
  });
}

// x + delta (per channel), clamped to [0, 1] unless clip is false.
function perturbed(x: Tensor, delta: (n: number, c: number) => Float64Array, clip = true): Tensor {
  const [N, C, H, W] = x.shape;
  const out = new Float32Array(x.size);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const d = delta(n, c),
        o = (n * C + c) * H * W;
      if (clip) for (let i = 0; i < H * W; i++) out[o + i] = Math.min(1, Math.max(0, x.data[o + i] + d[i]));
      else for (let i = 0; i < H * W; i++) out[o + i] = x.data[o + i] + d[i];
    }
  return new Tensor(out, x.shape);
}

function checkChoice<T extends string>(fn: string, name: string, v: unknown, choices: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  return checkOneOf(fn, name, v, choices);
}

function checkBoolean(fn: string, name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${fn}: ${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Top-1 accuracy under Gaussian noise confined to each frequency band (per channel or shared by all). */
export async function frequencyNoise(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: FrequencyNoiseOptions,
): Promise<FrequencyNoiseResult> {
  return withDevice('frequencyNoise', options?.device, [model], () => frequencyNoiseHere(model, data, options));
}

async function frequencyNoiseHere(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: FrequencyNoiseOptions,
): Promise<FrequencyNoiseResult> {
  const fn = 'frequencyNoise';
  checkModel(fn, model);
  checkDataset(fn, data);
  const o = checkOptionsObject<FrequencyNoiseOptions>(fn, options, [
    ...DATASET_OPTIONS,
    'bands',
    'bandWidth',
    'noise',
    'channels',
    'clip',
    'zeroFrequency',
    'seed',
  ]);
  const { batchSize, start, end, onProgress } = datasetOptions(fn, data, o);
  const bands = checkNumberList(fn, 'bands', o.bands, 0, 1, DEFAULT_BANDS);
  const width = checkNumber(fn, 'bandWidth', o.bandWidth, { positive: true, max: 1 }, 0.1);
  const noise = checkNoise(fn, o.noise);
  const channels = checkChoice(fn, 'channels', o.channels, ['independent', 'shared'] as const, 'independent');
  const clip = checkBoolean(fn, 'clip', o.clip, true);
  const zeroFrequency = checkBoolean(fn, 'zeroFrequency', o.zeroFrequency, true);
  const seed = checkInt(fn, 'seed', o.seed, 0, 0);
  let masks: Uint8Array[] = [];
  const correct = await correctCounts(
    data,
    { start, end },
    batchSize,
    1 + bands.length,
    ({ x, y }, first) => {
      const [N, C, H, W] = x.shape;
      if (masks.length === 0 || masks[0].length !== H * W) {
        masks = bands.map((lo) => bandMask(H, W, lo, lo + width));
        // Bin (0, 0) of the unshifted spectrum is the zero frequency.
        if (!zeroFrequency) for (const m of masks) m[0] = 0;
        // An empty band would measure the clean accuracy under the name of noise.
        const empty = bands.findIndex((_, b) => !masks[b].some((v) => v));
        if (empty >= 0)
          throw new RangeError(
            `${fn}: band [${bands[empty]}, ${bands[empty] + width}) pi holds no frequency of a ${H}x${W} image${zeroFrequency ? '' : ' without the zero frequency'}; use wider bands or larger images`,
          );
      }
      // Keyed by the global sample index: a shard draws what the single run draws; shared noise is channel 0's draw.
      const drawn = channels === 'shared' ? 1 : C;
      const noises = Array.from({ length: N }, (_, n) =>
        Array.from({ length: drawn }, (_, c) => bandNoise(H, W, masks, noise, seed, first + n, c)),
      );
      return [
        countCorrect(model, x, y, batchSize),
        ...bands.map((_, b) =>
          countCorrect(
            model,
            perturbed(x, (n, c) => noises[n][Math.min(c, drawn - 1)][b], clip),
            y,
            batchSize,
          ),
        ),
      ];
    },
    onProgress,
  );
  return frequencyFigures({
    samples: end - start,
    seed,
    noise,
    channels,
    clip,
    zeroFrequency,
    clean: 0,
    cleanCorrect: correct[0],
    bands: bands.map((lo, b) => ({ lo, hi: Math.min(1, lo + width), accuracy: 0, drop: 0, correct: correct[b + 1] })),
  });
}

/** Fills in the accuracies from the counts (one formula for single runs and merges). */
function frequencyFigures(r: FrequencyNoiseResult): FrequencyNoiseResult {
  const clean = accuracyOf(r.cleanCorrect, r.samples);
  return {
    ...r,
    clean,
    bands: r.bands.map((b) => ({
      ...b,
      accuracy: accuracyOf(b.correct, r.samples),
      drop: clean - accuracyOf(b.correct, r.samples),
    })),
  };
}

/** The result of the whole run from its shards' results: counts added, accuracies recomputed. */
export function mergeFrequencyNoise(shards: FrequencyNoiseResult[]): FrequencyNoiseResult {
  return frequencyFigures({
    ...shards[0],
    samples: sum(shards.map((r) => r.samples)),
    cleanCorrect: sum(shards.map((r) => r.cleanCorrect)),
    bands: shards[0].bands.map((b, k) => ({ ...b, correct: sum(shards.map((r) => r.bands[k].correct)) })),
  });
}

export interface FourierHeatmapOptions extends DatasetOptions {
  /** L2 norm of the perturbation on [0, 1] images (default 4, as Yin et al.). */
  eps?: number;
  /** Largest |frequency| on each axis (default min(15, H/2, W/2)): a (2R/stride + 1)^2 grid. */
  radius?: number;
  /** Keep every stride-th frequency (default 1). */
  stride?: number;
  seed?: number;
}

export interface FourierHeatmapResult {
  samples: number;
  seed: number;
  eps: number;
  clean: number;
  /** The frequencies of the rows (fy) and columns (fx), from -R to R. */
  frequencies: number[];
  /** Top-1 error with each basis perturbation: error[row][col]. */
  error: number[][];
  /** Clean, then one per evaluated frequency (fy > 0, or fy = 0 and fx >= 0, row-major): correct
   * predictions (exact, for merging shards). */
  correct: number[];
}

/**
 * Yin et al. (2019): for each frequency (fy, fx) of the grid, x + s * eps * U(fy, fx) on every channel
 * (s = +-1 drawn per image), clamped; the top-1 error per frequency. U(f) and U(-f) are the same
 * image, so each pair is evaluated once (at fy > 0, or fy = 0 and fx >= 0) and mirrored.
 */
export async function fourierHeatmap(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: FourierHeatmapOptions,
): Promise<FourierHeatmapResult> {
  return withDevice('fourierHeatmap', options?.device, [model], () => fourierHeatmapHere(model, data, options));
}

async function fourierHeatmapHere(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: FourierHeatmapOptions,
): Promise<FourierHeatmapResult> {
  const fn = 'fourierHeatmap';
  checkModel(fn, model);
  checkDataset(fn, data);
  const o = checkOptionsObject<FourierHeatmapOptions>(fn, options, [
    ...DATASET_OPTIONS,
    'eps',
    'radius',
    'stride',
    'seed',
  ]);
  const { batchSize, start, end, onProgress } = datasetOptions(fn, data, o);
  const eps = checkNumber(fn, 'eps', o.eps, { positive: true }, 4);
  const stride = checkInt(fn, 'stride', o.stride, 1, 1);
  const seed = checkInt(fn, 'seed', o.seed, 0, 0);
  const first = await data.load(0, 1);
  const [, , H, W] = first.x.shape;
  const maxRadius = Math.floor(Math.min(H, W) / 2);
  const radius = checkInt(fn, 'radius', o.radius, 0, Math.min(15, maxRadius));
  if (radius > maxRadius)
    throw new RangeError(`${fn}: radius must be at most ${maxRadius} for ${H}x${W} images, got ${radius}`);
  const steps = Math.floor(radius / stride);
  const frequencies = Array.from({ length: 2 * steps + 1 }, (_, i) => (i - steps) * stride);
  const canonical = canonicalFrequencies(frequencies);
  const bases = canonical.map(([fy, fx]) => fourierBasis(H, W, fy, fx));
  const correct = await correctCounts(
    data,
    { start, end },
    batchSize,
    1 + canonical.length,
    ({ x, y }, first) => [
      countCorrect(model, x, y, batchSize),
      ...canonical.map(([fy, fx], k) => {
        const signs = Array.from({ length: x.shape[0] }, (_, n) =>
          Rng.keyed(seed, fy + 4096, fx + 4096, first + n).uniform() < 0.5 ? -1 : 1,
        );
        const deltas = signs.map((s) => bases[k].map((u) => s * eps * u));
        return countCorrect(
          model,
          perturbed(x, (n) => deltas[n]),
          y,
          batchSize,
        );
      }),
    ],
    onProgress,
  );
  return heatmapFigures({ samples: end - start, seed, eps, clean: 0, frequencies, error: [], correct });
}

/** The evaluated half of the grid: U(f) and U(-f) are the same image. */
function canonicalFrequencies(frequencies: number[]): number[][] {
  return frequencies.flatMap((fy) => frequencies.filter((fx) => fy > 0 || (fy === 0 && fx >= 0)).map((fx) => [fy, fx]));
}

/** Fills in clean accuracy and the mirrored error grid from the counts. */
function heatmapFigures(r: FourierHeatmapResult): FourierHeatmapResult {
  const errorOf = new Map(
    canonicalFrequencies(r.frequencies).map(([fy, fx], k) => [
      `${fy},${fx}`,
      1 - accuracyOf(r.correct[k + 1], r.samples),
    ]),
  );
  const error = r.frequencies.map((fy) =>
    r.frequencies.map((fx) => (errorOf.get(`${fy},${fx}`) ?? errorOf.get(`${-fy},${-fx}`)) as number),
  );
  return { ...r, clean: accuracyOf(r.correct[0], r.samples), error };
}

/** The result of the whole run from its shards' results: counts added, errors recomputed. */
export function mergeFourierHeatmap(shards: FourierHeatmapResult[]): FourierHeatmapResult {
  return heatmapFigures({
    ...shards[0],
    samples: sum(shards.map((r) => r.samples)),
    correct: shards[0].correct.map((_, k) => sum(shards.map((r) => r.correct[k]))),
  });
}
