// RandAugment (Cubuk et al. 2020) as timm's rand_augment_transform builds it: `numOps` operations
// drawn uniformly with replacement from timm's _RAND_TRANSFORMS (or _RAND_INCREASING_TRANSFORMS with
// inc1), each applied with probability `prob` (0.5) at magnitude M on timm's scale of 10
// (_LEVEL_DENOM), optionally jittered by N(M, magnitudeStd) (uniform in [0, M] for a std above 100)
// and clipped to [0, magnitudeMax]. Magnitude-to-argument maps are timm's; the operations are
// torchvision's tensor ones (color.ts, geometry.ts), with shear about the top-left corner and
// shear angle atan(level) as torchvision's RandAugment, a fill of round(255 * mean) / 255 (timm's
// img_mean) and bilinear sampling (timm picks bilinear or bicubic at random in PIL).
import { Tensor } from '../../tensor/tensor';
import type { Rng } from '../../tensor/random';
import { Image, batchDims, checkNumber, fillValues } from './image';
import { imageOps } from './color';
import { inverseAffineMatrix, warpImage, Interpolation, checkInterpolation } from './geometry';
import { uniform } from './sample';

export const LEVEL_DENOM = 10;

export interface RandAugmentSpec {
  name: 'randaugment';
  /** M on timm's scale of 10 (default 10, as timm's 'rand' with no m). */
  magnitude?: number;
  /** Operations per image (default 2). */
  numOps?: number;
  /** Std of the per-operation magnitude noise (default 0; above 100: uniform in [0, M]). */
  magnitudeStd?: number;
  /** Upper clip of the noisy magnitude (default 10). */
  magnitudeMax?: number;
  /** Chance each drawn operation is applied (default 0.5, timm's). */
  prob?: number;
  /** timm's inc1: the variants whose severity grows with M. */
  increasing?: boolean;
  /** A subset of the operation names (default: all of the chosen set). */
  ops?: string[];
  interpolation?: Interpolation;
  /** 'mean' (the model's mean, rounded to uint8 as timm's img_mean) or a value or one per channel. */
  fill?: 'mean' | number | number[];
}

export interface CheckedRandAugment {
  name: 'randaugment';
  magnitude: number;
  numOps: number;
  magnitudeStd: number;
  magnitudeMax: number;
  prob: number;
  increasing: boolean;
  ops: string[];
  interpolation: Interpolation;
  fill: 'mean' | number | number[];
}

/** timm's _RAND_TRANSFORMS and _RAND_INCREASING_TRANSFORMS. */
export const RAND_TRANSFORMS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'Posterize',
  'Solarize',
  'SolarizeAdd',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
];
export const RAND_INCREASING_TRANSFORMS = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'PosterizeIncreasing',
  'SolarizeIncreasing',
  'SolarizeAdd',
  'ColorIncreasing',
  'ContrastIncreasing',
  'BrightnessIncreasing',
  'SharpnessIncreasing',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
];

// timm's _randomly_negate: one draw, negative when it is above 0.5.
const negate = (v: number, rng: Rng) => (rng.uniform() > 0.5 ? -v : v);
const enhance = (m: number) => (m / LEVEL_DENOM) * 1.8 + 0.1;
const enhanceIncreasing = (m: number, rng: Rng) => Math.max(0.1, 1 + negate((m / LEVEL_DENOM) * 0.9, rng));
const posterizeBits = (m: number) => Math.trunc((m / LEVEL_DENOM) * 4);
const solarizeThreshold = (m: number) => Math.trunc((m / LEVEL_DENOM) * 256);

interface OpContext {
  interpolation: Interpolation;
  fill: number[];
}

interface OpDef {
  /** timm's level_fn: magnitude -> the operation's argument (none for the parameter-free ones). */
  level: ((m: number, rng: Rng) => number) | null;
  apply: (img: Image, arg: number, ctx: OpContext) => Float32Array;
}

const warp = (
  img: Image,
  ctx: OpContext,
  angle: number,
  translate: [number, number],
  shear: [number, number],
  topLeft: boolean,
) =>
  warpImage(
    img,
    inverseAffineMatrix(topLeft ? [-img.W * 0.5, -img.H * 0.5] : [0, 0], angle, translate, 1, shear),
    ctx.interpolation,
    ctx.fill,
  );
const degrees = (v: number) => (Math.atan(v) * 180) / Math.PI;

const OPS: Record<string, OpDef> = {
  AutoContrast: { level: null, apply: (img) => imageOps.autocontrast(img) },
  Equalize: { level: null, apply: (img) => imageOps.equalize(img) },
  Invert: { level: null, apply: (img) => imageOps.invert(img) },
  // F.rotate(angle) is affine(-angle): counter-clockwise, as PIL's rotate.
  Rotate: {
    level: (m, rng) => negate((m / LEVEL_DENOM) * 30, rng),
    apply: (img, a, ctx) => warp(img, ctx, -a, [0, 0], [0, 0], false),
  },
  Posterize: { level: posterizeBits, apply: (img, bits) => imageOps.posterize(img, bits) },
  PosterizeIncreasing: { level: (m) => 4 - posterizeBits(m), apply: (img, bits) => imageOps.posterize(img, bits) },
  Solarize: { level: solarizeThreshold, apply: (img, t) => imageOps.solarize(img, t) },
  SolarizeIncreasing: { level: (m) => 256 - solarizeThreshold(m), apply: (img, t) => imageOps.solarize(img, t) },
  SolarizeAdd: {
    level: (m) => Math.trunc((m / LEVEL_DENOM) * 110),
    apply: (img, add) => imageOps.solarizeAdd(img, add, 128),
  },
  Color: { level: enhance, apply: (img, f) => imageOps.saturation(img, f) },
  ColorIncreasing: { level: enhanceIncreasing, apply: (img, f) => imageOps.saturation(img, f) },
  Contrast: { level: enhance, apply: (img, f) => imageOps.contrast(img, f) },
  ContrastIncreasing: { level: enhanceIncreasing, apply: (img, f) => imageOps.contrast(img, f) },
  Brightness: { level: enhance, apply: (img, f) => imageOps.brightness(img, f) },
  BrightnessIncreasing: { level: enhanceIncreasing, apply: (img, f) => imageOps.brightness(img, f) },
  Sharpness: { level: enhance, apply: (img, f) => imageOps.sharpness(img, f) },
  SharpnessIncreasing: { level: enhanceIncreasing, apply: (img, f) => imageOps.sharpness(img, f) },
  // Shear factor s (PIL's affine (1, s, 0, 0, 1, 0)) is a shear angle of atan(s) about the top-left corner.
  ShearX: {
    level: (m, rng) => negate((m / LEVEL_DENOM) * 0.3, rng),
    apply: (img, s, ctx) => warp(img, ctx, 0, [0, 0], [degrees(s), 0], true),
  },
  ShearY: {
    level: (m, rng) => negate((m / LEVEL_DENOM) * 0.3, rng),
    apply: (img, s, ctx) => warp(img, ctx, 0, [0, 0], [0, degrees(s)], true),
  },
  // A fraction of the width (height): timm's translate_pct 0.45.
  TranslateXRel: {
    level: (m, rng) => negate((m / LEVEL_DENOM) * 0.45, rng),
    apply: (img, f, ctx) => warp(img, ctx, 0, [f * img.W, 0], [0, 0], false),
  },
  TranslateYRel: {
    level: (m, rng) => negate((m / LEVEL_DENOM) * 0.45, rng),
    apply: (img, f, ctx) => warp(img, ctx, 0, [0, f * img.H], [0, 0], false),
  },
};

export const RAND_AUGMENT_OPS = Object.keys(OPS);

export function checkRandAugment(fn: string, s: Record<string, unknown>): CheckedRandAugment {
  const at = (k: string) => `augment randaugment.${k}`;
  const num = (k: string, dflt: number, min: number, max = Infinity, integer = false) =>
    s[k] === undefined ? dflt : checkNumber(fn, at(k), s[k], min, max, integer);
  if (s.increasing !== undefined && typeof s.increasing !== 'boolean')
    throw new TypeError(`${fn}: ${at('increasing')} must be true or false, got ${JSON.stringify(s.increasing)}`);
  const increasing = Boolean(s.increasing);
  let ops = increasing ? RAND_INCREASING_TRANSFORMS : RAND_TRANSFORMS;
  if (s.ops !== undefined) {
    if (!Array.isArray(s.ops) || s.ops.length === 0)
      throw new TypeError(
        `${fn}: ${at('ops')} must be a non-empty array of operation names, got ${JSON.stringify(s.ops)}`,
      );
    for (const o of s.ops)
      if (typeof o !== 'string' || !(o in OPS))
        throw new RangeError(`${fn}: ${at('ops')} has ${JSON.stringify(o)}; known: ${RAND_AUGMENT_OPS.join(', ')}`);
    ops = s.ops as string[];
  }
  const fill = s.fill ?? 'mean';
  if (fill !== 'mean') fillValues(fn, fill, Array.isArray(fill) ? fill.length : 1);
  return {
    name: 'randaugment',
    magnitude: num('magnitude', LEVEL_DENOM, 0, 1e6),
    numOps: num('numOps', 2, 0, 100, true),
    magnitudeStd: num('magnitudeStd', 0, 0, 1e6),
    magnitudeMax: num('magnitudeMax', LEVEL_DENOM, 0, 1e6),
    prob: num('prob', 0.5, 0, 1),
    increasing,
    ops: [...ops],
    interpolation: checkInterpolation(fn, s.interpolation),
    fill: fill as CheckedRandAugment['fill'],
  };
}

export interface PlannedOp {
  op: string;
  /** False when the op was drawn but its `prob` draw skipped it. */
  applied: boolean;
  /** The (noisy, clipped) magnitude and the argument it maps to, when applied. */
  magnitude?: number;
  arg?: number;
}

/** The operations one image gets: timm's RandAugment.__call__ and AugmentOp.__call__, draw for draw. */
export function randAugmentPlan(r: CheckedRandAugment, rng: Rng): PlannedOp[] {
  const chosen = Array.from({ length: r.numOps }, () => r.ops[rng.below(r.ops.length)]);
  return chosen.map((op) => {
    if (r.prob < 1 && rng.uniform() > r.prob) return { op, applied: false };
    let m = r.magnitude;
    if (r.magnitudeStd > 100) m = uniform(rng, 0, m);
    else if (r.magnitudeStd > 0) m = m + r.magnitudeStd * rng.normal();
    m = Math.max(0, Math.min(m, r.magnitudeMax));
    const level = OPS[op].level;
    return { op, applied: true, magnitude: m, ...(level && { arg: level(m, rng) }) };
  });
}

/** Applies a plan to one image. */
export function applyPlan(img: Image, plan: PlannedOp[], ctx: OpContext): Float32Array {
  let data = img.data;
  for (const p of plan) if (p.applied) data = OPS[p.op].apply({ ...img, data }, p.arg ?? 0, ctx);
  return data === img.data ? data.slice() : data;
}

/** The fill value of the geometric operations, one per channel. */
export function resolveFill(r: CheckedRandAugment, mean: readonly number[], C: number): number[] {
  if (r.fill === 'mean')
    return Array.from({ length: C }, (_, c) => Math.min(255, Math.round(255 * mean[c % mean.length])) / 255);
  return fillValues('randAugment', r.fill, C);
}

/** RandAugment of every sample of x [N, C, H, W] in [0, 1]; `mean`: the model's (for fill 'mean'). */
export function randAugment(x: Tensor, r: CheckedRandAugment, rng: Rng, mean: readonly number[]): Tensor {
  const [N, C, H, W] = batchDims('randAugment', x),
    size = C * H * W;
  const ctx = { interpolation: r.interpolation, fill: resolveFill(r, mean, C) };
  const out = new Float32Array(x.size);
  for (let n = 0; n < N; n++)
    out.set(
      applyPlan({ data: x.data.subarray(n * size, (n + 1) * size), C, H, W }, randAugmentPlan(r, rng), ctx),
      n * size,
    );
  return new Tensor(out, x.shape);
}

/** timm's config string rand-m9-n2-mstd0.5-mmax10-inc1-p0.5 (sections in any order) as a spec. */
export function parseRandAugmentString(fn: string, text: string): RandAugmentSpec {
  const [head, ...sections] = text.split('-');
  if (head !== 'rand')
    throw new RangeError(`${fn}: a RandAugment string starts with 'rand', got ${JSON.stringify(text)}`);
  const spec: RandAugmentSpec = { name: 'randaugment' };
  for (const s of sections) {
    const m = /^([a-z]+)(\d.*)$/.exec(s);
    const value = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(value))
      throw new RangeError(
        `${fn}: RandAugment section ${JSON.stringify(s)} of ${JSON.stringify(text)} is not <key><number> (keys: m, n, mstd, mmax, inc, p)`,
      );
    const key = m[1];
    if (key === 'm') spec.magnitude = value;
    else if (key === 'n') spec.numOps = value;
    else if (key === 'mstd') spec.magnitudeStd = value;
    else if (key === 'mmax') spec.magnitudeMax = value;
    else if (key === 'inc') spec.increasing = value !== 0;
    else if (key === 'p') spec.prob = value;
    else
      throw new RangeError(
        `${fn}: unknown RandAugment section ${JSON.stringify(key)} in ${JSON.stringify(text)} (keys: m, n, mstd, mmax, inc, p)`,
      );
  }
  return spec;
}
