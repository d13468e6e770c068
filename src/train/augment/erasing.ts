// timm's RandomErasing (Zhong et al. 2017), per sample: with probability `prob`, `count` boxes
// (min..max), each of area uniform in [minArea, maxArea] * H * W / count and a log-uniform aspect
// ratio, up to 10 tries each to fit strictly inside the image. timm erases the normalised tensor;
// here the images are [0, 1] pixels, so the fill is timm's value mapped back through the model's
// normalisation: 'const' 0 -> mean, 'rand' and 'pixel' N(0, 1) -> mean + std * N(0, 1), drawn per
// channel ('rand') or per pixel ('pixel'). Not clipped to [0, 1], as in timm.
import { Tensor } from '../../tensor/tensor';
import type { Rng } from '../../tensor/random';
import { checkOneOf } from '../../tensor/check';
import { batchDims, checkNumber, fillValues } from './image';
import { uniform, randintInclusive } from './sample';

export type ErasingMode = 'const' | 'rand' | 'pixel';

export interface RandomErasingSpec {
  name: 'erase';
  /** Probability of erasing a sample (default 0.25, DeiT's --reprob). */
  prob?: number;
  /** Area range as fractions of the image (default 0.02, 1/3). */
  minArea?: number;
  maxArea?: number;
  /** Aspect range, drawn log-uniformly (default 0.3 and 1 / minAspect). */
  minAspect?: number;
  maxAspect?: number;
  /** Default 'pixel' (DeiT's --remode). */
  mode?: ErasingMode;
  /** Boxes per erased sample, uniform in [minCount, maxCount] (default 1, 1). */
  minCount?: number;
  maxCount?: number;
}

export type CheckedErasing = Required<RandomErasingSpec>;

export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

export function checkErasing(fn: string, s: Record<string, unknown>): CheckedErasing {
  const at = (k: string) => `augment erase.${k}`;
  const num = (k: string, v: unknown, dflt: number, min: number, max = Infinity, integer = false) =>
    v === undefined ? dflt : checkNumber(fn, at(k), v, min, max, integer);
  const minArea = num('minArea', s.minArea, 0.02, 0, 1),
    maxArea = num('maxArea', s.maxArea, 1 / 3, minArea, 1);
  const minAspect = num('minAspect', s.minAspect, 0.3, 1e-6);
  const minCount = num('minCount', s.minCount, 1, 1, 1000, true);
  const mode = s.mode === undefined ? 'pixel' : checkOneOf(fn, at('mode'), s.mode, ['const', 'rand', 'pixel']);
  return {
    name: 'erase',
    prob: num('prob', s.prob, 0.25, 0, 1),
    minArea,
    maxArea,
    minAspect,
    maxAspect: num('maxAspect', s.maxAspect, 1 / minAspect, minAspect),
    mode,
    minCount,
    maxCount: num('maxCount', s.maxCount, minCount, minCount, 1000, true),
  };
}

/** The boxes one sample gets (empty when it is not erased): timm's _erase, draw for draw. */
export function erasingBoxes(e: CheckedErasing, rng: Rng, H: number, W: number): Box[] {
  if (rng.uniform() > e.prob) return [];
  const area = H * W,
    boxes: Box[] = [];
  const count = e.minCount === e.maxCount ? e.minCount : randintInclusive(rng, e.minCount, e.maxCount);
  const logLo = Math.log(e.minAspect),
    logHi = Math.log(e.maxAspect);
  for (let k = 0; k < count; k++) {
    for (let attempt = 0; attempt < 10; attempt++) {
      const target = (uniform(rng, e.minArea, e.maxArea) * area) / count;
      const aspect = Math.exp(uniform(rng, logLo, logHi));
      const h = Math.round(Math.sqrt(target * aspect)),
        w = Math.round(Math.sqrt(target / aspect));
      if (w < W && h < H) {
        boxes.push({
          top: randintInclusive(rng, 0, H - h),
          left: randintInclusive(rng, 0, W - w),
          height: h,
          width: w,
        });
        break;
      }
    }
  }
  return boxes;
}

/** Random erasing of every sample of x [N, C, H, W]; mean/std: the model's normalisation. */
export function randomErasing(
  x: Tensor,
  e: CheckedErasing,
  rng: Rng,
  mean: readonly number[],
  std: readonly number[],
): Tensor {
  const [N, C, H, W] = batchDims('randomErasing', x),
    HW = H * W;
  const out = x.data.slice();
  for (let n = 0; n < N; n++) {
    for (const b of erasingBoxes(e, rng, H, W)) {
      // timm draws the whole patch (C, h, w) or one value per channel, then writes it.
      const perChannel = e.mode === 'rand' ? Array.from({ length: C }, () => rng.normal()) : null;
      for (let c = 0; c < C; c++) {
        const m = mean[c % mean.length],
          s = std[c % std.length];
        for (let i = b.top; i < b.top + b.height; i++) {
          const row = out.subarray((n * C + c) * HW + i * W + b.left, (n * C + c) * HW + i * W + b.left + b.width);
          if (e.mode === 'pixel') for (let j = 0; j < row.length; j++) row[j] = m + s * rng.normal();
          else row.fill(m + s * (perChannel ? perChannel[c] : 0));
        }
      }
    }
  }
  return new Tensor(out, x.shape);
}

/** torchvision's F.erase: x[..., top:top+height, left:left+width] = value (a number or one per channel). */
export function erase(
  x: Tensor,
  top: number,
  left: number,
  height: number,
  width: number,
  value: number | number[] = 0,
): Tensor {
  const fn = 'erase';
  const [N, C, H, W] = batchDims(fn, x),
    HW = H * W;
  checkNumber(fn, 'top', top, 0, H, true);
  checkNumber(fn, 'left', left, 0, W, true);
  checkNumber(fn, 'height', height, 0, H - top, true);
  checkNumber(fn, 'width', width, 0, W - left, true);
  const v = fillValues(fn, value, C),
    out = x.data.slice();
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = top; i < top + height; i++)
        out.fill(v[c], (n * C + c) * HW + i * W + left, (n * C + c) * HW + i * W + left + width);
  return new Tensor(out, x.shape);
}
