// Occlusion (the study's 4.1): the image is cut into P x P patches and some are set to 0 (in [0, 1]
// pixel space, before the model's normalisation): random patches, or the most / least salient ones.
import { withDevice } from '../../models/device';
import { Tensor, noGrad } from '../../tensor/tensor';
import * as ops from '../../tensor/ops';
import { checkOneOf } from '../../tensor/check';
import { ImageClassifier } from '../../models/classifier';
import { argmax } from '../../models/evaluate';
import type { LabeledDataset } from '../../io/dataset';
import {
  DatasetOptions,
  DATASET_OPTIONS,
  accuracyOf,
  correctCounts,
  checkDataset,
  checkInt,
  checkModel,
  checkNumberList,
  checkOptionsObject,
  copyOf,
  countCorrect,
  datasetOptions,
  sum,
  Rng,
  checkFiniteValues,
} from './common';

export type OcclusionMode = 'random' | 'salient' | 'non-salient';

export interface OcclusionOptions extends DatasetOptions {
  /** Fractions to drop (default 0.1, 0.2, ..., 0.9). */
  ratios?: number[];
  /** Which patches go (default 'random'). */
  mode?: OcclusionMode;
  /** Patch side in pixels (default 16, as ViT's patches). */
  patchSize?: number;
  /** Salient modes: the CLS attention of a DINO-style ViT, or input-gradient magnitude (default). */
  saliency?: 'gradient' | { dino: ImageClassifier };
  /** Random mode: seed of the patch choice (default 0). */
  seed?: number;
}

export interface OcclusionPoint {
  ratio: number;
  accuracy: number;
  /** clean - accuracy (positive: accuracy lost). */
  drop: number;
  /** Mean fraction of the patches dropped (differs from ratio in the salient modes). */
  patchFraction: number;
  /** Samples still classified correctly, and patches dropped over all samples (exact counts for merging shards). */
  correct: number;
  droppedPatches: number;
}

export interface OcclusionResult {
  mode: OcclusionMode;
  saliency: 'gradient' | 'dino' | null;
  patchSize: number;
  /** Patch rows and columns (edge patches may be partial). */
  grid: [number, number];
  samples: number;
  seed: number;
  clean: number;
  cleanCorrect: number;
  points: OcclusionPoint[];
}

export interface PatchGrid {
  rows: number;
  cols: number;
  patchSize: number;
  height: number;
  width: number;
}

export function patchGrid(height: number, width: number, patchSize: number): PatchGrid {
  return { rows: Math.ceil(height / patchSize), cols: Math.ceil(width / patchSize), patchSize, height, width };
}

/**
 * Which patches to drop (1 = dropped) for one image. random: round(ratio * N) patches drawn with
 * `random`. salient: patches in decreasing saliency (ties: lower index first) until their share of
 * the total saliency reaches `ratio` (Naseer et al.: the patches holding the top ratio of the mass);
 * non-salient: the same from the least salient end. ratio 0 drops nothing; saliencies must be >= 0.
 */
export function occlusionMask(
  mode: OcclusionMode,
  ratio: number,
  patches: number,
  source: { saliency?: ArrayLike<number>; random?: Rng },
): Uint8Array {
  const mask = new Uint8Array(patches);
  if (mode === 'random') {
    if (!source.random) throw new TypeError("occlusionMask: mode 'random' needs source.random");
    for (const i of source.random.choose(patches, Math.round(ratio * patches))) mask[i] = 1;
    return mask;
  }
  const s = source.saliency;
  if (!s || s.length !== patches)
    throw new RangeError(`occlusionMask: mode '${mode}' needs ${patches} patch saliencies`);
  const sign = mode === 'salient' ? -1 : 1;
  const order = Array.from({ length: patches }, (_, i) => i).sort((a, b) => sign * (s[a] - s[b]) || a - b);
  let total = 0;
  for (let i = 0; i < patches; i++) total += s[i];
  // An image without any saliency has no mass to cut: fall back to round(ratio * N) patches.
  if (!(total > 0)) {
    for (let k = 0; k < Math.round(ratio * patches); k++) mask[order[k]] = 1;
    return mask;
  }
  const target = ratio * total * (1 - 1e-12);
  for (let k = 0, mass = 0; k < patches && mass < target; k++) {
    mask[order[k]] = 1;
    mass += s[order[k]];
  }
  return mask;
}

/** Sets the pixels of the dropped patches of sample n of x [N, C, H, W] to 0, in place. */
export function applyPatchMask(x: Tensor, n: number, mask: Uint8Array, grid: PatchGrid): void {
  const [, C, H, W] = x.shape;
  const P = grid.patchSize;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    const r0 = Math.floor(p / grid.cols) * P,
      c0 = (p % grid.cols) * P;
    for (let c = 0; c < C; c++)
      for (let r = r0; r < Math.min(H, r0 + P); r++)
        x.data.fill(0, ((n * C + c) * H + r) * W + c0, ((n * C + c) * H + r) * W + Math.min(W, c0 + P));
  }
}

/** Per-pixel saliency [N][H * W] summed into patches [N][rows * cols]. */
export function patchSums(pixels: Float64Array[], grid: PatchGrid): Float64Array[] {
  const { rows, cols, patchSize: P, height: H, width: W } = grid;
  return pixels.map((map) => {
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < H; r++)
      for (let c = 0; c < W; c++) out[Math.floor(r / P) * cols + Math.floor(c / P)] += map[r * W + c];
    return out;
  });
}

/** |d cross-entropy(true class) / d x| summed over channels, per pixel; an unlabelled (-1) sample
 * uses the predicted class. */
export function gradientSaliency(model: ImageClassifier, x: Tensor, y: Int32Array): Float64Array[] {
  const [N, C, H, W] = x.shape;
  const input = new Tensor(x.data.slice(), x.shape, true);
  const logits = model.forward(input);
  const predicted = argmax(logits);
  const labels = Int32Array.from(y, (l, i) => (l >= 0 && l < logits.shape[1] ? l : predicted[i]));
  ops.crossEntropy(logits, labels, { reduction: 'sum' }).backward();
  const g = (input.grad as Tensor).data;
  checkFiniteValues('the model returned non-finite gradients', g, N);
  return Array.from({ length: N }, (_, n) => {
    const map = new Float64Array(H * W);
    for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) map[i] += Math.abs(g[(n * C + c) * H * W + i]);
    return map;
  });
}

/** The last block's CLS-to-patch attention of a ViT, averaged over heads, spread evenly over each
 * ViT patch's pixels (DINO's saliency). */
export function attentionSaliency(dino: ImageClassifier, x: Tensor): Float64Array[] {
  const [N, , H, W] = x.shape;
  const last = dino.blockNames().length - 1;
  const probs = noGrad(() => dino.run(x, { attention: [last] })).attention.get(last);
  if (!probs) throw new TypeError('occlusion: saliency.dino must be a ViT (a model that returns attention maps)');
  const [, heads, T] = probs.shape;
  const g = Math.round(Math.sqrt(T - 1));
  if (g * g !== T - 1 || H % g !== 0 || W % g !== 0)
    throw new RangeError(
      `occlusion: the DINO model's ${T - 1} patch tokens do not form a square grid over ${H}x${W} images`,
    );
  const cellH = H / g,
    cellW = W / g;
  return Array.from({ length: N }, (_, n) => {
    const map = new Float64Array(H * W);
    for (let r = 0; r < H; r++)
      for (let c = 0; c < W; c++) {
        const token = 1 + Math.floor(r / cellH) * g + Math.floor(c / cellW);
        let a = 0;
        for (let h = 0; h < heads; h++) a += probs.data[(n * heads + h) * T * T + token];
        map[r * W + c] = a / heads / (cellH * cellW);
      }
    return map;
  });
}

const DEFAULT_RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const MODES: OcclusionMode[] = ['random', 'salient', 'non-salient'];

/** Top-1 accuracy with a growing fraction of the patches dropped. */
export async function occlusion(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: OcclusionOptions,
): Promise<OcclusionResult> {
  return withDevice('occlusion', options?.device, [model], () => occlusionHere(model, data, options));
}

async function occlusionHere(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: OcclusionOptions,
): Promise<OcclusionResult> {
  const fn = 'occlusion';
  checkModel(fn, model);
  checkDataset(fn, data);
  const o = checkOptionsObject<OcclusionOptions>(fn, options, [
    ...DATASET_OPTIONS,
    'ratios',
    'mode',
    'patchSize',
    'saliency',
    'seed',
  ]);
  const { batchSize, start, end, onProgress } = datasetOptions(fn, data, o);
  const ratios = checkNumberList(fn, 'ratios', o.ratios, 0, 1, DEFAULT_RATIOS);
  const mode = o.mode === undefined ? 'random' : checkOneOf(fn, 'mode', o.mode, MODES);
  const patchSize = checkInt(fn, 'patchSize', o.patchSize, 1, 16);
  const seed = checkInt(fn, 'seed', o.seed, 0, 0);
  const saliency = o.saliency ?? 'gradient';
  if (
    saliency !== 'gradient' &&
    !(saliency && typeof saliency === 'object' && saliency.dino instanceof ImageClassifier)
  )
    throw new TypeError(
      `${fn}: saliency must be 'gradient' or { dino: ImageClassifier }, got ${typeof saliency === 'object' ? 'an object without dino' : String(saliency)}`,
    );

  let grid: PatchGrid | null = null;
  const dropped = new Array<number>(ratios.length).fill(0);
  const correct = await correctCounts(
    data,
    { start, end },
    batchSize,
    1 + ratios.length,
    ({ x, y }, first) => {
      const [N, , H, W] = x.shape;
      grid = patchGrid(H, W, patchSize);
      const patches = grid.rows * grid.cols;
      let saliencies: Float64Array[] | null = null;
      if (mode !== 'random') {
        const pixels = saliency === 'gradient' ? gradientSaliency(model, x, y) : attentionSaliency(saliency.dino, x);
        saliencies = patchSums(pixels, grid);
      }
      const counts = [countCorrect(model, x, y, batchSize)];
      ratios.forEach((ratio, k) => {
        const occluded = copyOf(x);
        for (let n = 0; n < N; n++) {
          // Keyed by the global sample index: a shard draws what the single run draws.
          const mask = occlusionMask(
            mode,
            ratio,
            patches,
            saliencies ? { saliency: saliencies[n] } : { random: Rng.keyed(seed, Math.round(ratio * 1e6), first + n) },
          );
          applyPatchMask(occluded, n, mask, grid as PatchGrid);
          dropped[k] += mask.reduce((s, v) => s + v, 0);
        }
        counts.push(countCorrect(model, occluded, y, batchSize));
      });
      return counts;
    },
    onProgress,
    fn,
  );
  // The grid of a shard without samples comes from the first image, as every other shard's does.
  const g: PatchGrid = grid ?? patchGridOf(await data.load(0, 1), patchSize);
  return occlusionFigures({
    mode,
    saliency: mode === 'random' ? null : saliency === 'gradient' ? 'gradient' : 'dino',
    patchSize,
    grid: [g.rows, g.cols],
    samples: end - start,
    seed,
    clean: 0,
    cleanCorrect: correct[0],
    points: ratios.map((ratio, k) => ({
      ratio,
      accuracy: 0,
      drop: 0,
      patchFraction: 0,
      correct: correct[k + 1],
      droppedPatches: dropped[k],
    })),
  });
}

function patchGridOf(batch: { x: Tensor }, patchSize: number): PatchGrid {
  return patchGrid(batch.x.shape[2], batch.x.shape[3], patchSize);
}

/** Fills in the accuracies and fractions from the counts (one formula for single runs and merges). */
function occlusionFigures(r: OcclusionResult): OcclusionResult {
  const clean = accuracyOf(r.cleanCorrect, r.samples),
    patches = r.grid[0] * r.grid[1];
  return {
    ...r,
    clean,
    points: r.points.map((p) => {
      const accuracy = accuracyOf(p.correct, r.samples);
      return { ...p, accuracy, drop: clean - accuracy, patchFraction: p.droppedPatches / (patches * r.samples) };
    }),
  };
}

/** The result of the whole run from its shards' results (in any order): counts added, figures recomputed. */
export function mergeOcclusion(shards: OcclusionResult[]): OcclusionResult {
  return occlusionFigures({
    ...shards[0],
    samples: sum(shards.map((r) => r.samples)),
    cleanCorrect: sum(shards.map((r) => r.cleanCorrect)),
    points: shards[0].points.map((p, k) => ({
      ...p,
      correct: sum(shards.map((r) => r.points[k].correct)),
      droppedPatches: sum(shards.map((r) => r.points[k].droppedPatches)),
    })),
  });
}
