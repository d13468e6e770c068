// The demo's report folder: report.json (settings, timings, training histories, every figure's
// data), one CSV and one SVG per figure, and index.html showing them with the summary table.
import * as fs from 'fs';
import * as path from 'path';
import type { EpochMetrics } from '../train';
import type { AttackCurveResult, OcclusionResult, FrequencyNoiseResult, LesionResult, KernelDistanceResult } from '../suites/analyses';
import { escapeXml } from '../plot/svg';
import type { DemoSettings } from './settings';
import { FIGURES, TRAINING_FIGURE, ModelResult, csvText } from './figures';

export interface DemoModelReport {
  name: string;
  label: string;
  description: string;
  architecture: string;
  config: object;
  parameters: number;
  trainSeconds: number;
  /** Accuracy on the held-out digits used for the figures (settings.testSamples). */
  cleanAccuracy: number;
  history: EpochMetrics[];
}

export interface DemoFigure {
  title: string;
  explanation: string;
  results: ModelResult<unknown>[];
}

/** One line of the summary table; null where a figure does not apply to the model. */
export interface SummaryRow {
  model: string;
  label: string;
  parameters: number;
  clean: number;
  fgsm: number | null;
  pgd: number | null;
  /** Accuracy with half of the patches dropped. */
  occlusion50: number | null;
  /** The band with the lowest accuracy under noise, and that accuracy. */
  worstBand: { lo: number; accuracy: number } | null;
  /** Mean accuracy with one residual block removed. */
  lesion1: number | null;
  /** Mean kernel attention distance of the large kernels (merged). */
  kernelDistance: number | null;
}

export interface DemoReport {
  format: 'lkvit-demo-1';
  quick: boolean;
  seed: number;
  settings: DemoSettings;
  data: {
    source: string; imageSize: number; mean: number[]; std: number[];
    trainSplit: number; testSplit: number; trainUsed: number; testUsed: number; firstTestIds: string[];
  };
  models: DemoModelReport[];
  figures: Record<string, DemoFigure>;
  summary: SummaryRow[];
  timings: { totalSeconds: number; phases: Record<string, number> };
  environment: { node: string; platform: string; cpus: number; threads: number };
}

function resultOf<R>(report: DemoReport, figure: string, model: string): R | null {
  const r = report.figures[figure]?.results.find((e) => e.model === model);
  return r ? (r.result as R) : null;
}

/** The value of the point whose x is nearest `at`. */
function nearest<P>(points: P[], x: (p: P) => number, at: number): P | null {
  return points.reduce<P | null>((best, p) => (best === null || Math.abs(x(p) - at) < Math.abs(x(best) - at) ? p : best), null);
}

export function summaryRows(report: DemoReport): SummaryRow[] {
  const eps = report.settings.headlineEps;
  return report.models.map((m) => {
    const attackAt = (name: string) => {
      const r = resultOf<AttackCurveResult>(report, name, m.name);
      return r ? nearest(r.points, (p) => p.value, eps)?.accuracy ?? null : null;
    };
    const occ = resultOf<OcclusionResult>(report, 'occlusion', m.name);
    const freq = resultOf<FrequencyNoiseResult>(report, 'frequency', m.name);
    const les = resultOf<LesionResult>(report, 'lesion', m.name);
    const kd = resultOf<KernelDistanceResult>(report, 'kernel-distance', m.name);
    const worst = freq ? freq.bands.reduce((a, b) => (b.accuracy < a.accuracy ? b : a)) : null;
    return {
      model: m.name, label: m.label, parameters: m.parameters, clean: m.cleanAccuracy,
      fgsm: attackAt('fgsm'), pgd: attackAt('pgd'),
      occlusion50: occ ? nearest(occ.points, (p) => p.ratio, 0.5)?.accuracy ?? null : null,
      worstBand: worst ? { lo: worst.lo, accuracy: worst.accuracy } : null,
      lesion1: les?.points[0]?.mean ?? null,
      kernelDistance: kd ? kd.layers.reduce((s, l) => s + l.mean * l.distances.length, 0) / kd.layers.reduce((s, l) => s + l.distances.length, 0) : null,
    };
  });
}

const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(1)}%`);

/** The summary as rows of cells, with its header: shared by the printed table and index.html. */
export function summaryCells(report: DemoReport): { header: string[]; rows: string[][] } {
  const eps = report.settings.headlineEps;
  const header = ['model', 'params', 'clean', `FGSM ${eps}`, `PGD-${report.settings.pgdSteps} ${eps}`, 'occlusion 50%', 'worst noise band', '1 block removed', 'kernel distance'];
  const rows = report.summary.map((r) => [
    r.label, String(r.parameters), pct(r.clean), pct(r.fgsm), pct(r.pgd), pct(r.occlusion50),
    r.worstBand ? `${pct(r.worstBand.accuracy)} (${r.worstBand.lo}pi)` : '-', pct(r.lesion1), r.kernelDistance === null ? '-' : r.kernelDistance.toFixed(3),
  ]);
  return { header, rows };
}

/** The summary table as aligned text lines. */
export function summaryTable(report: DemoReport): string {
  const { header, rows } = summaryCells(report);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

interface FigureFiles {
  name: string;
  title: string;
  explanation: string;
  svg: string;
  csv: string;
}

function figureFiles(report: DemoReport): FigureFiles[] {
  const training = report.models.map((m) => ({ model: m.name, label: m.label, result: m.history }));
  const out: FigureFiles[] = [{
    name: TRAINING_FIGURE.name, title: TRAINING_FIGURE.title, explanation: TRAINING_FIGURE.explanation(report.settings),
    svg: TRAINING_FIGURE.plot(training), csv: csvText(TRAINING_FIGURE.csvHeader, training.flatMap(TRAINING_FIGURE.csvRows)),
  }];
  for (const spec of FIGURES) {
    const figure = report.figures[spec.name];
    if (!figure || figure.results.length === 0) continue;
    out.push({
      name: spec.name, title: figure.title, explanation: figure.explanation,
      svg: spec.plot(figure.results), csv: csvText(spec.csvHeader, figure.results.flatMap(spec.csvRows)),
    });
  }
  return out;
}

/** index.html: self-contained (no scripts, fonts or remote files), the figures as <img> of the SVGs beside it. */
export function indexHtml(report: DemoReport, figures: FigureFiles[]): string {
  const { header, rows } = summaryCells(report);
  const e = escapeXml;
  const table = [
    '<table>',
    `<tr>${header.map((h) => `<th>${e(h)}</th>`).join('')}</tr>`,
    ...rows.map((r) => `<tr>${r.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`),
    '</table>',
  ].join('\n');
  const models = report.models.map((m) => `<li><b>${e(m.label)}</b> (${m.parameters} parameters, trained in ${m.trainSeconds.toFixed(1)} s): ${e(m.description)}</li>`).join('\n');
  const sections = figures.map((f) => [
    `<section id="${e(f.name)}">`,
    `<h2>${e(f.title)}</h2>`,
    `<p>${e(f.explanation)}</p>`,
    `<img src="${e(f.name)}.svg" alt="${e(f.title)}" width="640" height="440">`,
    `<p class="data">Data: <a href="${e(f.name)}.csv">${e(f.name)}.csv</a></p>`,
    '</section>',
  ].join('\n')).join('\n');
  const s = report.settings;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lkvit demo report</title>
<style>
body { font-family: sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.data, .meta { color: #666; font-size: 90%; }
</style>
</head>
<body>
<h1>lkvit demo: large kernels, small kernels and a ViT on MNIST</h1>
<p>Three models trained on the same ${s.trainSamples} digits for ${s.epochs} epochs (AdamW, lr ${s.lr}, weight decay ${s.weightDecay}, cosine schedule, label smoothing ${s.labelSmoothing}, random shifts of up to ${s.maxShift} pixels), then measured on held-out digits. The figures show what this run measured${report.quick ? ' (a --quick run: fewer epochs and samples)' : ''}.</p>
<ul>
${models}
</ul>
${table}
<p class="meta">Seed ${report.seed}; ${report.data.trainSplit} training / ${report.data.testSplit} held-out digits in the split; ${report.timings.totalSeconds.toFixed(0)} s in all on ${report.environment.cpus} CPU core(s) (${e(report.environment.platform)}, Node ${e(report.environment.node)}). All data: <a href="report.json">report.json</a>.</p>
${sections}
</body>
</html>
`;
}

/** Creates the report folder (and its parents) if needed; an error names the folder. */
export function prepareFolder(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw Object.assign(new Error(`demo: cannot write the report folder '${dir}': ${(err as Error).message}`), { code: (err as NodeJS.ErrnoException).code });
  }
}

/** Writes report.json, the figures' CSV and SVG files and index.html into `dir`; returns the file names. */
export function writeReport(dir: string, report: DemoReport): string[] {
  prepareFolder(dir);
  const figures = figureFiles(report);
  const files: [string, string][] = [['report.json', JSON.stringify(report, null, 2) + '\n']];
  for (const f of figures) files.push([`${f.name}.csv`, f.csv], [`${f.name}.svg`, f.svg]);
  files.push(['index.html', indexHtml(report, figures)]);
  for (const [name, text] of files) fs.writeFileSync(path.join(dir, name), text);
  return files.map(([name]) => name);
}
