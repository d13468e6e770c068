// Rotation, shear and translation with torchvision's tensor semantics (torchvision 0.14
// F.affine / F.rotate on float tensors): the inverse matrix of _get_inverse_affine_matrix, the
// sampling grid of _gen_affine_grid (pixel centres, origin at the image centre), grid_sample with
// zero padding and align_corners=False, and the fill blended in through the sampled mask as
// _apply_grid_transform does when a fill is given (bilinear: v * m + (1 - m) * fill).
import { Tensor } from '../../tensor/tensor';
import { checkOneOf } from '../../tensor/check';
import { Image, mapImages, batchDims, checkNumber, fillValues } from './image';

export type Interpolation = 'bilinear' | 'nearest';

export interface AffineOptions {
  /** Degrees, as F.affine's angle (clockwise in image coordinates; rotate(a) is affine(-a)). */
  angle?: number;
  /** Pixels [tx, ty] (fractions allowed, as timm's relative translation). */
  translate?: [number, number];
  scale?: number;
  /** Degrees [sx, sy]. */
  shear?: [number, number];
  /** Pixel coordinates of the centre [cx, cy] (default: the image centre). */
  center?: [number, number];
  interpolation?: Interpolation;
  /** Value outside the image: one number or one per channel (default 0). */
  fill?: number | number[];
}

/** torchvision's _get_inverse_affine_matrix: output centred coordinates -> input ones. */
export function inverseAffineMatrix(
  center: [number, number],
  angle: number,
  translate: [number, number],
  scale: number,
  shear: [number, number],
): number[] {
  const rot = (angle * Math.PI) / 180,
    sx = (shear[0] * Math.PI) / 180,
    sy = (shear[1] * Math.PI) / 180;
  const [cx, cy] = center,
    [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((v) => v / scale);
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

// Round half to even (grid_sample's nearest uses nearbyint).
function rint(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Samples img through the inverse matrix m; the output has the input's size. */
export function warpImage(img: Image, m: number[], interpolation: Interpolation, fill: number[]): Float32Array {
  const { data, C, H, W } = img,
    HW = H * W,
    out = new Float32Array(C * HW);
  for (let i = 0; i < H; i++) {
    const y = i - H * 0.5 + 0.5;
    for (let j = 0; j < W; j++) {
      const x = j - W * 0.5 + 0.5;
      // Input pixel coordinates (grid_sample's unnormalised, align_corners=False).
      const ix = m[0] * x + m[1] * y + m[2] + W * 0.5 - 0.5,
        iy = m[3] * x + m[4] * y + m[5] + H * 0.5 - 0.5;
      const o = i * W + j;
      if (interpolation === 'nearest') {
        const xn = rint(ix),
          yn = rint(iy);
        const inside = xn >= 0 && xn < W && yn >= 0 && yn < H;
        for (let c = 0; c < C; c++) out[c * HW + o] = inside ? data[c * HW + yn * W + xn] : fill[c];
        continue;
      }
      const x0 = Math.floor(ix),
        y0 = Math.floor(iy),
        wx1 = ix - x0,
        wy1 = iy - y0;
      // The four neighbours' weights, zeroed outside the image; their sum is the sampled mask.
      const inX0 = x0 >= 0 && x0 < W,
        inX1 = x0 + 1 >= 0 && x0 + 1 < W,
        inY0 = y0 >= 0 && y0 < H,
        inY1 = y0 + 1 >= 0 && y0 + 1 < H;
      const w00 = inX0 && inY0 ? (1 - wx1) * (1 - wy1) : 0,
        w01 = inX1 && inY0 ? wx1 * (1 - wy1) : 0;
      const w10 = inX0 && inY1 ? (1 - wx1) * wy1 : 0,
        w11 = inX1 && inY1 ? wx1 * wy1 : 0;
      const mask = w00 + w01 + w10 + w11,
        p = y0 * W + x0;
      for (let c = 0; c < C; c++) {
        const s = c * HW + p;
        const v =
          (w00 ? w00 * data[s] : 0) +
          (w01 ? w01 * data[s + 1] : 0) +
          (w10 ? w10 * data[s + W] : 0) +
          (w11 ? w11 * data[s + W + 1] : 0);
        out[c * HW + o] = v * mask + (1 - mask) * fill[c];
      }
    }
  }
  return out;
}

function pair(fn: string, name: string, v: unknown, dflt: [number, number]): [number, number] {
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || v.length !== 2)
    throw new TypeError(`${fn}: ${name} must be two numbers, got ${JSON.stringify(v)}`);
  return [checkNumber(fn, `${name}[0]`, v[0]), checkNumber(fn, `${name}[1]`, v[1])];
}

export function checkInterpolation(fn: string, v: unknown): Interpolation {
  if (v === undefined) return 'bilinear';
  return checkOneOf(fn, 'interpolation', v, ['bilinear', 'nearest']);
}

/** Per-image affine warp with F.affine's parameters; `rotateSign` -1 turns it into F.rotate. */
function affineImages(fn: string, x: Tensor, o: AffineOptions, rotateSign: number): Tensor {
  const [, C, H, W] = batchDims(fn, x);
  const known = ['angle', 'translate', 'scale', 'shear', 'center', 'interpolation', 'fill'];
  for (const k of Object.keys(o ?? {}))
    if (!known.includes(k)) throw new TypeError(`${fn}: unknown option '${k}' (known: ${known.join(', ')})`);
  const angle = checkNumber(fn, 'angle', o.angle ?? 0),
    scale = checkNumber(fn, 'scale', o.scale ?? 1, 1e-6);
  const center =
    o.center === undefined
      ? ([0, 0] as [number, number])
      : (pair(fn, 'center', o.center, [0, 0]).map((c, i) => c - [W, H][i] * 0.5) as [number, number]);
  const m = inverseAffineMatrix(
    center,
    rotateSign * angle,
    pair(fn, 'translate', o.translate, [0, 0]),
    scale,
    pair(fn, 'shear', o.shear, [0, 0]),
  );
  const interpolation = checkInterpolation(fn, o.interpolation),
    fill = fillValues(fn, o.fill ?? 0, C);
  return mapImages(fn, x, (img) => warpImage(img, m, interpolation, fill));
}

/** F.affine on every image of x [N, C, H, W]. */
export function affine(x: Tensor, options: AffineOptions = {}): Tensor {
  return affineImages('affine', x, options, 1);
}

/** F.rotate: `angle` degrees counter-clockwise about the centre, output the input's size. */
export function rotate(
  x: Tensor,
  angle: number,
  options: Omit<AffineOptions, 'angle' | 'translate' | 'scale' | 'shear'> = {},
): Tensor {
  return affineImages('rotate', x, { ...options, angle }, -1);
}
