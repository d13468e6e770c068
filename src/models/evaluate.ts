// Running a classifier for its predictions: batched no-grad logits and top-k correctness, shared by
// the attacks, the suites and the analyses.
import { Tensor, noGrad, shapeString } from '../tensor/tensor';
import * as ops from '../tensor/ops';
import { ImageClassifier } from './classifier';

/** A model as the attacks and analyses see it: [N, 3, H, W] in [0, 1] -> logits [N, K], differentiable. */
export type Classifier = ImageClassifier | ((x: Tensor) => Tensor);

/**
 * A NaN or infinity where a figure would be computed (logits, gradients, adversarial images): always an
 * error, never a figure (argmax over NaNs is class 0, and a mean over NaNs prints as a number).
 * `subject` says what was non-finite; inBatch() adds which batch of a run it was.
 */
export class NonFiniteError extends RangeError {
  constructor(
    readonly subject: string,
    detail: string,
    prefix?: string,
  ) {
    super(`${prefix ? `${prefix}: ` : ''}${subject}${detail}`);
    this.name = 'NonFiniteError';
  }
}

/** Throws NonFiniteError when `data` (`perSample` values per sample) holds a NaN or an infinity. */
export function checkFinite(subject: string, data: Float32Array, perSample: number, fn?: string): void {
  for (let i = 0; i < data.length; i++)
    if (!Number.isFinite(data[i]))
      throw new NonFiniteError(
        subject,
        ` (sample ${Math.floor(i / perSample)} of ${Math.round(data.length / perSample)} in the call)`,
        fn,
      );
}

/** Runs one batch of a run; a NonFiniteError from it is rethrown naming the batch, e.g.
 * "runAttack: the model returned non-finite logits for batch 3 (samples 96-127)". */
export function inBatch<T>(fn: string, batch: number, start: number, end: number, work: () => T): T {
  try {
    return work();
  } catch (e) {
    if (e instanceof NonFiniteError)
      throw new NonFiniteError(e.subject, ` for batch ${batch} (samples ${start}-${end - 1})`, fn);
    throw e;
  }
}

export const NON_FINITE_LOGITS = 'the model returned non-finite logits';

/** Calls a Classifier (module or function) and checks it returned [N, K] finite logits. */
export function logitsOf(model: Classifier, x: Tensor): Tensor {
  const out = model instanceof ImageClassifier ? model.forward(x) : typeof model === 'function' ? model(x) : null;
  if (out === null)
    throw new TypeError('model must be an ImageClassifier or a function from x [N, 3, H, W] to logits [N, K]');
  if (!(out instanceof Tensor) || out.ndim !== 2 || out.shape[0] !== x.shape[0])
    throw new TypeError(
      `model must return logits [N, K] for x ${shapeString(x.shape)}, got ${out instanceof Tensor ? shapeString(out.shape) : typeof out}`,
    );
  checkFinite(NON_FINITE_LOGITS, out.data, out.shape[1]);
  return out;
}

/** Logits of x [N, 3, H, W] without a graph, batchSize samples per forward pass. */
export function predictLogits(model: Classifier, x: Tensor, batchSize = 32): Tensor {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`predictLogits: batchSize must be an integer >= 1, got ${batchSize}`);
  const N = x.shape[0];
  const parts: Tensor[] = [];
  for (let i = 0; i < N; i += batchSize)
    parts.push(noGrad(() => logitsOf(model, N <= batchSize ? x : ops.slice(x, 0, i, Math.min(N, i + batchSize)))));
  return parts.length === 1 ? parts[0] : ops.cat(parts, 0);
}

/** Per sample: 1 when label y[i] is among the k largest logits of row i (ties count against), else 0.
 * A label of -1 (none) is never correct. */
export function topkCorrect(logits: Tensor, y: ArrayLike<number>, k = 1): Uint8Array {
  if (logits.ndim !== 2) throw new RangeError(`topkCorrect: logits must be [N, K], got ${shapeString(logits.shape)}`);
  const [N, K] = logits.shape;
  if (y.length !== N) throw new RangeError(`topkCorrect: need ${N} labels, got ${y.length}`);
  checkFinite(NON_FINITE_LOGITS, logits.data, K);
  const out = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    const label = y[i];
    if (!(label >= 0 && label < K)) continue;
    const row = logits.data.subarray(i * K, (i + 1) * K);
    const v = row[label];
    let above = 0;
    for (let j = 0; j < K; j++) if (row[j] > v || (row[j] === v && j < label)) above++;
    out[i] = above < k ? 1 : 0;
  }
  return out;
}

/** Index of the largest of the K values of row n of data (the first on ties); a row with a NaN or an
 * infinity is a NonFiniteError (every prediction goes through here or topkCorrect). */
export function argmaxRow(data: Float32Array, n: number, K: number): number {
  let best = 0;
  for (let j = 0; j < K; j++) {
    const v = data[n * K + j];
    if (!Number.isFinite(v))
      throw new NonFiniteError(NON_FINITE_LOGITS, ` (sample ${n} of ${Math.round(data.length / K)} in the call)`);
    if (v > data[n * K + best]) best = j;
  }
  return best;
}

/** Index of the largest logit per row (the first on ties). */
export function argmax(logits: Tensor): Int32Array {
  const [N, K] = logits.shape;
  return Int32Array.from({ length: N }, (_, n) => argmaxRow(logits.data, n, K));
}

/** Fraction of ones. */
export function meanOf(flags: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < flags.length; i++) s += flags[i];
  return flags.length ? s / flags.length : NaN;
}
