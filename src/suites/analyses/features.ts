// Feature maps (the study's 4.7) and the effective receptive field as RepLKNet's erf/ scripts
// compute it: per-block variance of the features, and the input gradient of the centre output.
import { withDevice } from '../../models/device';
import { Tensor, noGrad, shapeString } from '../../tensor/tensor';
import { checkOneOf } from '../../tensor/check';
import type { ImageClassifier } from '../../models/classifier';
import type { LabeledDataset } from '../../io/dataset';
import {
  DatasetOptions,
  DATASET_OPTIONS,
  checkDataset,
  checkModel,
  checkOptionsObject,
  datasetOptions,
  unshardable,
  checkFiniteValues,
} from './common';
import { inBatch } from '../../models/evaluate';

export interface FeatureVarianceOptions extends DatasetOptions {
  /** Blocks to measure, in model.blockNames() order (default all). */
  blocks?: string[];
}

export interface FeatureVarianceLayer {
  block: string;
  /** index / (count - 1) over the measured blocks. */
  depth: number;
  /** Variance over H, W (or over tokens) per channel and sample, averaged over channels and samples. */
  variance: number;
  /** variance / the first measured block's variance. */
  relative: number;
}

export interface FeatureVarianceResult {
  samples: number;
  layers: FeatureVarianceLayer[];
}

/**
 * Mean over samples and channels of the population variance of one feature tensor: over (H, W) for
 * [N, C, H, W], over tokens for ViT's [N, T, C]. Returns the sum over samples (to average later).
 */
export function featureVarianceSum(f: Tensor): number {
  let N: number, C: number, S: number, at: (n: number, c: number, s: number) => number;
  if (f.ndim === 4) {
    [N, C] = f.shape;
    S = f.shape[2] * f.shape[3];
    at = (n, c, s) => f.data[(n * C + c) * S + s];
  } else if (f.ndim === 3) {
    [N, S, C] = f.shape;
    at = (n, c, s) => f.data[(n * S + s) * C + c];
  } else
    throw new RangeError(
      `featureVariance: block outputs must be [N, C, H, W] or [N, T, C], got ${shapeString(f.shape)}`,
    );
  let total = 0;
  for (let n = 0; n < N; n++) {
    let perSample = 0;
    for (let c = 0; c < C; c++) {
      let sum = 0,
        sq = 0;
      for (let s = 0; s < S; s++) {
        const v = at(n, c, s);
        sum += v;
        sq += v * v;
      }
      const mean = sum / S;
      perSample += Math.max(0, sq / S - mean * mean);
    }
    total += perSample / C;
  }
  return total;
}

/** Feature-map variance per block, averaged over the first `limit` samples. */
export async function featureVariance(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: FeatureVarianceOptions,
): Promise<FeatureVarianceResult> {
  return withDevice('featureVariance', options?.device, [model], () => featureVarianceHere(model, data, options));
}

async function featureVarianceHere(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: FeatureVarianceOptions,
): Promise<FeatureVarianceResult> {
  const fn = 'featureVariance';
  checkModel(fn, model);
  checkDataset(fn, data);
  const o = checkOptionsObject<FeatureVarianceOptions>(fn, options, [...DATASET_OPTIONS, 'blocks']);
  unshardable(fn, o);
  const { batchSize, count, onProgress } = datasetOptions(fn, data, o);
  const names = model.blockNames();
  if (o.blocks !== undefined && (!Array.isArray(o.blocks) || o.blocks.length === 0))
    throw new TypeError(`${fn}: blocks must be a non-empty array of block names (model.blockNames())`);
  const unknown = (o.blocks ?? []).filter((b) => !names.includes(b));
  if (unknown.length)
    throw new RangeError(`${fn}: blocks names unknown block(s) ${unknown.join(', ')}; see model.blockNames()`);
  const blocks = o.blocks ? names.filter((b) => (o.blocks as string[]).includes(b)) : names;
  const sums = new Array<number>(blocks.length).fill(0);
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const { x } = await data.load(start, end);
    const features = noGrad(() => model.run(x, { features: blocks })).features;
    inBatch(fn, start / batchSize, start, end, () =>
      blocks.forEach((b) =>
        checkFiniteValues('the model returned non-finite features', (features.get(b) as Tensor).data, end - start),
      ),
    );
    blocks.forEach((b, i) => (sums[i] += featureVarianceSum(features.get(b) as Tensor)));
    onProgress?.(end, count);
  }
  const variances = sums.map((s) => s / count);
  return {
    samples: count,
    layers: blocks.map((block, i) => ({
      block,
      depth: blocks.length > 1 ? i / (blocks.length - 1) : 0,
      variance: variances[i],
      relative: variances[i] / variances[0],
    })),
  };
}

export interface ErfOptions extends DatasetOptions {
  /** Block whose centre output is differentiated (default the last block with a 4-D output). */
  block?: string;
  /** Aggregation of the input gradient: 'relu' as RepLKNet's script (default), or 'abs'. */
  gradient?: 'relu' | 'abs';
}

export interface ErfAreaRatio {
  /** Share of the (normalised) map's total. */
  threshold: number;
  /** Side of the smallest centred square holding more than that share, or null if none does. */
  side: number | null;
  /** side^2 / (H * W), or null. */
  ratio: number | null;
}

export interface ErfResult {
  block: string;
  samples: number;
  height: number;
  width: number;
  /** The mean aggregated gradient per input pixel (row-major H x W). */
  raw: number[];
  /** log10(1 + raw) / its maximum: in [0, 1], as the script plots it. */
  map: number[];
  /** High-contribution area ratios at 20%, 30%, 50%, 99%. */
  areaRatios: ErfAreaRatio[];
}

/** analyze_erf's get_rectangle: the smallest centred square (side 2i + 1, i >= 1) whose sum exceeds
 * `threshold` of the total. */
export function erfAreaRatio(map: ArrayLike<number>, height: number, width: number, threshold: number): ErfAreaRatio {
  let total = 0;
  for (let i = 0; i < height * width; i++) total += map[i];
  const cy = Math.floor(height / 2),
    cx = Math.floor(width / 2);
  for (let i = 1; i < Math.floor(height / 2); i++) {
    let sum = 0;
    for (let r = Math.max(0, cy - i); r <= Math.min(height - 1, cy + i); r++)
      for (let c = Math.max(0, cx - i); c <= Math.min(width - 1, cx + i); c++) sum += map[r * width + c];
    if (sum / total > threshold)
      return { threshold, side: 2 * i + 1, ratio: ((2 * i + 1) / height) * ((2 * i + 1) / width) };
  }
  return { threshold, side: null, ratio: null };
}

function defaultErfBlock(model: ImageClassifier, x: Tensor): string {
  const features = noGrad(() =>
    model.run(new Tensor(x.data.slice(0, x.size / x.shape[0]), [1, ...x.shape.slice(1)]), { features: true }),
  ).features;
  const spatial = [...features].filter(([, f]) => f.ndim === 4).map(([name]) => name);
  if (spatial.length === 0)
    throw new RangeError(
      'erf: the model has no block with a spatial [N, C, H, W] output (a ViT has tokens); give options.block',
    );
  return spatial[spatial.length - 1];
}

/**
 * Effective receptive field (RepLKNet's erf/visualize_erf.py): the gradient of
 * sum(relu(feature[:, :, h/2, w/2])) with respect to the normalised input, relu'd (or abs), summed over
 * channels, averaged over images; then log10(1 + x) scaled to [0, 1] (analyze_erf.py).
 */
export async function erf(model: ImageClassifier, data: LabeledDataset, options?: ErfOptions): Promise<ErfResult> {
  return withDevice('erf', options?.device, [model], () => erfHere(model, data, options));
}

async function erfHere(model: ImageClassifier, data: LabeledDataset, options?: ErfOptions): Promise<ErfResult> {
  const fn = 'erf';
  checkModel(fn, model);
  checkDataset(fn, data);
  const o = checkOptionsObject<ErfOptions>(fn, options, [...DATASET_OPTIONS, 'block', 'gradient']);
  unshardable(fn, o);
  const { batchSize, count, onProgress } = datasetOptions(fn, data, o);
  const mode = o.gradient === undefined ? 'relu' : checkOneOf(fn, 'gradient', o.gradient, ['relu', 'abs']);
  if (o.block !== undefined && !model.blockNames().includes(o.block))
    throw new RangeError(`${fn}: block '${String(o.block)}' is not one of the model's blocks (model.blockNames())`);
  let block = o.block;
  let acc: Float64Array | null = null;
  let H = 0,
    W = 0;
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const { x } = await data.load(start, end);
    block ??= defaultErfBlock(model, x);
    const [N, C] = x.shape;
    [H, W] = [x.shape[2], x.shape[3]];
    const input = new Tensor(x.data.slice(), x.shape, true);
    const f = model.run(input, { features: [block] }).features.get(block) as Tensor;
    if (f.ndim !== 4)
      throw new RangeError(`${fn}: block '${block}' outputs ${shapeString(f.shape)}, not a spatial [N, C, H, W] map`);
    const [, Cf, h, w] = f.shape;
    inBatch(fn, start / batchSize, start, end, () =>
      checkFiniteValues('the model returned non-finite features', f.data, N),
    );
    // d sum(relu(centre)) / d feature: 1 at the centre where the feature is positive.
    const seed = new Float32Array(f.size);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < Cf; c++) {
        const i = ((n * Cf + c) * h + (h >> 1)) * w + (w >> 1);
        if (f.data[i] > 0) seed[i] = 1;
      }
    if (!seed.some((v) => v !== 0)) {
      onProgress?.(end, count);
      continue; // no positive centre output: a zero gradient
    }
    f.backward(seed);
    const g = (input.grad as Tensor).data;
    inBatch(fn, start / batchSize, start, end, () =>
      checkFiniteValues('the model returned non-finite gradients', g, N),
    );
    acc ??= new Float64Array(H * W);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        // The script differentiates with respect to the normalised input: d/dn = d/dx * std.
        const s = model.std[c],
          o0 = (n * C + c) * H * W;
        for (let i = 0; i < H * W; i++) {
          const v = g[o0 + i] * s;
          acc[i] += mode === 'relu' ? Math.max(0, v) : Math.abs(v);
        }
      }
    onProgress?.(end, count);
  }
  const raw = Array.from(acc ?? new Float64Array(H * W), (v) => v / count);
  const logged = raw.map((v) => Math.log10(1 + v));
  const top = logged.reduce((m, v) => Math.max(m, v), 0);
  const map = logged.map((v) => (top > 0 ? v / top : 0));
  return {
    block: block as string,
    samples: count,
    height: H,
    width: W,
    raw,
    map,
    areaRatios: [0.2, 0.3, 0.5, 0.99].map((t) => erfAreaRatio(map, H, W, t)),
  };
}
