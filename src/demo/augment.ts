// Training-time augmentation for the digits: a random translation by up to `maxShift` pixels
// (the empty border fills with 0, MNIST's background), drawn per sample from the seeded stream.
import { Tensor } from '../tensor/tensor';
import type { Rng } from '../tensor/random';

/** x [N, C, H, W] shifted per sample by (dy, dx) uniform in [-maxShift, maxShift]; a new tensor. */
export function randomShift(x: Tensor, rng: Rng, maxShift: number): Tensor {
  if (!Number.isInteger(maxShift) || maxShift < 0)
    throw new RangeError(`randomShift: maxShift must be an integer >= 0, got ${String(maxShift)}`);
  if (x.ndim !== 4) throw new RangeError(`randomShift: x must be [N, C, H, W], got ${x.ndim} dimensions`);
  const [N, C, H, W] = x.shape;
  const out = new Float32Array(x.size);
  for (let n = 0; n < N; n++) {
    const dy = rng.below(2 * maxShift + 1) - maxShift,
      dx = rng.below(2 * maxShift + 1) - maxShift;
    // Output rows/columns [lo, hi) read input rows/columns shifted by -d.
    const r0 = Math.max(0, dy),
      r1 = Math.min(H, H + dy),
      c0 = Math.max(0, dx),
      c1 = Math.min(W, W + dx);
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * H * W;
      for (let r = r0; r < r1; r++)
        out.set(x.data.subarray(base + (r - dy) * W + c0 - dx, base + (r - dy) * W + c1 - dx), base + r * W + c0);
    }
  }
  return new Tensor(out, x.shape);
}
