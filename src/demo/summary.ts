// The multi-seed summary: every measure of the table per model as mean and range over the seeds,
// the paired comparisons between the models, and the written conclusion that states only the
// differences the seeds support.
import type { EpochMetrics } from '../train';
import type {
  AttackCurveResult,
  OcclusionResult,
  FrequencyNoiseResult,
  LesionResult,
  KernelDistanceResult,
} from '../suites/analyses';
import type { DemoSettings } from './settings';
import type { ModelResult } from './figures';
import type { NoiseRowsResult } from './noise';
import { Spread, PairedComparison, spread, pairedComparison, ALPHA } from './stats';
import { fmt } from '../plot/svg';

export interface DemoModelInfo {
  name: string;
  label: string;
  description: string;
  architecture: string;
  config: object;
  parameters: number;
}

/** One model trained in one seed. */
export interface SeedModelRun {
  name: string;
  trainSeconds: number;
  /** Accuracy on the held-out digits used for the figures (settings.testSamples). */
  cleanAccuracy: number;
  history: EpochMetrics[];
}

/** Everything one seed measured: its split, its three trained models and every figure's results. */
export interface SeedRun {
  seed: number;
  firstTestIds: string[];
  models: SeedModelRun[];
  figures: Record<string, ModelResult<unknown>[]>;
  seconds: number;
}

export interface SummaryRow {
  key: string;
  label: string;
  /** 'percent': an accuracy in [0, 1]; 'number': a plain value. */
  unit: 'percent' | 'number';
  /** Per model name: mean and range over the seeds, or null where the measure does not apply. */
  models: Record<string, Spread | null>;
  /** Per model name, per seed: which band was the worst (the band-noise rows). */
  worstBands?: Record<string, string[]>;
}

export interface ComparisonRow extends PairedComparison {
  measure: string;
  label: string;
  /** Model names: the comparison is a - b (in percentage points for accuracies). */
  a: string;
  b: string;
}

interface Measure {
  key: string;
  label: (s: DemoSettings) => string;
  unit: 'percent' | 'number';
  value: (run: SeedRun, model: string, s: DemoSettings) => number | null;
  worstBand?: (run: SeedRun, model: string) => string | null;
}

function resultOf<R>(run: SeedRun, figure: string, model: string): R | null {
  const r = run.figures[figure]?.find((e) => e.model === model);
  return r ? (r.result as R) : null;
}

/** The point whose x is nearest `at`. */
function nearest<P>(points: P[], x: (p: P) => number, at: number): P | null {
  return points.reduce<P | null>(
    (best, p) => (best === null || Math.abs(x(p) - at) < Math.abs(x(best) - at) ? p : best),
    null,
  );
}

/** "0–0.1π" for the band [lo, hi) in units of pi. */
export function bandLabel(lo: number, hi: number): string {
  return `${fmt(lo)}–${fmt(hi)}π`;
}

function worstBandOf(run: SeedRun, figure: string, model: string): { lo: number; hi: number; accuracy: number } | null {
  const r = resultOf<FrequencyNoiseResult>(run, figure, model);
  return r && r.bands.length ? r.bands.reduce((a, b) => (b.accuracy < a.accuracy ? b : a)) : null;
}

function noiseRow(kind: string, clip: boolean) {
  return (run: SeedRun, model: string) =>
    resultOf<NoiseRowsResult>(run, 'noise', model)?.rows.find((r) => r.kind === kind && r.clip === clip)?.accuracy ??
    null;
}

function attackAt(name: string) {
  return (run: SeedRun, model: string, s: DemoSettings) => {
    const r = resultOf<AttackCurveResult>(run, name, model);
    return r ? (nearest(r.points, (p) => p.value, s.headlineEps)?.accuracy ?? null) : null;
  };
}

const MEASURES: Measure[] = [
  {
    key: 'clean',
    label: () => 'clean',
    unit: 'percent',
    value: (run, m) => run.models.find((e) => e.name === m)?.cleanAccuracy ?? null,
  },
  { key: 'fgsm', label: (s) => `FGSM eps ${s.headlineEps}`, unit: 'percent', value: attackAt('fgsm') },
  { key: 'pgd', label: (s) => `PGD-${s.pgdSteps} eps ${s.headlineEps}`, unit: 'percent', value: attackAt('pgd') },
  {
    key: 'occlusion50',
    label: () => 'occlusion 50%',
    unit: 'percent',
    value: (run, m) => {
      const r = resultOf<OcclusionResult>(run, 'occlusion', m);
      return r ? (nearest(r.points, (p) => p.ratio, 0.5)?.accuracy ?? null) : null;
    },
  },
  {
    key: 'white',
    label: (s) => `white noise RMS ${s.frequencyNoiseStd}`,
    unit: 'percent',
    value: noiseRow('white', false),
  },
  {
    key: 'whiteClamped',
    label: (s) => `white noise RMS ${s.frequencyNoiseStd}, clamped`,
    unit: 'percent',
    value: noiseRow('white', true),
  },
  {
    key: 'brightness',
    label: (s) => `brightness ±${s.frequencyNoiseStd}`,
    unit: 'percent',
    value: noiseRow('brightness', false),
  },
  {
    key: 'brightnessClamped',
    label: (s) => `brightness ±${s.frequencyNoiseStd}, clamped`,
    unit: 'percent',
    value: noiseRow('brightness', true),
  },
  ...[false, true].map((clip): Measure => {
    const figure = clip ? 'frequency-clipped' : 'frequency';
    return {
      key: clip ? 'worstBandClamped' : 'worstBand',
      label: () => `band noise, worst band${clip ? ', clamped' : ''}`,
      unit: 'percent',
      value: (run, m) => worstBandOf(run, figure, m)?.accuracy ?? null,
      worstBand: (run, m) => {
        const w = worstBandOf(run, figure, m);
        return w ? bandLabel(w.lo, w.hi) : null;
      },
    };
  }),
  {
    key: 'lesion1',
    label: () => '1 block removed',
    unit: 'percent',
    value: (run, m) => resultOf<LesionResult>(run, 'lesion', m)?.points[0]?.mean ?? null,
  },
  {
    key: 'kernelDistance',
    label: () => 'kernel distance',
    unit: 'number',
    value: (run, m) => {
      const kd = resultOf<KernelDistanceResult>(run, 'kernel-distance', m);
      if (!kd) return null;
      const count = kd.layers.reduce((s, l) => s + l.distances.length, 0);
      return kd.layers.reduce((s, l) => s + l.mean * l.distances.length, 0) / count;
    },
  },
];

export function summaryRows(runs: SeedRun[], models: string[], s: DemoSettings): SummaryRow[] {
  return MEASURES.map((m) => {
    const row: SummaryRow = { key: m.key, label: m.label(s), unit: m.unit, models: {} };
    for (const model of models) {
      const values = runs.map((run) => m.value(run, model, s));
      row.models[model] = values.every((v): v is number => v !== null && Number.isFinite(v)) ? spread(values) : null;
      if (m.worstBand && row.models[model])
        (row.worstBands ??= {})[model] = runs.map((run) => m.worstBand?.(run, model) ?? '');
    }
    return row;
  });
}

/** Every pair of models on every measure both have: the paired t-test over the seeds. */
export function comparisonRows(summary: SummaryRow[], models: string[]): ComparisonRow[] {
  const out: ComparisonRow[] = [];
  for (let i = 0; i < models.length; i++)
    for (let j = i + 1; j < models.length; j++)
      for (const row of summary) {
        const a = row.models[models[i]],
          b = row.models[models[j]];
        if (!a || !b) continue;
        const scale = row.unit === 'percent' ? 100 : 1;
        out.push({
          measure: row.key,
          label: row.label,
          a: models[i],
          b: models[j],
          ...pairedComparison(
            a.values.map((v) => v * scale),
            b.values.map((v) => v * scale),
          ),
        });
      }
  return out;
}

/** "98.1 (97.6–98.5)": the mean and the range over the seeds (accuracies in percent). */
export function spreadText(v: Spread | null, unit: 'percent' | 'number'): string {
  if (!v) return '–';
  const f = unit === 'percent' ? (x: number) => (100 * x).toFixed(1) : (x: number) => x.toFixed(3);
  return v.values.length === 1 ? f(v.mean) : `${f(v.mean)} (${f(v.min)}–${f(v.max)})`;
}

const signed = (v: number, digits: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;

export function pValueText(p: number | null): string {
  return p === null ? 'p –' : p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(3)}`;
}

/** "−12.3 [−20.1, −4.5] p=0.012, 0/4 up: 13x13 lower" or "...: no difference shown" (up: seeds where a > b). */
export function comparisonText(c: ComparisonRow, short: (name: string) => string): string {
  const digits = 1;
  const ci = c.ci ? ` [${signed(c.ci[0], digits)}, ${signed(c.ci[1], digits)}]` : '';
  const verdict = c.shown ? `${short(c.a)} ${c.meanDiff > 0 ? 'higher' : 'lower'}` : 'no difference shown';
  return `${signed(c.meanDiff, digits)}${ci} ${pValueText(c.p).replace(/ = /, '=')}, ${c.wins}/${c.n} up: ${verdict}`;
}

/** The report's written conclusion: only the differences the paired tests support. */
export function conclusion(
  comparisons: ComparisonRow[],
  labels: Record<string, string>,
  seeds: number[],
  s: DemoSettings,
): string[] {
  const n = seeds.length;
  const paragraphs: string[] = [];
  const pairText = (a: string, b: string) => {
    const rows = comparisons.filter((c) => c.a === a && c.b === b);
    const shown = rows.filter((c) => c.shown);
    const notShown = rows.filter((c) => !c.shown);
    const interval = (c: ComparisonRow) =>
      c.ci ? `95% interval ${signed(c.ci[0], 1)} to ${signed(c.ci[1], 1)}` : `the same in all ${c.n} seeds`;
    const diff = (c: ComparisonRow) =>
      `${c.label} (${c.meanDiff > 0 ? 'higher' : 'lower'} by ${Math.abs(c.meanDiff).toFixed(1)} points on average, ${interval(c)}, ${pValueText(c.p)})`;
    const parts = [`${labels[a]} against ${labels[b]}: `];
    parts.push(
      shown.length
        ? `the seeds support a difference in ${shown.map(diff).join('; ')}.`
        : 'the seeds support no difference in any measure.',
    );
    if (shown.length && notShown.length)
      parts.push(` No difference shown in ${notShown.map((c) => c.label).join('; ')}.`);
    return parts.join('');
  };
  paragraphs.push(
    `Over ${n} seed${n === 1 ? '' : 's'} (${seeds.join(', ')}; each seed draws its own split, initial weights, training order and perturbations), ` +
      `a difference is stated only where a paired t-test over the seeds gives p < ${ALPHA} (two-sided); accuracies are in percent and differences in percentage points.` +
      (n < 3 ? ' With fewer than 3 seeds the test can hardly show anything: run more seeds (--seeds).' : ''),
  );
  const names = Object.keys(labels);
  for (let i = 0; i < names.length; i++)
    for (let j = i + 1; j < names.length; j++) paragraphs.push(pairText(names[i], names[j]));
  const tests = comparisons.filter((c) => c.p !== null).length;
  paragraphs.push(
    (tests
      ? `These are ${tests} tests without correction for multiplicity: about ${fmt(tests * ALPHA)} of them would pass by chance if no model differed from another. `
      : "One seed allows no test at all: every difference in it may be the seed's. ") +
      '"No difference shown" means the seeds do not decide; it does not mean the models are equal. ' +
      `All of this concerns tiny models trained on ${s.trainSamples} MNIST digits for ${s.epochs} epoch${s.epochs === 1 ? '' : 's'} and says nothing about the study's ImageNet-scale claims.`,
  );
  return paragraphs;
}
