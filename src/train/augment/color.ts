// The photometric operations of RandAugment on [0, 1] float images, as torchvision 0.14's
// functional transforms compute them on float tensors (blend with a degenerate image, clamped to
// [0, 1]). Operations defined on integers by PIL and torchvision (posterize, equalize, the
// thresholds of solarize and solarize-add) read each pixel as the uint8 q = round(255 v):
// posterize and equalize return q' / 255; solarize and solarize-add compare q with the threshold
// and keep the float value's precision in what they write.
import { Tensor } from '../../tensor/tensor';
import { Image, mapImages, checkNumber } from './image';

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** The uint8 value PIL's ToPILImage-from-[0, 1] round trip gives: round(255 v), clipped. */
export function toUint8(v: number): number {
  const q = Math.round(v * 255);
  return q < 0 ? 0 : q > 255 ? 255 : q;
}

/** torchvision's rgb_to_grayscale (0.2989 R + 0.587 G + 0.114 B); a 1-channel image is its own. */
function grayscale(img: Image): Float32Array {
  const { data, C, H, W } = img,
    HW = H * W;
  if (C === 1) return data.slice();
  if (C !== 3) throw new RangeError(`grayscale: images must have 1 or 3 channels, got ${C}`);
  const g = new Float32Array(HW);
  for (let p = 0; p < HW; p++) g[p] = 0.2989 * data[p] + 0.587 * data[HW + p] + 0.114 * data[2 * HW + p];
  return g;
}

/** _blend: clamp(f * img + (1 - f) * other, 0, 1); `other(c, p)` is the degenerate image. */
function blend(img: Image, factor: number, other: (c: number, p: number) => number): Float32Array {
  const { data, C, H, W } = img,
    HW = H * W,
    out = new Float32Array(data.length);
  for (let c = 0; c < C; c++)
    for (let p = 0; p < HW; p++) out[c * HW + p] = clamp01(factor * data[c * HW + p] + (1 - factor) * other(c, p));
  return out;
}

export const imageOps = {
  invert: (img: Image): Float32Array => img.data.map((v) => 1 - v),

  posterize(img: Image, bits: number): Float32Array {
    const mask = (0xff << (8 - bits)) & 0xff;
    return img.data.map((v) => (toUint8(v) & mask) / 255);
  },

  /** Inverts pixels with q >= threshold (PIL's and torchvision's rule; 256 leaves all). */
  solarize: (img: Image, threshold: number): Float32Array => img.data.map((v) => (toUint8(v) >= threshold ? 1 - v : v)),

  /** timm's solarize_add: adds add/255 to pixels with q < threshold, clipped at 1. */
  solarizeAdd: (img: Image, add: number, threshold = 128): Float32Array =>
    img.data.map((v) => (toUint8(v) < threshold ? Math.min(1, v + add / 255) : v)),

  /** Per-channel min-max stretch (torchvision's float autocontrast; flat channels unchanged). */
  autocontrast(img: Image): Float32Array {
    const { data, C, H, W } = img,
      HW = H * W,
      out = new Float32Array(data.length);
    for (let c = 0; c < C; c++) {
      const ch = data.subarray(c * HW, (c + 1) * HW);
      let lo = Infinity,
        hi = -Infinity;
      for (const v of ch) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      let scale = Math.fround(1 / Math.fround(hi - lo));
      if (!Number.isFinite(scale)) {
        lo = 0;
        scale = 1;
      }
      for (let p = 0; p < HW; p++) out[c * HW + p] = clamp01(Math.fround(ch[p] - lo) * scale);
    }
    return out;
  },

  /** Histogram equalisation per channel on q (PIL's ImageOps.equalize = torchvision's equalize). */
  equalize(img: Image): Float32Array {
    const { data, C, H, W } = img,
      HW = H * W,
      out = new Float32Array(data.length);
    for (let c = 0; c < C; c++) {
      const q = Uint8Array.from(data.subarray(c * HW, (c + 1) * HW), toUint8);
      const hist = new Float64Array(256);
      for (const v of q) hist[v]++;
      // step: the count of all non-empty bins but the last one, over 255.
      let last = 255;
      while (last > 0 && hist[last] === 0) last--;
      let rest = 0;
      for (let v = 0; v < last; v++) rest += hist[v];
      const step = Math.floor(rest / 255);
      if (step === 0) {
        for (let p = 0; p < HW; p++) out[c * HW + p] = q[p] / 255;
        continue;
      }
      const lut = new Float64Array(256);
      let cum = 0;
      for (let v = 0; v < 256; v++) {
        lut[v] = Math.min(255, Math.floor((cum + Math.floor(step / 2)) / step));
        cum += hist[v];
      }
      for (let p = 0; p < HW; p++) out[c * HW + p] = lut[q[p]] / 255;
    }
    return out;
  },

  brightness: (img: Image, factor: number): Float32Array => blend(img, factor, () => 0),

  /** torchvision's adjust_saturation (PIL's ImageEnhance.Color): blend with the grayscale image. */
  saturation(img: Image, factor: number): Float32Array {
    const g = grayscale(img);
    return blend(img, factor, (_c, p) => g[p]);
  },

  contrast(img: Image, factor: number): Float32Array {
    const g = grayscale(img);
    let s = 0;
    for (const v of g) s += v;
    const mean = s / g.length;
    return blend(img, factor, () => mean);
  },

  /** Blend with the image smoothed by [[1,1,1],[1,5,1],[1,1,1]]/13 inside a one-pixel border that stays. */
  sharpness(img: Image, factor: number): Float32Array {
    const { data, C, H, W } = img,
      HW = H * W;
    if (H <= 2 || W <= 2) return data.slice();
    const blurred = data.slice();
    for (let c = 0; c < C; c++)
      for (let i = 1; i < H - 1; i++)
        for (let j = 1; j < W - 1; j++) {
          const p = c * HW + i * W + j;
          let s = 4 * data[p];
          for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) s += data[p + di * W + dj];
          blurred[p] = s / 13;
        }
    return blend(img, factor, (c, p) => blurred[c * HW + p]);
  },
};

const factor = (fn: string, v: unknown) => checkNumber(fn, 'factor', v, 0);

/** x [N, C, H, W] in [0, 1]: 1 - x. */
export const invert = (x: Tensor): Tensor => mapImages('invert', x, imageOps.invert);
/** Keeps the `bits` high bits of round(255 x) (0 to 8). */
export const posterize = (x: Tensor, bits: number): Tensor =>
  mapImages('posterize', x, (img) => imageOps.posterize(img, checkNumber('posterize', 'bits', bits, 0, 8, true)));
/** Inverts pixels whose round(255 x) >= threshold (0 to 256, uint8 units). */
export const solarize = (x: Tensor, threshold: number): Tensor =>
  mapImages('solarize', x, (img) => imageOps.solarize(img, checkNumber('solarize', 'threshold', threshold, 0, 256)));
/** Adds add/255 where round(255 x) < threshold (timm's SolarizeAdd; uint8 units). */
export const solarizeAdd = (x: Tensor, add: number, threshold = 128): Tensor =>
  mapImages('solarizeAdd', x, (img) =>
    imageOps.solarizeAdd(
      img,
      checkNumber('solarizeAdd', 'add', add, -255, 255),
      checkNumber('solarizeAdd', 'threshold', threshold, 0, 256),
    ),
  );
export const autocontrast = (x: Tensor): Tensor => mapImages('autocontrast', x, imageOps.autocontrast);
export const equalize = (x: Tensor): Tensor => mapImages('equalize', x, imageOps.equalize);
export const adjustBrightness = (x: Tensor, f: number): Tensor =>
  mapImages('adjustBrightness', x, (img) => imageOps.brightness(img, factor('adjustBrightness', f)));
export const adjustSaturation = (x: Tensor, f: number): Tensor =>
  mapImages('adjustSaturation', x, (img) => imageOps.saturation(img, factor('adjustSaturation', f)));
export const adjustContrast = (x: Tensor, f: number): Tensor =>
  mapImages('adjustContrast', x, (img) => imageOps.contrast(img, factor('adjustContrast', f)));
export const adjustSharpness = (x: Tensor, f: number): Tensor =>
  mapImages('adjustSharpness', x, (img) => imageOps.sharpness(img, factor('adjustSharpness', f)));
