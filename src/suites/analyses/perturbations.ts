// The robust-ViT work's look at what attacks change: for a few samples, each model's PGD perturbation
// (x_adv - x) and its input gradient (d cross-entropy / d x at the clean image, in pixel space) shown
// side by side, each map scaled per image so that its own structure is visible. A robust model's maps
// look like the object (edges, strokes); a standard model's look like noise.
import { Tensor } from '../../tensor/tensor';
import * as ops from '../../tensor/ops';
import { ImageClassifier } from '../../models/classifier';
import { argmax } from '../../models/evaluate';
import type { LabeledDataset } from '../../io/dataset';
import { runAttack } from '../../attacks/run';
import type { SpaceName } from '../../attacks/space';
import { checkModel, checkDataset, checkOptionsObject, checkInt, checkNumber } from './common';

/**
 * How a map is brought to [0, 1] for display, per image over its three channels together:
 * 'minmax' (default) maps its own minimum to 0 and maximum to 1; 'symmetric' maps 0 to 0.5 and the
 * largest |value| to 0 or 1 (so grey means zero and the sign stays readable). A constant map is 0.5.
 */
export type MapNormalization = 'minmax' | 'symmetric';
export const MAP_NORMALIZATIONS: readonly MapNormalization[] = ['minmax', 'symmetric'];

export interface PerturbationViewsOptions {
  /** The first `samples` samples of the data (default 8). */
  samples?: number;
  /** L-inf radius of the PGD attack (default 8/255), in pixels or, with space 'normalized', in std units. */
  eps?: number;
  /** PGD steps (default 10) and step size (default 2.5 eps / steps). */
  steps?: number;
  alpha?: number;
  space?: SpaceName;
  /** Seed of PGD's random start (default 0). */
  seed?: number;
  normalization?: MapNormalization;
  batchSize?: number;
}

export interface PerturbationModelView {
  label: string;
  cleanPred: number[];
  advPred: number[];
  /** L-inf norm of each perturbation, in pixels. */
  linf: number[];
  /** Raw maps [N, 3, H, W]: x_adv - x, and d CE(model(x), y) / dx (y: the label, or the prediction where it is -1). */
  perturbation: Tensor;
  gradient: Tensor;
}

export interface PerturbationViewsResult {
  samples: number;
  eps: number;
  steps: number;
  space: SpaceName;
  normalization: MapNormalization;
  /** The clean images [N, 3, H, W] in [0, 1], their labels and ids. */
  images: Tensor;
  labels: number[];
  ids: string[];
  models: PerturbationModelView[];
}

const OPTIONS = ['samples', 'eps', 'steps', 'alpha', 'space', 'seed', 'normalization', 'batchSize'];

/** A map of one image (its C*H*W values) scaled to [0, 1] as `mode` says. */
export function normalizeMap(values: ArrayLike<number>, mode: MapNormalization = 'minmax'): Float32Array {
  const out = new Float32Array(values.length);
  if (mode === 'symmetric') {
    let m = 0;
    for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
    for (let i = 0; i < values.length; i++) out[i] = m > 0 ? 0.5 + values[i] / (2 * m) : 0.5;
    return out;
  }
  let lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  for (let i = 0; i < values.length; i++) out[i] = hi > lo ? (values[i] - lo) / (hi - lo) : 0.5;
  return out;
}

/** Each image of a [N, C, H, W] map normalised on its own. */
export function normalizeMaps(maps: Tensor, mode: MapNormalization = 'minmax'): Tensor {
  const D = maps.size / maps.shape[0];
  const out = new Float32Array(maps.size);
  for (let n = 0; n < maps.shape[0]; n++) out.set(normalizeMap(maps.data.subarray(n * D, (n + 1) * D), mode), n * D);
  return new Tensor(out, maps.shape);
}

/** d CE / dx at x (pixels), one batch; unlabelled samples (-1) use the predicted class. */
function inputGradient(model: ImageClassifier, x: Tensor, y: Int32Array): Float32Array {
  const input = new Tensor(x.data.slice(), x.shape, true);
  const logits = model.forward(input);
  const predicted = argmax(logits);
  const labels = Int32Array.from(y, (l, i) => (l >= 0 && l < logits.shape[1] ? l : predicted[i]));
  ops.crossEntropy(logits, labels, { reduction: 'sum' }).backward();
  return (input.grad as Tensor).data.slice();
}

/** Models as given: one, or several with a label each. */
function labeledModels(fn: string, models: unknown): { label: string; model: ImageClassifier }[] {
  if (!Array.isArray(models)) return [{ label: 'model', model: checkModel(fn, models) }];
  if (models.length === 0 || models.length > 8)
    throw new RangeError(`${fn}: models must be 1 to 8 { label, model } entries, got ${models.length}`);
  return models.map((m, i) => {
    if (!m || typeof m !== 'object' || typeof m.label !== 'string' || m.label === '')
      throw new TypeError(`${fn}: models[${i}] must be { label: string, model }`);
    return { label: m.label, model: checkModel(fn, m.model, `models[${i}].model`) };
  });
}

/** The perturbations and input gradients of one or several models on the first samples of `data`. */
export async function perturbationViews(
  models: ImageClassifier | { label: string; model: ImageClassifier }[],
  data: LabeledDataset,
  options: PerturbationViewsOptions = {},
): Promise<PerturbationViewsResult> {
  const fn = 'perturbationViews';
  const list = labeledModels(fn, models);
  const ds = checkDataset(fn, data);
  const o = checkOptionsObject<PerturbationViewsOptions>(fn, options, OPTIONS);
  const N = Math.min(ds.length, checkInt(fn, 'samples', o.samples, 1, 8));
  if (N > 256) throw new RangeError(`${fn}: samples must be at most 256 (it is a figure), got ${N}`);
  const eps = checkNumber(fn, 'eps', o.eps, { positive: true }, 8 / 255);
  const steps = checkInt(fn, 'steps', o.steps, 1, 10);
  const batchSize = checkInt(fn, 'batchSize', o.batchSize, 1, 32);
  const seed = checkInt(fn, 'seed', o.seed, 0, 0);
  const space = o.space ?? 'pixel';
  if (space !== 'pixel' && space !== 'normalized')
    throw new RangeError(`${fn}: space must be 'pixel' or 'normalized', got ${JSON.stringify(space)}`);
  const normalization = o.normalization ?? 'minmax';
  if (!MAP_NORMALIZATIONS.includes(normalization))
    throw new RangeError(
      `${fn}: normalization must be ${MAP_NORMALIZATIONS.map((m) => `'${m}'`).join(' or ')}, got ${JSON.stringify(normalization)}`,
    );
  const subset: LabeledDataset = { length: N, load: (a, b) => ds.load(a, b), id: (i) => ds.id(i) };
  const { x, y } = await subset.load(0, N);
  const views: PerturbationModelView[] = [];
  for (const { label, model } of list) {
    model.eval();
    const attack = await runAttack(model, subset, {
      attack: 'pgd',
      options: {
        eps,
        steps,
        seed,
        space,
        ...(o.alpha !== undefined && { alpha: checkNumber(fn, 'alpha', o.alpha, { positive: true }, 0) }),
      },
      batchSize,
    });
    const xAdv = attack.xAdv as Tensor;
    const perturbation = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) perturbation[i] = xAdv.data[i] - x.data[i];
    const gradient = new Float32Array(x.size);
    const D = x.size / N;
    for (let start = 0; start < N; start += batchSize) {
      const end = Math.min(N, start + batchSize);
      const xb = new Tensor(x.data.slice(start * D, end * D), [end - start, ...x.shape.slice(1)]);
      gradient.set(inputGradient(model, xb, y.subarray(start, end)), start * D);
    }
    views.push({
      label,
      cleanPred: Array.from(attack.cleanPred),
      advPred: Array.from(attack.advPred),
      linf: Array.from(attack.linf),
      perturbation: new Tensor(perturbation, x.shape),
      gradient: new Tensor(gradient, x.shape),
    });
  }
  return {
    samples: N,
    eps,
    steps,
    space,
    normalization,
    images: x,
    labels: Array.from(y),
    ids: Array.from({ length: N }, (_, i) => ds.id(i)),
    models: views,
  };
}

/** The grid as 8-bit RGB: a row per sample; columns: the image, then each model's perturbation and gradient. */
export function perturbationGrid(
  result: PerturbationViewsResult,
  options: { scale?: number; gap?: number } = {},
): { width: number; height: number; rgb: Uint8Array; columns: string[]; cell: [number, number] } {
  const fn = 'perturbationGrid';
  const [N, C, H, W] = result.images.shape;
  if (C !== 3) throw new RangeError(`${fn}: images must have 3 channels, got ${C}`);
  // Small images (digits, CIFAR) are enlarged to at least 96 pixels a side, by whole factors.
  const scale = checkInt(fn, 'scale', options.scale, 1, Math.max(1, Math.ceil(96 / Math.max(H, W))));
  const gap = checkInt(fn, 'gap', options.gap, 0, 4);
  const maps: Tensor[] = [result.images];
  const columns = ['image'];
  for (const m of result.models) {
    maps.push(normalizeMaps(m.perturbation, result.normalization), normalizeMaps(m.gradient, result.normalization));
    columns.push(`${m.label}: perturbation`, `${m.label}: gradient`);
  }
  const cw = W * scale,
    ch = H * scale;
  const width = maps.length * cw + (maps.length + 1) * gap,
    height = N * ch + (N + 1) * gap;
  const rgb = new Uint8Array(width * height * 3).fill(255);
  maps.forEach((map, col) => {
    for (let n = 0; n < N; n++)
      for (let r = 0; r < ch; r++)
        for (let c = 0; c < cw; c++) {
          const px = (n * 3 * H + Math.floor(r / scale)) * W + Math.floor(c / scale);
          const at = ((gap + n * (ch + gap) + r) * width + gap + col * (cw + gap) + c) * 3;
          for (let k = 0; k < 3; k++)
            rgb[at + k] = Math.round(255 * Math.min(1, Math.max(0, map.data[px + k * H * W])));
        }
  });
  return { width, height, rgb, columns, cell: [cw, ch] };
}
