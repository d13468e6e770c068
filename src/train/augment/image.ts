// One image [C, H, W] of a batch, and the loop that applies a per-image function to every image of
// x [N, C, H, W] (the functional transforms take a batch, as torchvision's do).
import { Tensor } from '../../tensor/tensor';

export interface Image {
  data: Float32Array;
  C: number;
  H: number;
  W: number;
}

/** The dims of a batch x [N, C, H, W] in [0, 1], checked; `fn` names the caller in errors. */
export function batchDims(fn: string, x: unknown): [number, number, number, number] {
  if (!(x instanceof Tensor))
    throw new TypeError(`${fn}: x must be a Tensor [N, C, H, W], got ${x === null ? 'null' : typeof x}`);
  if (x.ndim !== 4) throw new RangeError(`${fn}: x must be [N, C, H, W], got ${x.ndim} dimensions`);
  const [N, C, H, W] = x.shape;
  return [N, C, H, W];
}

/** Applies `f` to every image of x; a new tensor. */
export function mapImages(fn: string, x: Tensor, f: (img: Image) => Float32Array): Tensor {
  const [N, C, H, W] = batchDims(fn, x);
  const size = C * H * W,
    out = new Float32Array(x.size);
  for (let n = 0; n < N; n++) out.set(f({ data: x.data.subarray(n * size, (n + 1) * size), C, H, W }), n * size);
  return new Tensor(out, x.shape);
}

/** Checks a finite number in [min, max]. */
export function checkNumber(
  fn: string,
  name: string,
  v: unknown,
  min = -Infinity,
  max = Infinity,
  integer = false,
): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new RangeError(
      `${fn}: ${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`,
    );
  return v;
}

/** A fill value: one number, or one per channel. */
export function fillValues(fn: string, fill: unknown, C: number): number[] {
  if (typeof fill === 'number') return new Array<number>(C).fill(checkNumber(fn, 'fill', fill));
  if (Array.isArray(fill) && fill.length === C) return fill.map((v, i) => checkNumber(fn, `fill[${i}]`, v));
  throw new TypeError(`${fn}: fill must be a number or ${C} numbers (one per channel), got ${JSON.stringify(fill)}`);
}
