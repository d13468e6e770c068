// Where an attack measures eps: in [0, 1] pixels (the default) or in the model's normalised units
// ((x - mean) / std, as the study's figures do). Attacks run on z = x / s with s = 1 (pixel) or
// s = std per channel (normalized), so one eps and one alpha serve every channel; the valid box for
// z is then [0, 1 / s_c] per channel, and the model sees x = z * s.
import { Tensor, shapeString } from '../tensor/tensor';
import { checkOneOf } from '../tensor/check';
import { ImageClassifier } from '../models/classifier';
import type { Classifier } from '../models/evaluate';

export type SpaceName = 'pixel' | 'normalized';

export class AttackSpace {
  /** Pixels per attack unit, per channel. */
  readonly scale: Float64Array;
  readonly isPixel: boolean;

  constructor(
    readonly name: SpaceName,
    std: readonly number[] = [1, 1, 1],
  ) {
    this.isPixel = name === 'pixel';
    this.scale = Float64Array.from(this.isPixel ? [1, 1, 1] : std);
  }

  /** Upper end of the valid box for channel c (the lower end is 0). */
  upper(c: number): number {
    return 1 / this.scale[c];
  }

  private perChannel(
    a: Float32Array,
    shape: readonly number[],
    f: (v: number, s: number) => number,
    out: Float32Array,
  ): Float32Array {
    const [N, C, H, W] = shape,
      plane = H * W;
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        const s = this.scale[c],
          o = (n * C + c) * plane;
        for (let i = o; i < o + plane; i++) out[i] = f(a[i], s);
      }
    return out;
  }

  toAttack(x: Float32Array, shape: readonly number[]): Float32Array {
    return this.isPixel ? x.slice() : this.perChannel(x, shape, (v, s) => v / s, new Float32Array(x.length));
  }

  toPixel(z: Float32Array, shape: readonly number[]): Float32Array {
    return this.isPixel ? z : this.perChannel(z, shape, (v, s) => v * s, new Float32Array(z.length));
  }

  /** The chain rule d/dz = d/dx * s, in place. */
  gradToAttack(g: Float32Array, shape: readonly number[]): Float32Array {
    return this.isPixel ? g : this.perChannel(g, shape, (v, s) => v * s, g);
  }

  /** Clamps z into the valid box, in place. */
  clampBox(z: Float32Array, shape: readonly number[]): Float32Array {
    return this.perChannel(z, shape, (v, s) => (v < 0 ? 0 : v > 1 / s ? 1 / s : v), z);
  }
}

/** The space an attack option names, taking std from the model when normalized. */
export function attackSpace(op: string, space: unknown, model: Classifier, std?: readonly number[]): AttackSpace {
  const name = space === undefined ? 'pixel' : checkOneOf(op, 'space', space, ['pixel', 'normalized']);
  if (name === 'pixel') return new AttackSpace('pixel');
  const s = std ?? (model instanceof ImageClassifier ? model.std : undefined);
  if (!s)
    throw new TypeError(`${op}: space 'normalized' needs the model's std: pass an ImageClassifier or the option std`);
  if (s.length !== 3 || s.some((v) => !(v > 0)))
    throw new RangeError(`${op}: std must be 3 positive numbers, got ${JSON.stringify(s)}`);
  return new AttackSpace('normalized', s);
}

export function checkImages(op: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: x must be a Tensor [N, 3, H, W] in [0, 1], got ${typeof x}`);
  if (x.ndim !== 4 || x.shape[1] !== 3 || x.shape[0] < 1)
    throw new RangeError(`${op}: x must have shape [N, 3, H, W] with N >= 1, got ${shapeString(x.shape)}`);
  for (let i = 0; i < x.size; i++) {
    const v = x.data[i];
    if (!(v >= 0 && v <= 1))
      throw new RangeError(`${op}: x must be pixels in [0, 1] (the model normalises inside), found ${v} at index ${i}`);
  }
  return x;
}
