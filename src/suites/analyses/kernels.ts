// Kernel attention distance (the study's 4.6): how far from its centre a depthwise kernel puts its
// weight, per channel, |w|-weighted and normalised so a corner-only kernel is 1.
import { Tensor, shapeString } from '../../tensor/tensor';
import type { ImageClassifier } from '../../models/classifier';
import { checkModel, checkOptionsObject } from './common';

export interface KernelDistanceOptions {
  /** Which kernels (state-dict keys of model.depthwiseKernels()): a list, or a pattern (default all). */
  kernels?: string[] | RegExp;
}

export interface KernelDistanceLayer {
  /** State-dict key of the weight. */
  key: string;
  kernelSize: [number, number];
  /** Per channel, sorted ascending. */
  distances: number[];
  mean: number;
}

export interface KernelDistanceResult {
  layers: KernelDistanceLayer[];
}

/**
 * Per channel of a depthwise weight [C, 1, Kh, Kw]: sum |w| * |p - centre| / sum |w| / sqrt(Rh^2 + Rw^2)
 * with R = (K - 1) / 2 (R * sqrt 2 for a square kernel), sorted ascending; an all-zero channel counts as 0.
 */
export function kernelDistances(weight: Tensor): number[] {
  if (!(weight instanceof Tensor))
    throw new TypeError(`kernelDistances: weight must be a Tensor [C, 1, K, K], got ${typeof weight}`);
  if (weight.ndim !== 4 || weight.shape[1] !== 1 || weight.shape[2] * weight.shape[3] < 2)
    throw new RangeError(
      `kernelDistances: weight must be a depthwise kernel [C, 1, Kh, Kw] larger than 1x1, got ${shapeString(weight.shape)}`,
    );
  const [C, , Kh, Kw] = weight.shape;
  const ry = (Kh - 1) / 2,
    rx = (Kw - 1) / 2,
    scale = Math.hypot(ry, rx);
  const out: number[] = [];
  for (let c = 0; c < C; c++) {
    let num = 0,
      den = 0;
    for (let i = 0; i < Kh; i++)
      for (let j = 0; j < Kw; j++) {
        const a = Math.abs(weight.data[(c * Kh + i) * Kw + j]);
        num += a * Math.hypot(i - ry, j - rx);
        den += a;
      }
    out.push(den > 0 ? num / den / scale : 0);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Kernel attention distance of every depthwise kernel the model holds now. RepLKNet before reparam()
 * holds the large and the small kernel separately (lkb_origin, small_conv, BN not folded); after
 * reparam() the merged kernel (lkb_reparam), which is what the study plots.
 */
export function kernelDistance(model: ImageClassifier, options?: KernelDistanceOptions): KernelDistanceResult {
  const fn = 'kernelDistance';
  checkModel(fn, model);
  const o = checkOptionsObject<KernelDistanceOptions>(fn, options, ['kernels']);
  const all = model.depthwiseKernels();
  let keys = [...all.keys()];
  if (o.kernels instanceof RegExp) keys = keys.filter((k) => (o.kernels as RegExp).test(k));
  else if (Array.isArray(o.kernels)) {
    const missing = o.kernels.filter((k) => !all.has(k));
    if (missing.length)
      throw new RangeError(
        `${fn}: kernels names unknown depthwise kernel(s) ${missing.join(', ')}; the model's are ${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', ...' : ''}`,
      );
    keys = o.kernels.slice();
  } else if (o.kernels !== undefined)
    throw new TypeError(`${fn}: kernels must be an array of keys or a RegExp, got ${typeof o.kernels}`);
  if (keys.length === 0) throw new RangeError(`${fn}: no depthwise kernels to analyse (the model has ${all.size})`);
  return {
    layers: keys.map((key) => {
      const w = all.get(key) as Tensor;
      const distances = kernelDistances(w);
      return {
        key,
        kernelSize: [w.shape[2], w.shape[3]],
        distances,
        mean: distances.reduce((s, d) => s + d, 0) / distances.length,
      };
    }),
  };
}
