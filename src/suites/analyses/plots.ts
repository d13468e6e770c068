// The analyses' figures, drawn like the study's: one series per model when several labelled
// results are given (e.g. RepLKNet, ViT and ResNet on one chart).
import { lineChart, heatmap, LineSeries, ChartOptions } from '../../plot/svg';
import type { OcclusionResult } from './occlusion';
import type { FrequencyNoiseResult, FourierHeatmapResult } from './frequency';
import type { LesionResult } from './lesion';
import type { KernelDistanceResult } from './kernels';
import type { FeatureVarianceResult, ErfResult } from './features';
import type { AttackCurveResult } from './attack_curve';

/** One result, or several with a legend label each. */
export type Labeled<R> = R | { label: string; result: R }[];

function labeled<R>(fn: string, results: Labeled<R>): { label: string; result: R }[] {
  if (Array.isArray(results)) {
    results.forEach((r, i) => {
      if (!r || typeof r.label !== 'string' || typeof r.result !== 'object')
        throw new TypeError(`${fn}: results[${i}] must be { label: string, result }`);
    });
    if (results.length === 0) throw new TypeError(`${fn}: results must not be empty`);
    return results;
  }
  if (!results || typeof results !== 'object')
    throw new TypeError(`${fn}: results must be an analysis result or [{ label, result }]`);
  return [{ label: 'model', result: results }];
}

const percent = (v: number) => 100 * v;

export function plotOcclusion(results: Labeled<OcclusionResult>, options: ChartOptions = {}): string {
  const series: LineSeries[] = labeled('plotOcclusion', results).map(({ label, result }) => ({
    name: label,
    points: result.points.map((p) => [percent(p.ratio), percent(p.drop)] as [number, number]),
  }));
  const first = labeled('plotOcclusion', results)[0].result;
  return lineChart(series, {
    title: `Occlusion (${first.mode})`,
    xLabel: 'Occlusion ratio (%)',
    yLabel: 'Top-1 accuracy drop (%)',
    ...options,
  });
}

export function plotFrequencyNoise(results: Labeled<FrequencyNoiseResult>, options: ChartOptions = {}): string {
  const series: LineSeries[] = labeled('plotFrequencyNoise', results).map(({ label, result }) => ({
    name: label,
    points: result.bands.map((b) => [b.lo, percent(b.drop)] as [number, number]),
  }));
  return lineChart(series, {
    title: 'Noise by frequency',
    xLabel: 'Noise frequency band (lower edge, x pi)',
    yLabel: 'Top-1 accuracy drop (%)',
    ...options,
  });
}

export function plotLesion(results: Labeled<LesionResult>, options: ChartOptions = {}): string {
  const series: LineSeries[] = labeled('plotLesion', results).map(({ label, result }) => ({
    name: label,
    points: [
      [0, percent(result.clean)] as [number, number],
      ...result.points.map((p) => [percent(p.fraction), percent(p.mean)] as [number, number]),
    ],
    band: [
      [0, percent(result.clean), percent(result.clean)] as [number, number, number],
      ...result.points.map((p) => [percent(p.fraction), percent(p.min), percent(p.max)] as [number, number, number]),
    ],
  }));
  return lineChart(series, {
    title: 'Lesion study',
    xLabel: 'Blocks dropped (%)',
    yLabel: 'Top-1 accuracy (%)',
    ...options,
  });
}

/** One curve per depthwise layer: sorted distances against the channel index scaled to [0, 1]. */
export function plotKernelDistance(result: KernelDistanceResult, options: ChartOptions = {}): string {
  if (!result || !Array.isArray(result.layers))
    throw new TypeError('plotKernelDistance: result must be a kernelDistance result');
  const series: LineSeries[] = result.layers.map((l) => ({
    name: l.key.replace(/\.weight$/, ''),
    points: l.distances.map(
      (d, i) => [l.distances.length > 1 ? i / (l.distances.length - 1) : 0, d] as [number, number],
    ),
  }));
  return lineChart(series, {
    title: 'Kernel attention distance',
    xLabel: 'Normalised channel index',
    yLabel: 'Kernel attention distance',
    xDomain: [0, 1],
    ...options,
  });
}

/** Variance relative to the first block (as the study normalises it), or raw with `raw: true`. */
export function plotFeatureVariance(
  results: Labeled<FeatureVarianceResult>,
  options: ChartOptions & { raw?: boolean } = {},
): string {
  const { raw, ...chart } = options;
  const series: LineSeries[] = labeled('plotFeatureVariance', results).map(({ label, result }) => ({
    name: label,
    points: result.layers.map((l) => [l.depth, raw ? l.variance : l.relative] as [number, number]),
  }));
  return lineChart(series, {
    title: 'Feature map variance',
    xLabel: 'Normalised depth',
    yLabel: raw ? 'Feature map variance' : 'Variance / first block',
    ...chart,
  });
}

export function plotFourierHeatmap(result: FourierHeatmapResult, options: ChartOptions = {}): string {
  if (!result || !Array.isArray(result.error))
    throw new TypeError('plotFourierHeatmap: result must be a fourierHeatmap result');
  const labels = result.frequencies.map(String);
  return heatmap(
    result.error.map((row) => row.map(percent)),
    {
      title: `Fourier heat map (eps ${result.eps})`,
      xLabel: 'fx',
      yLabel: 'fy',
      xTickLabels: labels,
      yTickLabels: labels,
      colorbarLabel: 'error (%)',
      ...options,
    },
  );
}

export function plotErf(result: ErfResult, options: ChartOptions = {}): string {
  if (!result || !Array.isArray(result.map)) throw new TypeError('plotErf: result must be an erf result');
  const rows = Array.from({ length: result.height }, (_, r) =>
    result.map.slice(r * result.width, (r + 1) * result.width),
  );
  return heatmap(rows, {
    title: `Effective receptive field (${result.block})`,
    range: [0, 1],
    colorbarLabel: 'log-scaled',
    ...options,
  });
}

export function plotAttackCurve(results: Labeled<AttackCurveResult>, options: ChartOptions = {}): string {
  const all = labeled('plotAttackCurve', results);
  const series: LineSeries[] = all.map(({ label, result }) => ({
    name: label,
    points: result.points.map((p) => [p.value, percent(p.accuracy)] as [number, number]),
  }));
  const first = all[0].result;
  return lineChart(series, {
    title: `${first.attack.toUpperCase()} attack`,
    xLabel: first.sweep === 'eps' ? 'Perturbation budget eps' : 'Attack steps',
    yLabel: 'Top-1 accuracy (%)',
    ...options,
  });
}
