// The lesion study (the study's 4.3): n randomly chosen residual blocks removed at inference, so
// information must flow through the skip connections; accuracy over several draws per n.
import { withDevice } from '../../models/device';
import type { ImageClassifier } from '../../models/classifier';
import { predictLogits, topkCorrect } from '../../models/evaluate';
import type { LabeledDataset } from '../../io/dataset';
import {
  DatasetOptions,
  DATASET_OPTIONS,
  accuracyOf,
  correctCounts,
  checkDataset,
  checkInt,
  checkModel,
  checkOptionsObject,
  countCorrect,
  datasetOptions,
  sum,
  Rng,
} from './common';

export interface LesionOptions extends DatasetOptions {
  /** Largest number of blocks removed (default half of the skippable blocks, rounded up). */
  maxBlocks?: number;
  /** Random block sets per n (default 10). */
  trials?: number;
  seed?: number;
}

export interface LesionPoint {
  /** Blocks removed. */
  blocks: number;
  /** blocks / model.skippableBlocks().length. */
  fraction: number;
  mean: number;
  min: number;
  max: number;
  /** Accuracy of each trial, and the blocks it removed. */
  trials: { skip: string[]; accuracy: number; correct: number }[];
}

export interface LesionResult {
  samples: number;
  seed: number;
  totalBlocks: number;
  clean: number;
  cleanCorrect: number;
  points: LesionPoint[];
}

/** The block sets of the lesion study: for n = 1..maxBlocks, `trials` draws of n distinct blocks. */
export function lesionSkipSets(blocks: string[], maxBlocks: number, trials: number, seed: number): string[][][] {
  return Array.from({ length: maxBlocks }, (_, i) =>
    Array.from({ length: trials }, (_, t) =>
      Rng.keyed(seed, i + 1, t)
        .choose(blocks.length, i + 1)
        .sort((a, b) => a - b)
        .map((k) => blocks[k]),
    ),
  );
}

/** Top-1 accuracy with n random residual blocks skipped (model.run(x, { skip })). */
export async function lesion(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: LesionOptions,
): Promise<LesionResult> {
  return withDevice('lesion', options?.device, [model], () => lesionHere(model, data, options));
}

async function lesionHere(
  model: ImageClassifier,
  data: LabeledDataset,
  options?: LesionOptions,
): Promise<LesionResult> {
  const fn = 'lesion';
  checkModel(fn, model);
  checkDataset(fn, data);
  const o = checkOptionsObject<LesionOptions>(fn, options, [...DATASET_OPTIONS, 'maxBlocks', 'trials', 'seed']);
  const { batchSize, start, end, onProgress } = datasetOptions(fn, data, o);
  const blocks = model.skippableBlocks();
  if (blocks.length === 0) throw new RangeError(`${fn}: the model has no skippable blocks`);
  const maxBlocks = checkInt(fn, 'maxBlocks', o.maxBlocks, 1, Math.ceil(blocks.length / 2));
  if (maxBlocks > blocks.length)
    throw new RangeError(`${fn}: maxBlocks must be at most ${blocks.length} (the skippable blocks), got ${maxBlocks}`);
  const trials = checkInt(fn, 'trials', o.trials, 1, 10);
  const seed = checkInt(fn, 'seed', o.seed, 0, 0);
  const sets = lesionSkipSets(blocks, maxBlocks, trials, seed);
  const flat = sets.flat();
  const correct = await correctCounts(
    data,
    { start, end },
    batchSize,
    1 + flat.length,
    ({ x, y }) => [
      countCorrect(model, x, y, batchSize),
      ...flat.map((skip) => {
        const logits = predictLogits((v) => model.run(v, { skip }).logits, x, batchSize);
        return topkCorrect(logits, y, 1).reduce((s, v) => s + v, 0);
      }),
    ],
    onProgress,
    fn,
  );
  return lesionFigures({
    samples: end - start,
    seed,
    totalBlocks: blocks.length,
    clean: 0,
    cleanCorrect: correct[0],
    points: sets.map((group, i) => ({
      blocks: i + 1,
      fraction: (i + 1) / blocks.length,
      mean: 0,
      min: 0,
      max: 0,
      trials: group.map((skip, t) => ({ skip, accuracy: 0, correct: correct[1 + i * trials + t] })),
    })),
  });
}

/** Fills in the accuracies and their mean / min / max from the counts. */
function lesionFigures(r: LesionResult): LesionResult {
  return {
    ...r,
    clean: accuracyOf(r.cleanCorrect, r.samples),
    points: r.points.map((p) => {
      const accs = p.trials.map((t) => accuracyOf(t.correct, r.samples));
      return {
        ...p,
        mean: accs.reduce((s, a) => s + a, 0) / accs.length,
        min: Math.min(...accs),
        max: Math.max(...accs),
        trials: p.trials.map((t, k) => ({ ...t, accuracy: accs[k] })),
      };
    }),
  };
}

/** The result of the whole run from its shards' results: counts added, accuracies recomputed. */
export function mergeLesion(shards: LesionResult[]): LesionResult {
  return lesionFigures({
    ...shards[0],
    samples: sum(shards.map((r) => r.samples)),
    cleanCorrect: sum(shards.map((r) => r.cleanCorrect)),
    points: shards[0].points.map((p, i) => ({
      ...p,
      trials: p.trials.map((t, k) => ({ ...t, correct: sum(shards.map((r) => r.points[i].trials[k].correct)) })),
    })),
  });
}
