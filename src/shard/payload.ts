// Range checks on the values of a shard's payload: every length against the shard's slice, every
// per-sample value against what the run allows. These (not the digest, which a forger recomputes) are
// what keep an edited shard from moving a merged figure. Errors name the shard and the field.
import { ShardMergeError } from './report';

/** Float tolerance on a norm bound: float32 storage and the pixel/normalised round trip. */
export const NORM_TOLERANCE = { relative: 1e-4, absolute: 1e-6 };

/** A number bound with NORM_TOLERANCE added. */
export const withTolerance = (bound: number): number => bound * (1 + NORM_TOLERANCE.relative) + NORM_TOLERANCE.absolute;

export class PayloadChecker {
  /** `where` names the shard in messages, e.g. "shard 2/3". */
  constructor(readonly where: string) {}

  fail(field: string, expected: string): ShardMergeError {
    return new ShardMergeError(`merge: ${this.where}: ${field} must be ${expected}`);
  }

  /** An array of exactly `length` elements. */
  array(field: string, v: unknown, length: number): unknown[] {
    if (!Array.isArray(v) || v.length !== length)
      throw this.fail(
        field,
        `an array of ${length} (the shard's samples)${Array.isArray(v) ? `, got ${v.length}` : ''}`,
      );
    return v;
  }

  /** An integer in [min, max]. */
  int(field: string, v: unknown, min: number, max: number): number {
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max)
      throw this.fail(field, `an integer in [${min}, ${max}]`);
    return v as number;
  }

  /** A finite number in [min, max]. */
  number(field: string, v: unknown, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
      throw this.fail(field, `a finite number in [${min}, ${max}]`);
    return v;
  }

  /** `length` integers in [min, max]. */
  ints(field: string, v: unknown, length: number, min: number, max: number): number[] {
    const a = this.array(field, v, length);
    for (let i = 0; i < a.length; i++) this.int(`${field}[${i}]`, a[i], min, max);
    return a as number[];
  }

  /** `length` finite numbers in [min, max]. */
  numbers(field: string, v: unknown, length: number, min: number, max: number): number[] {
    const a = this.array(field, v, length);
    for (let i = 0; i < a.length; i++) this.number(`${field}[${i}]`, a[i], min, max);
    return a as number[];
  }

  /** A value that must equal `expected` (compared as JSON). */
  same(field: string, v: unknown, expected: unknown, what: string): void {
    if (JSON.stringify(v) !== JSON.stringify(expected)) throw this.fail(field, what);
  }
}
