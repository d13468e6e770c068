// The demo's figures, one table row each: what is measured on every model, how it is drawn (the
// analyses' plots, one series per model), the CSV columns, and the sentence index.html shows.
import type { ImageClassifier } from '../models/classifier';
import type { LabeledDataset } from '../io/dataset';
import { RepLKNet } from '../models/replknet';
import { withoutInit } from '../nn';
import { lineChart } from '../plot/svg';
import {
  attackCurve, occlusion, frequencyNoise, lesion, kernelDistance,
  plotAttackCurve, plotOcclusion, plotFrequencyNoise, plotLesion, plotKernelDistance,
} from '../suites/analyses';
import type { AttackCurveResult, OcclusionResult, FrequencyNoiseResult, LesionResult, KernelDistanceResult } from '../suites/analyses';
import type { EpochMetrics } from '../train';
import type { DemoSettings } from './settings';

export type Cell = string | number | null;

/** One model's result for one figure. */
export interface ModelResult<R> {
  model: string;
  label: string;
  result: R;
}

export interface FigureContext {
  test: LabeledDataset;
  settings: DemoSettings;
  seed: number;
  onProgress: (done: number, total: number) => void;
}

export interface FigureSpec<R> {
  /** File stem of the figure's .svg and .csv, and its key in report.json. */
  name: string;
  title: string;
  /** What the figure shows and how it was measured (index.html). */
  explanation: (s: DemoSettings) => string;
  /** Which models it measures (default all). */
  appliesTo?: (model: ImageClassifier) => boolean;
  measure: (model: ImageClassifier, ctx: FigureContext) => Promise<R>;
  plot: (results: ModelResult<R>[]) => string;
  csvHeader: string[];
  csvRows: (r: ModelResult<R>) => Cell[][];
}

/** The training curves are drawn from fit's history rather than measured afterwards. */
export const TRAINING_FIGURE = {
  name: 'training',
  title: 'Training',
  explanation: (s: DemoSettings) =>
    `Held-out accuracy after each epoch (${s.trainSamples} training digits, ${s.epochs} epochs, AdamW with a cosine schedule, the same for all three models).`,
  plot: (results: ModelResult<EpochMetrics[]>[]) => lineChart(results.map(({ label, result }) => ({
    name: label, points: result.map((m) => [m.epoch, 100 * (m.valAccuracy ?? NaN)] as [number, number]),
  })), { title: 'Training', xLabel: 'Epoch', yLabel: 'Held-out top-1 accuracy (%)' }),
  csvHeader: ['model', 'epoch', 'train_loss', 'train_accuracy', 'lr', 'val_accuracy', 'val_loss'],
  csvRows: ({ model, result }: ModelResult<EpochMetrics[]>): Cell[][] =>
    result.map((m) => [model, m.epoch, m.trainLoss, m.trainAccuracy, m.lr, m.valAccuracy ?? null, m.valLoss ?? null]),
};

/** eps 0 is the clean image for both attacks: its point is the clean accuracy, not an attack run. */
function withCleanPoint(r: AttackCurveResult): AttackCurveResult {
  return { ...r, points: [{ value: 0, accuracy: r.clean, drop: 0, successRate: 0, meanLinf: 0, seconds: 0 }, ...r.points] };
}

/** A spec with its result type erased, for the table (each is type-checked against its own R where written). */
function figure<R>(spec: FigureSpec<R>): FigureSpec<unknown> {
  return spec as unknown as FigureSpec<unknown>;
}

function attackFigure(attack: 'fgsm' | 'pgd'): FigureSpec<unknown> {
  const upper = attack.toUpperCase();
  return figure<AttackCurveResult>({
    name: attack,
    title: `${upper} accuracy against eps`,
    explanation: (s) => `Accuracy under ${attack === 'fgsm' ? 'one-step FGSM' : `${s.pgdSteps}-step PGD with a random start`} (L-inf, pixel scale [0, 1], as MNIST papers count eps) on the first ${s.attackSamples} held-out digits; eps 0 is the clean accuracy.`,
    measure: async (model, { test, settings: s, seed, onProgress }) => withCleanPoint(await attackCurve(model, test, {
      attack, values: s.eps.filter((e) => e > 0), limit: s.attackSamples, batchSize: s.evalBatchSize, onProgress,
      options: { seed, ...(attack === 'pgd' && { steps: s.pgdSteps }) },
    })),
    plot: (results) => plotAttackCurve(results, { title: `${upper} (L-inf)`, xLabel: 'eps (pixel scale)' }),
    csvHeader: ['model', 'eps', 'accuracy', 'drop', 'success_rate', 'mean_linf'],
    csvRows: ({ model, result }) => result.points.map((p) => [model, p.value, p.accuracy, p.drop, p.successRate, p.meanLinf]),
  });
}

export const FIGURES: FigureSpec<unknown>[] = [
  attackFigure('fgsm'),
  attackFigure('pgd'),
  figure<OcclusionResult>({
    name: 'occlusion',
    title: 'Occlusion',
    explanation: (s) => `Accuracy drop when a random share of the ${s.occlusionPatch}x${s.occlusionPatch} patches (the ViT's patch grid) is set to black, on the first ${s.testSamples} held-out digits.`,
    measure: (model, { test, settings: s, seed, onProgress }) => occlusion(model, test, {
      ratios: s.occlusionRatios, patchSize: s.occlusionPatch, mode: 'random', seed, limit: s.testSamples, batchSize: s.evalBatchSize, onProgress,
    }),
    plot: (results) => plotOcclusion(results),
    csvHeader: ['model', 'ratio', 'accuracy', 'drop', 'patch_fraction'],
    csvRows: ({ model, result }) => result.points.map((p) => [model, p.ratio, p.accuracy, p.drop, p.patchFraction]),
  }),
  figure<FrequencyNoiseResult>({
    name: 'frequency',
    title: 'Noise by frequency band',
    explanation: (s) => `Accuracy drop under Gaussian noise of RMS ${s.frequencyNoiseStd} confined to one band of the 2-D spectrum (bands of width 0.1 pi, low to high), on the first ${s.testSamples} held-out digits.`,
    measure: (model, { test, settings: s, seed, onProgress }) => frequencyNoise(model, test, {
      bands: s.frequencyBands, noise: { std: s.frequencyNoiseStd }, seed, limit: s.testSamples, batchSize: s.evalBatchSize, onProgress,
    }),
    plot: (results) => plotFrequencyNoise(results),
    csvHeader: ['model', 'lo_pi', 'hi_pi', 'accuracy', 'drop'],
    csvRows: ({ model, result }) => result.bands.map((b) => [model, b.lo, b.hi, b.accuracy, b.drop]),
  }),
  figure<LesionResult>({
    name: 'lesion',
    title: 'Lesion study',
    explanation: (s) => `Accuracy with n randomly chosen residual blocks removed at inference (${s.lesionTrials} draws per n; the band spans their minimum and maximum), on the first ${s.lesionSamples} held-out digits.`,
    measure: (model, { test, settings: s, seed, onProgress }) => lesion(model, test, {
      maxBlocks: model.skippableBlocks().length - 1, trials: s.lesionTrials, seed, limit: s.lesionSamples, batchSize: s.evalBatchSize, onProgress,
    }),
    plot: (results) => plotLesion(results),
    csvHeader: ['model', 'blocks', 'fraction', 'mean', 'min', 'max'],
    csvRows: ({ model, result }) => result.points.map((p) => [model, p.blocks, p.fraction, p.mean, p.min, p.max]),
  }),
  figure<KernelDistanceResult>({
    name: 'kernel-distance',
    title: 'Kernel attention distance',
    explanation: () => 'How far from its centre each channel of the large-kernel model\'s depthwise kernels puts its weight (|w|-weighted distance, 1 = corners only), after merging the parallel small kernel (reparam), sorted per layer.',
    appliesTo: (model) => model instanceof RepLKNet && model.config.kernelSizes.some((k) => k > 3),
    // On a copy: the merged kernels are what the study plots, and the trained model stays as it is.
    measure: async (model) => kernelDistance(reparamCopy(model as RepLKNet), { kernels: /large_kernel/ }),
    plot: (results) => plotKernelDistance(results[0].result, { title: `Kernel attention distance (${results[0].label})` }),
    csvHeader: ['model', 'kernel', 'size', 'rank', 'normalized_index', 'distance'],
    csvRows: ({ model, result }) => result.layers.flatMap((l) => l.distances.map((d, i) =>
      [model, l.key, `${l.kernelSize[0]}x${l.kernelSize[1]}`, i, l.distances.length > 1 ? i / (l.distances.length - 1) : 0, d])),
  }),
];

function reparamCopy(model: RepLKNet): RepLKNet {
  const copy = withoutInit(() => new RepLKNet(model.config, model.mean, model.std));
  copy.loadStateDict(model.stateDict());
  return copy.eval().reparam();
}

/** A CSV document: numbers as JavaScript prints them, text quoted when it holds a comma, quote or newline. */
export function csvText(header: string[], rows: Cell[][]): string {
  const cell = (v: Cell) => (v === null ? '' : typeof v === 'number' ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [header.join(','), ...rows.map((r) => r.map(cell).join(','))].join('\n') + '\n';
}
