// Argument validation for ops, run before any native call. Messages name the op, the argument
// and what was expected, so a user can fix the call without reading the source.
import { Tensor, Shape, shapeString, numel, holds, checkShape, MAX_NUMEL } from './tensor';

export { MAX_NUMEL };

export function checkTensor(op: string, name: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(x)}`);
  if (x.device === 'cuda') {
    // Device memory cannot be reassigned or transferred; it can be freed.
    if (x.disposed) throw new TypeError(`${op}: ${name} was disposed (a CUDA tensor cannot be used after dispose())`);
    return;
  }
  // The data may have changed since construction: reassigned, or its buffer transferred away.
  const n = numel(x.shape);
  if (!(x.data instanceof Float32Array) || x.data.length !== n)
    throw new RangeError(
      `${op}: ${name} has shape ${shapeString(x.shape)} (${n} values) but its ` +
        (x.data instanceof Float32Array ? holds(x.data) : `data is ${describe(x.data)}`),
    );
}

/** Checks the shape an op is about to allocate against MAX_NUMEL, before any allocation, so an
 * oversized result fails with the op's name instead of Node's own "Invalid typed array length". */
export function checkOutput(op: string, what: string, shape: Shape, cause = ''): number {
  return checkShape(op, what, shape, cause);
}

export function checkRank(op: string, name: string, x: unknown, rank: number, layout?: string): asserts x is Tensor {
  checkTensor(op, name, x);
  if (x.ndim !== rank)
    throw new RangeError(
      `${op}: ${name} must be ${rank}-D${layout ? ' ' + layout : ''}, got shape ${shapeString(x.shape)}`,
    );
}

export function checkInt(op: string, name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new TypeError(`${op}: ${name} must be an integer, got ${describe(v)}`);
  if (v < min || v > max) throw new RangeError(`${op}: ${name} must be in [${min}, ${max}], got ${v}`);
  return v;
}

export function checkNumber(
  op: string,
  name: string,
  v: unknown,
  opts: { min?: number; max?: number; positive?: boolean } = {},
): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new TypeError(`${op}: ${name} must be a finite number, got ${describe(v)}`);
  if (opts.positive && !(v > 0)) throw new RangeError(`${op}: ${name} must be > 0, got ${v}`);
  if (opts.min !== undefined && v < opts.min) throw new RangeError(`${op}: ${name} must be >= ${opts.min}, got ${v}`);
  if (opts.max !== undefined && v > opts.max) throw new RangeError(`${op}: ${name} must be <= ${opts.max}, got ${v}`);
  return v;
}

/** An int or a pair [h, w]; returns the pair. */
export function checkPair(
  op: string,
  name: string,
  v: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): [number, number] {
  if (Array.isArray(v)) {
    if (v.length !== 2) throw new TypeError(`${op}: ${name} must be an integer or a pair [h, w], got ${describe(v)}`);
    return [checkInt(op, `${name}[0]`, v[0], min, max), checkInt(op, `${name}[1]`, v[1], min, max)];
  }
  const s = checkInt(op, name, v, min, max);
  return [s, s];
}

export function checkOptions(op: string, opts: unknown, allowed: string[]): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new TypeError(`${op}: options must be an object, got ${describe(opts)}`);
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k))
      throw new TypeError(`${op}: unknown option '${k}' (expected one of: ${allowed.join(', ')})`);
  }
  return opts as Record<string, unknown>;
}

/** 'a' or 'b'; one of 'a', 'b' or 'c': the allowed values as every "must be" message lists them. */
export function choices(allowed: readonly unknown[]): string {
  const shown = allowed.map(describe);
  if (shown.length <= 1) return shown.join('');
  const list = `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}`;
  return shown.length === 2 ? list : `one of ${list}`;
}

/** Checks that v is one of the allowed values: a TypeError when it is not even of their type (a
 * number for a string option), a RangeError otherwise; either way the message names the argument,
 * lists the allowed values and shows the bad one with describe, then the hint if any. */
export function checkOneOf<T extends string | number | boolean>(
  op: string,
  name: string,
  v: unknown,
  allowed: readonly T[],
  hint?: string,
): T {
  if (allowed.includes(v as T)) return v as T;
  const message = `${op}: ${name} must be ${choices(allowed)}, got ${describe(v)}${hint ? ` (${hint})` : ''}`;
  throw allowed.some((a) => typeof a === typeof v) ? new RangeError(message) : new TypeError(message);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function describe(v: unknown): string {
  if (v instanceof Tensor) return `Tensor${shapeString(v.shape)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v === 'string' ? `'${v}'` : String(v);
}
