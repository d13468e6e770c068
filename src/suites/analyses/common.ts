// What every analysis shares: seeded randomness that does not depend on the batch size, option
// checks that name the argument, and the loop that counts correct predictions over a dataset.
import { Tensor } from '../../tensor/tensor';
import type { Device } from '../../tensor/device';
import { ImageClassifier } from '../../models/classifier';
import { predictLogits, topkCorrect, inBatch, checkFinite } from '../../models/evaluate';
import type { LabeledDataset, Batch } from '../../io/dataset';
import { ShardSpec, checkShard, shardSlice } from '../../shard/spec';
export { Rng } from '../../tensor/random';

/** Progress callback: `done` of `total` units of work (samples times passes). */
export type Progress = (done: number, total: number) => void;

/** Options every dataset analysis takes. */
export interface DatasetOptions {
  /** Samples per forward pass (default 32). */
  batchSize?: number;
  /** Use only the first `limit` samples (default all). */
  limit?: number;
  onProgress?: Progress;
  /** Only this shard's slice of the (limited) samples, cut on whole batches; merge the results with mergeAnalysis. */
  shard?: ShardSpec;
  /** An AbortSignal (or anything with `aborted`): checked after every batch; the call then rejects with an AbortError. */
  signal?: { readonly aborted: boolean };
  /** 'cpu' or 'cuda': the model moves there for the analysis and back afterwards. Default: where it is. */
  device?: Device;
}

export function checkModel(fn: string, model: unknown, name = 'model'): ImageClassifier {
  if (!(model instanceof ImageClassifier))
    throw new TypeError(`${fn}: ${name} must be an ImageClassifier (createModel / loadModel), got ${typeof model}`);
  return model;
}

export function checkDataset(fn: string, data: unknown): LabeledDataset {
  const d = data as LabeledDataset;
  if (!d || typeof d !== 'object' || !Number.isInteger(d.length) || typeof d.load !== 'function')
    throw new TypeError(
      `${fn}: data must be a LabeledDataset (tensorDataset, readLabeledSafetensors, imageDataset), got ${typeof data}`,
    );
  if (d.length < 1) throw new RangeError(`${fn}: data is empty`);
  return d;
}

export function checkOptionsObject<T extends object>(fn: string, options: unknown, known: string[]): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(
      `${fn}: options must be an object, got ${Array.isArray(options) ? 'an array' : typeof options}`,
    );
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new RangeError(`${fn}: unknown option(s) ${unknown.join(', ')}; it takes ${known.join(', ')}`);
  return options as T;
}

export function checkInt(fn: string, name: string, v: unknown, min: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw new TypeError(`${fn}: ${name} must be an integer, got ${typeof v}`);
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${fn}: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

export function checkNumber(
  fn: string,
  name: string,
  v: unknown,
  range: { min?: number; max?: number; positive?: boolean },
  fallback: number,
): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw new TypeError(`${fn}: ${name} must be a number, got ${typeof v}`);
  const { min = -Infinity, max = Infinity, positive = false } = range;
  if (!Number.isFinite(v) || v < min || v > max || (positive && !(v > 0)))
    throw new RangeError(
      `${fn}: ${name} must be a finite number${positive ? ' > 0' : ''}${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}, got ${v}`,
    );
  return v;
}

/** A list of numbers each in [min, max] (occlusion ratios, frequency bands). */
export function checkNumberList(
  fn: string,
  name: string,
  v: unknown,
  min: number,
  max: number,
  fallback: number[],
): number[] {
  if (v === undefined) return fallback;
  if (!Array.isArray(v) || v.length === 0)
    throw new TypeError(`${fn}: ${name} must be a non-empty array of numbers, got ${typeof v}`);
  v.forEach((e, i) => {
    if (typeof e !== 'number' || !Number.isFinite(e) || e < min || e > max)
      throw new RangeError(`${fn}: ${name}[${i}] must be a number in [${min}, ${max}], got ${String(e)}`);
  });
  return v.slice();
}

// Every analysis reports progress after each batch, so that is where an abort takes effect.
function abortingProgress(fn: string, onProgress: Progress | undefined, signal: unknown): Progress | undefined {
  if (signal === undefined) return onProgress;
  if (typeof signal !== 'object' || signal === null || typeof (signal as { aborted?: unknown }).aborted !== 'boolean')
    throw new TypeError(`${fn}: signal must be an AbortSignal (or an object with a boolean 'aborted')`);
  const s = signal as { readonly aborted: boolean };
  return (done, total) => {
    if (s.aborted) throw Object.assign(new Error(`${fn}: aborted`), { name: 'AbortError' });
    onProgress?.(done, total);
  };
}

export function checkProgress(fn: string, v: unknown): Progress | undefined {
  if (v !== undefined && typeof v !== 'function')
    throw new TypeError(`${fn}: onProgress must be a function (done, total) => void, got ${typeof v}`);
  return v as Progress | undefined;
}

/** Number of top-1 correct predictions of `model` on x. */
export function countCorrect(model: ImageClassifier, x: Tensor, y: Int32Array, batchSize: number): number {
  const ok = topkCorrect(predictLogits(model, x, batchSize), y, 1);
  let s = 0;
  for (let i = 0; i < ok.length; i++) s += ok[i];
  return s;
}

/** The samples an analysis walks: [start, end) of the first `count` (all of them unless sharded). */
export interface SampleRange {
  start: number;
  end: number;
}

/**
 * Walks samples [start, end) a batch at a time; `perBatch` returns the number of correct predictions
 * under each of `variants` conditions. Integer totals come back, so that shards add up exactly.
 */
export async function correctCounts(
  data: LabeledDataset,
  range: SampleRange,
  batchSize: number,
  variants: number,
  perBatch: (batch: Batch, start: number) => number[],
  onProgress?: Progress,
  fn = 'analysis',
): Promise<number[]> {
  const correct = new Array<number>(variants).fill(0);
  for (let start = range.start; start < range.end; start += batchSize) {
    const end = Math.min(range.end, start + batchSize);
    const batch = await data.load(start, end);
    // Non-finite logits are an error naming the batch (counted from sample 0, as the single run's).
    const got = inBatch(fn, Math.floor(start / batchSize), start, end, () => perBatch(batch, start));
    got.forEach((c, i) => (correct[i] += c));
    onProgress?.(end - range.start, range.end - range.start);
  }
  return correct;
}

export const sum = (values: number[]): number => values.reduce((s, v) => s + v, 0);

/** correct / samples, the accuracy every counting analysis reports (NaN for an empty shard). */
export const accuracyOf = (correct: number, samples: number): number => correct / samples;

/** The options of a dataset analysis, checked, with their defaults; `start`/`end` is the shard's slice. */
export function datasetOptions(
  fn: string,
  data: LabeledDataset,
  o: DatasetOptions,
): { batchSize: number; count: number; start: number; end: number; onProgress?: Progress } {
  const batchSize = checkInt(fn, 'batchSize', o.batchSize, 1, 32);
  const limit = checkInt(fn, 'limit', o.limit, 1, data.length);
  const count = Math.min(limit, data.length);
  const { start, end } = shardSlice(count, batchSize, checkShard(fn, o.shard));
  return { batchSize, count, start, end, onProgress: abortingProgress(fn, checkProgress(fn, o.onProgress), o.signal) };
}

/** Refuses `shard` for an analysis whose figures are float sums over samples (they would not merge
 * bit-identically); such analyses run on a few hundred images anyway. */
export function unshardable(fn: string, o: DatasetOptions): void {
  if (o.shard !== undefined)
    throw new RangeError(
      `${fn}: does not take shard (its float sums over samples would not merge exactly); run it unsharded`,
    );
}

/** Throws a NonFiniteError when values an analysis derives a figure from (features, gradients) hold a
 * NaN or an infinity: `subject` says what, e.g. 'the model returned non-finite features'. */
export function checkFiniteValues(subject: string, data: Float32Array, samples: number, fn?: string): void {
  checkFinite(subject, data, data.length / samples, fn);
}

/** A copy of x [N, 3, H, W] (the analyses perturb copies, never the dataset's tensors). */
export function copyOf(x: Tensor): Tensor {
  return new Tensor(x.data.slice(), x.shape);
}

export const DATASET_OPTIONS = ['batchSize', 'limit', 'onProgress', 'shard', 'signal', 'device'];
