// The demo's report folder: report.json (settings, every seed's histories and figures, the summary
// over seeds, the comparisons and the conclusion), one CSV per figure with a row per seed and point,
// one SVG per figure (mean over seeds, min-max bars), summary.csv, comparisons.csv and index.html.
import * as fs from 'fs';
import * as path from 'path';
import { escapeXml, lineChart, LineSeries } from '../plot/svg';
import type { DemoSettings } from './settings';
import { FIGURES, TRAINING_FIGURE, Curve, ChartAxes, Cell, csvText, NOISE_ROW_LABELS } from './figures';
import type { NoiseRowsResult } from './noise';
import { DemoModelInfo, SeedRun, SummaryRow, ComparisonRow, spreadText, comparisonText, pValueText } from './summary';
import { spread } from './stats';

export interface DemoReport {
  format: 'lkvit-demo-2';
  quick: boolean;
  /** The seeds run, in order; every per-seed array below follows it. */
  seeds: number[];
  settings: DemoSettings;
  data: {
    source: string;
    imageSize: number;
    mean: number[];
    std: number[];
    trainSplit: number;
    testSplit: number;
    trainUsed: number;
    testUsed: number;
  };
  models: DemoModelInfo[];
  /** Every seed's numbers. */
  runs: SeedRun[];
  /** Title and definition of each figure. */
  figures: Record<string, { title: string; explanation: string }>;
  summary: SummaryRow[];
  comparisons: ComparisonRow[];
  conclusion: string[];
  /** Wall-clock seconds in all and per seed, CPU seconds of the process (all threads; less sensitive to other load), per phase. */
  timings: { totalSeconds: number; cpuSeconds: number; seeds: number[]; phases: Record<string, number> };
  environment: { node: string; platform: string; cpus: number; threads: number; loadAverage: number[] };
}

/** The two models the study compares (large kernels against their 3x3 twin). */
export const HEADLINE_PAIR: [string, string] = ['replknet-13', 'replknet-3'];

const shortName = (report: DemoReport) => (name: string) =>
  report.models.find((m) => m.name === name)?.label.replace(/^RepLKNet /, '') ?? name;

function headlineComparison(report: DemoReport, measure: string): ComparisonRow | undefined {
  return report.comparisons.find((c) => c.measure === measure && c.a === HEADLINE_PAIR[0] && c.b === HEADLINE_PAIR[1]);
}

/** The summary as rows of cells (measure, one column per model, the 13x13 - 3x3 comparison): the printed table and index.html. */
export function summaryCells(report: DemoReport): { header: string[]; rows: string[][] } {
  const [a, b] = HEADLINE_PAIR.map(shortName(report));
  const header = [
    'measure',
    ...report.models.map((m) => m.label),
    `${a} − ${b} (paired t over ${report.seeds.length} seeds)`,
  ];
  const rows = report.summary.map((r) => {
    const c = headlineComparison(report, r.key);
    return [
      r.label,
      ...report.models.map((m) => spreadText(r.models[m.name], r.unit)),
      c ? comparisonText(c, shortName(report)) : '–',
    ];
  });
  return { header, rows };
}

/** The summary table as aligned text lines. */
export function summaryTable(report: DemoReport): string {
  const { header, rows } = summaryCells(report);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [
    `mean (min–max) over seeds ${report.seeds.join(', ')}; accuracies in %; last column: mean difference in points [95% interval], p of the paired t-test, seeds where ${HEADLINE_PAIR.map(shortName(report)).join(' > ')}`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

/** One series per model (and per curve of a model): the mean over seeds, with min-max error bars (a band for long curves). */
export function aggregateSeries(perModel: { label: string; curves: Curve[][] }[]): LineSeries[] {
  const series: LineSeries[] = [];
  for (const { label, curves } of perModel) {
    if (curves.length === 0) continue;
    curves[0].forEach((first, k) => {
      const points: [number, number][] = [],
        bars: [number, number, number][] = [];
      first.points.forEach(([x], i) => {
        const ys = curves
          .map((seedCurves) => seedCurves[k]?.points[i]?.[1])
          .filter((y): y is number => typeof y === 'number' && Number.isFinite(y));
        if (ys.length === 0) return;
        const s = spread(ys);
        points.push([x, s.mean]);
        bars.push([x, s.min, s.max]);
      });
      // Several curves of one model (the kernel layers): the title names the model, the legend the curves.
      const name = first.name ? (perModel.length > 1 ? `${label}: ${first.name}` : first.name) : label;
      const many = curves.length > 1;
      series.push({ name, points, ...(many && (points.length > 12 ? { band: bars } : { errorBars: bars })) });
    });
  }
  return series;
}

interface FigureFiles {
  name: string;
  title: string;
  explanation: string;
  svg: string | null;
  csv: string;
  table?: string[][];
  note?: string;
}

function chartOf(axes: ChartAxes, series: LineSeries[], seeds: number): string {
  const banded = series.some((s) => s.band);
  const legendNote =
    seeds > 1 ? `lines: mean of ${seeds} seeds; ${banded ? 'dashed bands' : 'bars'}: min–max` : undefined;
  return lineChart(series, { ...axes, legendNote });
}

function figureFiles(report: DemoReport): FigureFiles[] {
  const n = report.seeds.length;
  const training = report.models.map((m) => ({
    label: m.label,
    curves: report.runs.map((run) => TRAINING_FIGURE.curves(run.models.find((e) => e.name === m.name)?.history ?? [])),
  }));
  const trainingRows = report.runs.flatMap((run) =>
    run.models.flatMap((m) => TRAINING_FIGURE.csvRows(m.history).map((r) => [m.name, run.seed, ...r])),
  );
  const out: FigureFiles[] = [
    {
      name: TRAINING_FIGURE.name,
      title: TRAINING_FIGURE.title,
      explanation: TRAINING_FIGURE.explanation(report.settings),
      svg: chartOf(TRAINING_FIGURE.chart, aggregateSeries(training), n),
      csv: csvText(['model', 'seed', ...TRAINING_FIGURE.csvHeader], trainingRows),
    },
  ];
  for (const spec of FIGURES) {
    const def = report.figures[spec.name];
    const measured = report.models.filter((m) =>
      report.runs.every((run) => run.figures[spec.name]?.some((r) => r.model === m.name)),
    );
    if (!def || measured.length === 0) continue;
    const resultsOf = (model: string) =>
      report.runs.map((run) => (run.figures[spec.name].find((r) => r.model === model) as { result: unknown }).result);
    const rows: Cell[][] = report.runs.flatMap((run) =>
      run.figures[spec.name].flatMap((r) => spec.csvRows(r.result).map((row) => [r.model, run.seed, ...row])),
    );
    const svg =
      spec.curves && spec.chart
        ? chartOf(
            spec.chart,
            aggregateSeries(
              measured.map((m) => ({ label: m.label, curves: resultsOf(m.name).map((r) => spec.curves?.(r) ?? []) })),
            ),
            n,
          )
        : null;
    const file: FigureFiles = {
      name: spec.name,
      title: def.title,
      explanation: def.explanation,
      svg,
      csv: csvText(['model', 'seed', ...spec.csvHeader], rows),
    };
    if (spec.name === 'noise')
      file.table = noiseTable(
        report,
        measured.map((m) => m.name),
      );
    const worst = report.summary.find((r) => r.key === (spec.name === 'frequency' ? 'worstBand' : 'worstBandClamped'));
    if (spec.name.startsWith('frequency') && worst?.worstBands) file.note = worstBandNote(report, worst.worstBands);
    out.push(file);
  }
  return out;
}

/** "Worst band per seed: RepLKNet 13x13 0–0.1π (seeds 0, 2), 0.3–0.4π (seed 1); ...". */
function worstBandNote(report: DemoReport, worst: Record<string, string[]>): string {
  const perModel = Object.entries(worst).map(([model, bands]) => {
    const seedsOf = new Map<string, number[]>();
    bands.forEach((b, i) => seedsOf.set(b, [...(seedsOf.get(b) ?? []), report.seeds[i]]));
    const label = report.models.find((m) => m.name === model)?.label ?? model;
    return `${label} ${[...seedsOf].map(([b, s]) => `${b} (seed${s.length > 1 ? 's' : ''} ${s.join(', ')})`).join(', ')}`;
  });
  return `Worst band per seed: ${perModel.join('; ')}.`;
}

/** The noise figure as a table: one row per noise, one column per model (mean and range over seeds). */
function noiseTable(report: DemoReport, models: string[]): string[][] {
  const first = report.runs[0].figures.noise.find((r) => r.model === models[0])?.result as NoiseRowsResult;
  const header = ['noise', ...models.map((m) => report.models.find((e) => e.name === m)?.label ?? m)];
  const rows = first.rows.map((row, k) => [
    `${NOISE_ROW_LABELS[row.kind] ?? row.kind}, ${row.clip ? 'clamped to [0, 1]' : 'not clamped'}`,
    ...models.map((m) =>
      spreadText(
        spread(
          report.runs.map(
            (run) => (run.figures.noise.find((r) => r.model === m)?.result as NoiseRowsResult).rows[k].accuracy,
          ),
        ),
        'percent',
      ),
    ),
  ]);
  return [header, ...rows];
}

function htmlTable(rows: string[][], className = ''): string {
  const e = escapeXml;
  const [header, ...body] = rows;
  return [
    `<table${className ? ` class="${className}"` : ''}>`,
    `<tr>${header.map((h) => `<th>${e(h)}</th>`).join('')}</tr>`,
    ...body.map((r) => `<tr>${r.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`),
    '</table>',
  ].join('\n');
}

/** All pairs, all measures: the comparisons table of index.html and comparisons.csv. */
function comparisonCells(report: DemoReport): string[][] {
  const label = (name: string) => report.models.find((m) => m.name === name)?.label ?? name;
  return [
    ['measure', 'a − b', 'mean difference', '95% interval', 'p (paired t)', 'seeds a > b', 'verdict'],
    ...report.comparisons.map((c) => [
      c.label,
      `${label(c.a)} − ${label(c.b)}`,
      c.meanDiff.toFixed(2),
      c.ci ? `${c.ci[0].toFixed(2)} to ${c.ci[1].toFixed(2)}` : '–',
      pValueText(c.p).replace(/^p /, ''),
      `${c.wins}/${c.n}`,
      c.shown ? `${label(c.a)} ${c.meanDiff > 0 ? 'higher' : 'lower'}` : 'no difference shown',
    ]),
  ];
}

function definitions(s: DemoSettings): string[] {
  return [
    `Accuracy everywhere: top-1 accuracy in percent on held-out digits (never an accuracy drop; the study plots drops, clean minus accuracy, and the CSVs have both where it applies).`,
    s.perturb === 'grey'
      ? 'Perturbations (--perturb grey, the default): the digits are one grey channel stored three times, so every attack and every noise acts on that one channel and the three copies stay equal (an attack sees the model through channel 0 copied to all three).'
      : 'Perturbations (--perturb rgb): attacks and noise change the three stored copies of the grey channel independently, directions the models never saw in training.',
    `Attacks: FGSM and ${s.pgdSteps}-step PGD with a random start, L-inf ball of radius eps on the [0, 1] pixel scale, images kept in [0, 1].`,
    `Noise: Gaussian, RMS ${s.frequencyNoiseStd} per image. Band noise is confined to one square annulus of the 2-D spectrum, 0.1 pi wide, with the zero frequency (the image mean, i.e. brightness) left out of every band; white noise has every frequency. "Clamped" rows clamp the noisy image to [0, 1]: on MNIST's black background that cuts off the negative half of the noise and brightens the digit, so clamped and unclamped numbers differ for a reason that has nothing to do with frequencies. The brightness rows shift every pixel by +${s.frequencyNoiseStd} or -${s.frequencyNoiseStd} (the sign drawn per image).`,
    'Spread: each cell is the mean over the seeds with the smallest and largest seed in brackets; each seed trains the models afresh on its own split. Differences between two models are the mean of the per-seed differences with the 95% interval of a paired t-test.',
  ];
}

/** index.html: self-contained (no scripts, fonts or remote files), the figures as <img> of the SVGs beside it. */
export function indexHtml(report: DemoReport, figures: FigureFiles[]): string {
  const { header, rows } = summaryCells(report);
  const e = escapeXml;
  const models = report.models
    .map((m) => {
      const trained = spread(report.runs.map((run) => run.models.find((r) => r.name === m.name)?.trainSeconds ?? 0));
      return `<li><b>${e(m.label)}</b> (${m.parameters} parameters, trained in ${trained.mean.toFixed(1)} s per seed): ${e(m.description)}</li>`;
    })
    .join('\n');
  const sections = figures
    .map((f) =>
      [
        `<section id="${e(f.name)}">`,
        `<h2>${e(f.title)}</h2>`,
        `<p class="definition">${e(f.explanation)}</p>`,
        ...(f.svg ? [`<img src="${e(f.name)}.svg" alt="${e(f.title)}" width="640" height="440">`] : []),
        ...(f.table ? [htmlTable(f.table)] : []),
        ...(f.note ? [`<p>${e(f.note)}</p>`] : []),
        `<p class="data">Every seed's numbers: <a href="${e(f.name)}.csv">${e(f.name)}.csv</a></p>`,
        '</section>',
      ].join('\n'),
    )
    .join('\n');
  const s = report.settings;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lkvit demo report</title>
<style>
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 90%; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child, td:last-child { text-align: left; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.data, .meta { color: #666; font-size: 90%; }
.comparisons td:nth-child(2) { text-align: left; white-space: nowrap; }
.conclusion { background: #f6f6f6; padding: 0.5em 1em; border-left: 4px solid #888; }
</style>
</head>
<body>
<h1>lkvit demo: large kernels, small kernels and a ViT on MNIST</h1>
<p>Three models trained on the same ${s.trainSamples} digits for ${s.epochs} epochs (AdamW, lr ${s.lr}, weight decay ${s.weightDecay}, cosine schedule, label smoothing ${s.labelSmoothing}, random shifts of up to ${s.maxShift} pixels), then measured on held-out digits, once per seed: ${report.seeds.length} seed${report.seeds.length === 1 ? '' : 's'} (${report.seeds.join(', ')})${report.quick ? ', a --quick run (fewer epochs and samples)' : ''}.</p>
<ul>
${models}
</ul>
<h2>Summary</h2>
${htmlTable([header, ...rows], 'summary')}
<h2>Conclusion</h2>
<div class="conclusion">
${report.conclusion.map((p) => `<p>${e(p)}</p>`).join('\n')}
</div>
<h2>Definitions</h2>
<ul class="definitions">
${definitions(s)
  .map((d) => `<li>${e(d)}</li>`)
  .join('\n')}
</ul>
<p class="data">The summary as data: <a href="summary.csv">summary.csv</a>; every comparison: <a href="#comparisons">below</a> and <a href="comparisons.csv">comparisons.csv</a>.</p>
${sections}
<section id="comparisons">
<h2>All comparisons</h2>
<p class="definition">Every pair of models on every measure: the mean over seeds of the per-seed difference a − b (percentage points for accuracies), its 95% interval and the p-value of a paired t-test, and how many seeds had a above b.</p>
${htmlTable(comparisonCells(report), 'comparisons')}
</section>
<p class="meta">${report.data.trainSplit} training / ${report.data.testSplit} held-out digits in each seed's split; ${report.timings.totalSeconds.toFixed(0)} s in all (${report.timings.cpuSeconds.toFixed(0)} CPU seconds, load average ${report.environment.loadAverage.join(' / ')} at the end) on ${report.environment.cpus} CPU core(s) (${e(report.environment.platform)}, Node ${e(report.environment.node)}). All data: <a href="report.json">report.json</a>.</p>
</body>
</html>
`;
}

function summaryCsv(report: DemoReport): string {
  const rows: Cell[][] = report.summary.flatMap((r) =>
    report.models.flatMap((m) => {
      const v = r.models[m.name];
      return v
        ? [
            [
              r.key,
              r.label,
              m.name,
              r.unit === 'percent' ? 'fraction' : 'value',
              v.mean,
              v.min,
              v.max,
              v.values.join(' '),
            ],
          ]
        : [];
    }),
  );
  return csvText(
    ['measure', 'label', 'model', 'unit', 'mean', 'min', 'max', 'per_seed'],
    rows.map((r) =>
      r.map((c, i) =>
        i === 7
          ? (c as string)
              .split(' ')
              .map((v) => String(Number(Number(v).toPrecision(6))))
              .join(' ')
          : c,
      ),
    ),
  );
}

function comparisonsCsv(report: DemoReport): string {
  return csvText(
    ['measure', 'a', 'b', 'seeds', 'mean_diff', 'ci_low', 'ci_high', 'p', 'a_higher', 'a_lower', 'shown'],
    report.comparisons.map((c) => [
      c.measure,
      c.a,
      c.b,
      c.n,
      c.meanDiff,
      c.ci?.[0] ?? null,
      c.ci?.[1] ?? null,
      c.p,
      c.wins,
      c.losses,
      c.shown ? 'yes' : 'no',
    ]),
  );
}

/** Creates the report folder (and its parents) if needed; an error names the folder. */
export function prepareFolder(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw Object.assign(new Error(`demo: cannot write the report folder '${dir}': ${(err as Error).message}`), {
      code: (err as NodeJS.ErrnoException).code,
    });
  }
}

/** Writes report.json, the figures' CSV and SVG files, summary.csv, comparisons.csv and index.html into `dir`; returns the file names. */
export function writeReport(dir: string, report: DemoReport): string[] {
  prepareFolder(dir);
  const figures = figureFiles(report);
  const files: [string, string][] = [['report.json', JSON.stringify(report, null, 2) + '\n']];
  for (const f of figures) {
    files.push([`${f.name}.csv`, f.csv]);
    if (f.svg) files.push([`${f.name}.svg`, f.svg]);
  }
  files.push(
    ['summary.csv', summaryCsv(report)],
    ['comparisons.csv', comparisonsCsv(report)],
    ['index.html', indexHtml(report, figures)],
  );
  for (const [name, text] of files) fs.writeFileSync(path.join(dir, name), text);
  return files.map(([name]) => name);
}
