// Gradient-sign attack steps, fused natively (native/cpu/steps.cc): one memory pass per step
// (two for L2). They return a new tensor that records no graph, like an update under no_grad.
import { Tensor, shapeString } from '../tensor';
import { backendOf, cudaBackend } from '../device';
import { checkTensor, checkNumber, checkOptions, checkOneOf, sameShape } from '../check';
import { native } from '../../native';

function checkSameShape(op: string, name: string, v: unknown, x: Tensor): Tensor {
  checkTensor(op, name, v);
  if (!sameShape(v.shape, x.shape))
    throw new RangeError(
      `${op}: ${name} must have the shape of x ${shapeString(x.shape)}, got ${shapeString(v.shape)}`,
    );
  return v;
}

/** Shared checks: x (first dim = sample), grad like x, and the clamp range. */
function checkStepArgs(
  op: string,
  x: unknown,
  grad: unknown,
  o: Record<string, unknown>,
): { g: Tensor; min: number; max: number } {
  checkTensor(op, 'x', x);
  if (x.ndim < 1)
    throw new RangeError(`${op}: x must have a sample dimension first, got shape ${shapeString(x.shape)}`);
  const g = checkSameShape(op, 'grad', grad, x);
  const min = o.min === undefined ? 0 : checkNumber(op, 'min', o.min);
  const max = o.max === undefined ? 1 : checkNumber(op, 'max', o.max);
  if (min > max) throw new RangeError(`${op}: min must be <= max, got min = ${min}, max = ${max}`);
  return { g, min, max };
}

function required(op: string, o: Record<string, unknown>, name: string): unknown {
  if (o[name] === undefined) throw new TypeError(`${op}: option '${name}' is required`);
  return o[name];
}

export interface FgsmOptions {
  eps: number;
  min?: number;
  max?: number;
}

/** One FGSM step: clamp(x + eps * sign(grad), min, max), with sign(0) = 0. */
export function fgsmStep(x: Tensor, grad: Tensor, options: FgsmOptions): Tensor {
  const op = 'fgsmStep';
  const o = checkOptions(op, options, ['eps', 'min', 'max']);
  if (options === undefined) throw new TypeError(`${op}: options with eps are required`);
  const { g, min, max } = checkStepArgs(op, x, grad, o);
  const eps = checkNumber(op, 'eps', required(op, o, 'eps'), { min: 0 });
  const dev = backendOf(op, x, g);
  const out = dev.empty(x.size);
  dev.native.fgsmStep(x.storage, g.storage, eps, min, max, out);
  return new Tensor(out, x.shape);
}

export interface PgdOptions {
  x0: Tensor;
  eps: number;
  alpha: number;
  norm?: 'linf' | 'l2';
  min?: number;
  max?: number;
}

/** One PGD step around the clean input x0, per sample (first dim of x):
 * linf: clamp(clip(x + alpha * sign(grad), x0 - eps, x0 + eps), min, max);
 * l2: x + alpha * grad / ||grad|| (no step for a zero gradient), the delta from x0 scaled back
 * onto the L2 ball of radius eps when outside it, then clamped to [min, max]. */
export function pgdStep(x: Tensor, grad: Tensor, options: PgdOptions): Tensor {
  const op = 'pgdStep';
  const o = checkOptions(op, options, ['x0', 'eps', 'alpha', 'norm', 'min', 'max']);
  if (options === undefined) throw new TypeError(`${op}: options with x0, eps and alpha are required`);
  const { g, min, max } = checkStepArgs(op, x, grad, o);
  const x0 = checkSameShape(op, 'x0', required(op, o, 'x0'), x);
  const eps = checkNumber(op, 'eps', required(op, o, 'eps'), { min: 0 });
  const alpha = checkNumber(op, 'alpha', required(op, o, 'alpha'), { min: 0 });
  const norm = o.norm === undefined ? 'linf' : checkOneOf(op, 'norm', o.norm, ['linf', 'l2']);
  const dev = backendOf(op, x, g, x0);
  const out = dev.empty(x.size);
  if (x.size === 0) return new Tensor(out, x.shape);
  if (norm === 'linf') dev.native.pgdLinfStep(x.storage, g.storage, x0.storage, eps, alpha, min, max, out);
  else if (dev.device === 'cpu')
    native.pgdL2Step(x.data, g.data, x0.data, x.shape[0], eps, alpha, min, max, out as Float32Array);
  else {
    // The CPU engine's norms cut each sample into max(1, min(ceil(D / 16384), threads)) pieces;
    // the device sums in the same pieces, so both give the same bits.
    const D = x.size / x.shape[0];
    const parts = Math.max(1, Math.min(Math.ceil(D / 16384), native.getNumThreads()));
    cudaBackend().addon.pgdL2Step(x.storage, g.storage, x0.storage, x.shape[0], eps, alpha, min, max, out, parts);
  }
  return new Tensor(out, x.shape);
}
