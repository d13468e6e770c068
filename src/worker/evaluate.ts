// evaluate: a classifier's logits and accuracy over a whole dataset, a batch at a time, with
// progress and a stop between batches. The call that background.evaluate runs in a worker.
import { Tensor } from '../tensor/tensor';
import { ImageClassifier } from '../models/classifier';
import { predictLogits, topkCorrect, argmax, meanOf } from '../models/evaluate';
import type { LabeledDataset } from '../io/dataset';
import { abortError } from './errors';

export interface EvaluateOptions {
  /** Images per forward pass (default 32). */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** Checked between batches; an aborted call rejects with an AbortError. */
  signal?: { readonly aborted: boolean };
}

export interface EvaluateResult {
  /** [N, K] */
  logits: Tensor;
  y: Int32Array;
  /** Top-1 class per sample. */
  predictions: Int32Array;
  top1: number;
  /** null when the model has fewer than 5 classes. */
  top5: number | null;
}

const KNOWN = ['batchSize', 'onProgress', 'signal'];

export function checkEvaluateOptions(options: unknown): EvaluateOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`evaluate: options must be an object, got ${typeof options}`);
  const unknown = Object.keys(options).filter((k) => !KNOWN.includes(k));
  if (unknown.length)
    throw new RangeError(`evaluate: unknown option(s) ${unknown.join(', ')}; it takes ${KNOWN.join(', ')}`);
  const o = options as EvaluateOptions;
  if (o.batchSize !== undefined && (!Number.isInteger(o.batchSize) || o.batchSize < 1))
    throw new RangeError(`evaluate: batchSize must be an integer >= 1, got ${String(o.batchSize)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    throw new TypeError('evaluate: onProgress must be a function (done, total) => void');
  return o;
}

export async function evaluate(
  model: ImageClassifier,
  data: LabeledDataset,
  options: EvaluateOptions = {},
): Promise<EvaluateResult> {
  if (!(model instanceof ImageClassifier))
    throw new TypeError(`evaluate: model must be an ImageClassifier, got ${typeof model}`);
  const { batchSize = 32, onProgress, signal } = checkEvaluateOptions(options);
  const N = data.length;
  if (!(N >= 1)) throw new RangeError('evaluate: data is empty');
  let logits: Float32Array | null = null;
  const y = new Int32Array(N);
  let K = 0;
  for (let start = 0; start < N; start += batchSize) {
    if (signal?.aborted) throw abortError('evaluate: aborted');
    const end = Math.min(N, start + batchSize);
    const batch = await data.load(start, end);
    const out = predictLogits(model, batch.x, batchSize);
    K = out.shape[1];
    logits ??= new Float32Array(N * K);
    logits.set(out.data, start * K);
    y.set(batch.y, start);
    onProgress?.(end, N);
  }
  const all = new Tensor(logits as Float32Array, [N, K]);
  return {
    logits: all,
    y,
    predictions: argmax(all),
    top1: meanOf(topkCorrect(all, y, 1)),
    top5: K >= 5 ? meanOf(topkCorrect(all, y, 5)) : null,
  };
}
