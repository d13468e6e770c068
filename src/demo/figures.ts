// The demo's figures, one table row each: what is measured on every model in every seed, the curves
// drawn from it (mean over seeds, min-max error bars), the CSV columns (one row per seed and point),
// and the definition index.html prints next to the figure.
import type { ImageClassifier } from '../models/classifier';
import type { LabeledDataset } from '../io/dataset';
import { RepLKNet } from '../models/replknet';
import { withoutInit } from '../nn';
import { attackCurve, occlusion, frequencyNoise, lesion, kernelDistance } from '../suites/analyses';
import type {
  AttackCurveResult,
  OcclusionResult,
  FrequencyNoiseResult,
  LesionResult,
  KernelDistanceResult,
} from '../suites/analyses';
import type { EpochMetrics } from '../train';
import type { DemoSettings } from './settings';
import { attackedModel, noiseChannels } from './perturb';
import { noiseRows, NoiseRowsResult } from './noise';

export type Cell = string | number | null;

/** One model's result for one figure in one seed. */
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

/** A curve of one model in one seed, y in percent; `name` tells apart several curves of one model. */
export interface Curve {
  name?: string;
  points: [number, number][];
}

export interface ChartAxes {
  title: string;
  xLabel: string;
  yLabel: string;
  xDomain?: [number, number];
  yDomain?: [number, number];
  xIntegerTicks?: boolean;
}

export interface FigureSpec<R> {
  /** File stem of the figure's .svg and .csv, and its key in report.json. */
  name: string;
  title: string;
  /** What the figure shows and how it was measured (index.html, next to the figure). */
  explanation: (s: DemoSettings) => string;
  /** Which models it measures (default all). */
  appliesTo?: (model: ImageClassifier) => boolean;
  measure: (model: ImageClassifier, ctx: FigureContext) => Promise<R>;
  /** The curves of the chart (none: the figure is a table only). */
  curves?: (r: R) => Curve[];
  chart?: ChartAxes;
  /** CSV columns after 'model' and 'seed'. */
  csvHeader: string[];
  csvRows: (r: R) => Cell[][];
}

const percent = (v: number) => 100 * v;

/** The training curves are drawn from fit's history rather than measured afterwards. */
export const TRAINING_FIGURE = {
  name: 'training',
  title: 'Training',
  explanation: (s: DemoSettings) =>
    `Held-out top-1 accuracy (first ${s.testSamples} held-out digits) after each epoch: ${s.trainSamples} training digits, ${s.epochs} epochs, AdamW with a cosine schedule, the same for all three models.`,
  curves: (history: EpochMetrics[]): Curve[] => [
    { points: history.map((m) => [m.epoch, percent(m.valAccuracy ?? NaN)]) },
  ],
  chart: {
    title: 'Training',
    xLabel: 'Epoch',
    yLabel: 'Held-out top-1 accuracy (%)',
    xIntegerTicks: true,
  } as ChartAxes,
  csvHeader: ['epoch', 'train_loss', 'train_accuracy', 'lr', 'val_accuracy', 'val_loss'],
  csvRows: (history: EpochMetrics[]): Cell[][] =>
    history.map((m) => [m.epoch, m.trainLoss, m.trainAccuracy, m.lr, m.valAccuracy ?? null, m.valLoss ?? null]),
};

/** eps 0 is the clean image for both attacks: its point is the clean accuracy, not an attack run. */
function withCleanPoint(r: AttackCurveResult): AttackCurveResult {
  return {
    ...r,
    points: [{ value: 0, accuracy: r.clean, drop: 0, successRate: 0, meanLinf: 0, seconds: 0 }, ...r.points],
  };
}

/** A spec with its result type erased, for the table (each is type-checked against its own R where written). */
function figure<R>(spec: FigureSpec<R>): FigureSpec<unknown> {
  return spec as unknown as FigureSpec<unknown>;
}

const perturbText = (s: DemoSettings) =>
  s.perturb === 'grey'
    ? "in the digit's one grey channel (the three stored copies change together)"
    : 'in each of the three stored copies of the grey channel independently (--perturb rgb)';

function attackFigure(attack: 'fgsm' | 'pgd'): FigureSpec<unknown> {
  const upper = attack.toUpperCase();
  return figure<AttackCurveResult>({
    name: attack,
    title: `${upper} accuracy against eps`,
    explanation: (s) =>
      `Top-1 accuracy under ${attack === 'fgsm' ? 'one-step FGSM' : `${s.pgdSteps}-step PGD with a random start`} (L-inf ball of radius eps on the [0, 1] pixel scale, as MNIST papers count eps), perturbing ${perturbText(s)}, on the first ${s.attackSamples} held-out digits; eps 0 is the clean accuracy.`,
    measure: async (model, { test, settings: s, seed, onProgress }) =>
      withCleanPoint(
        await attackCurve(attackedModel(model, s.perturb), test, {
          attack,
          values: s.eps.filter((e) => e > 0),
          limit: s.attackSamples,
          batchSize: s.evalBatchSize,
          onProgress,
          options: { seed, ...(attack === 'pgd' && { steps: s.pgdSteps }) },
        }),
      ),
    curves: (r) => [{ points: r.points.map((p) => [p.value, percent(p.accuracy)]) }],
    chart: {
      title: `${upper} (L-inf)`,
      xLabel: 'eps (pixel scale [0, 1])',
      yLabel: 'Top-1 accuracy (%)',
      yDomain: [0, 100],
    },
    csvHeader: ['eps', 'accuracy', 'drop', 'success_rate', 'mean_linf'],
    csvRows: (r) => r.points.map((p) => [p.value, p.accuracy, p.drop, p.successRate, p.meanLinf]),
  });
}

function frequencyFigure(clip: boolean): FigureSpec<unknown> {
  return figure<FrequencyNoiseResult>({
    name: clip ? 'frequency-clipped' : 'frequency',
    title: clip ? 'Noise by frequency band, clamped to [0, 1]' : 'Noise by frequency band',
    explanation: (s) =>
      `Top-1 accuracy under Gaussian noise of RMS ${s.frequencyNoiseStd} per image confined to one band of the 2-D spectrum ` +
      '(square annuli 0.1 pi wide, from the centre 0 to the border 1 pi; a point at x is the band [x, x + 0.1) pi), drawn once per image ' +
      `${s.perturb === 'grey' ? 'and added to all three copies of the grey channel' : 'per channel'}, on the first ${s.noiseSamples} held-out digits. ` +
      'The zero frequency (a brightness offset) is excluded from every band: see the brightness row of the noise table. ' +
      (clip
        ? 'Here the noisy image is clamped to [0, 1]: on the black background clamping cuts off the negative half of the noise, so the digit also gets brighter on average.'
        : 'The noisy image is not clamped (pixels may leave [0, 1]), so the noise is exactly zero-mean and band-limited.'),
    measure: (model, { test, settings: s, seed, onProgress }) =>
      frequencyNoise(model, test, {
        bands: s.frequencyBands,
        noise: { std: s.frequencyNoiseStd },
        channels: noiseChannels(s.perturb),
        clip,
        zeroFrequency: false,
        seed,
        limit: s.noiseSamples,
        batchSize: s.evalBatchSize,
        onProgress,
      }),
    curves: (r) => [{ points: r.bands.map((b) => [b.lo, percent(b.accuracy)]) }],
    chart: {
      title: clip ? 'Band noise, clamped to [0, 1]' : 'Band noise, not clamped',
      xLabel: 'Band lower edge (x pi), each band 0.1 pi wide',
      yLabel: 'Top-1 accuracy (%)',
      yDomain: [0, 100],
    },
    csvHeader: ['lo_pi', 'hi_pi', 'accuracy', 'drop'],
    csvRows: (r) => r.bands.map((b) => [b.lo, b.hi, b.accuracy, b.drop]),
  });
}

export const NOISE_ROW_LABELS: Record<string, string> = { white: 'white noise', brightness: 'brightness shift' };

/** Layer labels for the kernel-distance legend: the kernel size and the stage, not the state-dict key. */
export function kernelLayerLabel(key: string, kernelSize: [number, number]): string {
  const stage = /stages\.(\d+)/.exec(key);
  return `${kernelSize[0]}x${kernelSize[1]} kernels${stage ? `, stage ${Number(stage[1]) + 1}` : ''}`;
}

export const FIGURES: FigureSpec<unknown>[] = [
  attackFigure('fgsm'),
  attackFigure('pgd'),
  figure<OcclusionResult>({
    name: 'occlusion',
    title: 'Occlusion',
    explanation: (s) =>
      `Top-1 accuracy when a random share of the ${s.occlusionPatch}x${s.occlusionPatch} patches (the ViT's patch grid) is set to black, on the first ${s.testSamples} held-out digits; 0% is the clean accuracy.`,
    measure: (model, { test, settings: s, seed, onProgress }) =>
      occlusion(model, test, {
        ratios: s.occlusionRatios,
        patchSize: s.occlusionPatch,
        mode: 'random',
        seed,
        limit: s.testSamples,
        batchSize: s.evalBatchSize,
        onProgress,
      }),
    curves: (r) => [
      {
        points: [
          [0, percent(r.clean)],
          ...r.points.map((p) => [percent(p.ratio), percent(p.accuracy)] as [number, number]),
        ],
      },
    ],
    chart: {
      title: 'Occlusion (random patches)',
      xLabel: 'Patches set to black (%)',
      yLabel: 'Top-1 accuracy (%)',
      yDomain: [0, 100],
    },
    csvHeader: ['ratio', 'accuracy', 'drop', 'patch_fraction'],
    csvRows: (r) => r.points.map((p) => [p.ratio, p.accuracy, p.drop, p.patchFraction]),
  }),
  frequencyFigure(false),
  frequencyFigure(true),
  figure<NoiseRowsResult>({
    name: 'noise',
    title: 'White noise and brightness',
    explanation: (s) =>
      `Top-1 accuracy on the first ${s.noiseSamples} held-out digits under white Gaussian noise of RMS ${s.frequencyNoiseStd} per image (every frequency, ` +
      `the zero frequency included), and under a brightness shift of +${s.frequencyNoiseStd} or -${s.frequencyNoiseStd} on every pixel (the sign drawn per image): ` +
      `the zero frequency alone, at the band noise's RMS. Each ${s.perturb === 'grey' ? 'acts on the grey channel (the same on all three copies)' : 'is drawn per channel'}, ` +
      'once not clamped and once clamped to [0, 1]; on the black background clamped white noise also brightens the digit.',
    measure: (model, { test, settings: s, seed, onProgress }) =>
      noiseRows(model, test, {
        samples: s.noiseSamples,
        std: s.frequencyNoiseStd,
        perturb: s.perturb,
        seed,
        batchSize: s.evalBatchSize,
        onProgress,
      }),
    csvHeader: ['noise', 'clamped', 'accuracy'],
    csvRows: (r) => r.rows.map((row) => [row.kind, row.clip ? 'yes' : 'no', row.accuracy]),
  }),
  figure<LesionResult>({
    name: 'lesion',
    title: 'Lesion study',
    explanation: (s) =>
      `Top-1 accuracy with n of the 4 residual blocks removed at inference (${s.lesionTrials} random block sets per n, averaged), on the first ${s.lesionSamples} held-out digits; 0 blocks is the clean accuracy. The CSV has every draw's minimum and maximum.`,
    measure: (model, { test, settings: s, seed, onProgress }) =>
      lesion(model, test, {
        maxBlocks: model.skippableBlocks().length - 1,
        trials: s.lesionTrials,
        seed,
        limit: s.lesionSamples,
        batchSize: s.evalBatchSize,
        onProgress,
      }),
    curves: (r) => [
      { points: [[0, percent(r.clean)], ...r.points.map((p) => [p.blocks, percent(p.mean)] as [number, number])] },
    ],
    chart: {
      title: 'Lesion study',
      xLabel: 'Residual blocks removed (of 4)',
      yLabel: 'Top-1 accuracy (%)',
      yDomain: [0, 100],
      xIntegerTicks: true,
    },
    csvHeader: ['blocks', 'fraction', 'mean', 'min', 'max'],
    csvRows: (r) => r.points.map((p) => [p.blocks, p.fraction, p.mean, p.min, p.max]),
  }),
  figure<KernelDistanceResult>({
    name: 'kernel-distance',
    title: 'Kernel attention distance',
    explanation: () =>
      "How far from its centre each channel of the large-kernel model's depthwise kernels puts its weight (|w|-weighted distance from the centre divided by the corner's: 0 = centre only, 1 = corners only), after merging the parallel 5x5 kernel (reparam), channels sorted per layer.",
    appliesTo: (model) => model instanceof RepLKNet && model.config.kernelSizes.some((k) => k > 3),
    // On a copy: the merged kernels are what the study plots, and the trained model stays as it is.
    measure: async (model) => kernelDistance(reparamCopy(model as RepLKNet), { kernels: /large_kernel/ }),
    curves: (r) =>
      r.layers.map((l) => ({
        name: kernelLayerLabel(l.key, l.kernelSize),
        points: l.distances.map(
          (d, i) => [l.distances.length > 1 ? i / (l.distances.length - 1) : 0, d] as [number, number],
        ),
      })),
    chart: {
      title: 'Kernel attention distance (RepLKNet 13x13)',
      xLabel: 'Channel, sorted (normalised index)',
      yLabel: 'Kernel attention distance',
      xDomain: [0, 1],
    },
    csvHeader: ['kernel', 'size', 'rank', 'normalized_index', 'distance'],
    csvRows: (r) =>
      r.layers.flatMap((l) =>
        l.distances.map((d, i) => [
          l.key,
          `${l.kernelSize[0]}x${l.kernelSize[1]}`,
          i,
          l.distances.length > 1 ? i / (l.distances.length - 1) : 0,
          d,
        ]),
      ),
  }),
];

function reparamCopy(model: RepLKNet): RepLKNet {
  const copy = withoutInit(() => new RepLKNet(model.config, model.mean, model.std));
  copy.loadStateDict(model.stateDict());
  return copy.eval().reparam();
}

/** A number as the CSVs hold it: 6 significant digits (no 0.30000000000000004), integers as they are. */
export function csvNumber(v: number): string {
  if (!Number.isFinite(v)) return '';
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/** A CSV document: numbers through csvNumber, text quoted when it holds a comma, quote or newline. */
export function csvText(header: string[], rows: Cell[][]): string {
  const cell = (v: Cell) =>
    v === null ? '' : typeof v === 'number' ? csvNumber(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  return [header.join(','), ...rows.map((r) => r.map(cell).join(','))].join('\n') + '\n';
}
