// A small SVG writer for the analyses' figures: line charts (several series, a legend below the
// plot, ticks, an optional shaded min/max band or min/max error bars) and heat maps with a colour
// bar. Output is deterministic: numbers are written with a fixed number of decimals, elements in a
// fixed order.
import { checkOneOf } from '../tensor/check';

export interface LineSeries {
  name: string;
  /** [x, y] in data units. */
  points: [number, number][];
  /** Optional shaded band: [x, low, high] (the lesion study's min/max), outlined in the series' colour. */
  band?: [number, number, number][];
  /** Optional error bars: [x, low, high] (e.g. min and max over seeds), drawn beside the other
   * series' bars at the same x so that none hides another. */
  errorBars?: [number, number, number][];
  /** A dot at each point (default: when the series has error bars). */
  markers?: boolean;
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Pixels (default 640 x 440). */
  width?: number;
  height?: number;
}

export interface LineChartOptions extends ChartOptions {
  /** Axis ranges (default: the data's, widened to round ticks). */
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Where the legend goes: 'below' the plot (default; never over a curve) or 'inside' its top right corner. */
  legend?: 'below' | 'inside';
  /** A line of text after the legend's entries (e.g. what the error bars span). */
  legendNote?: string;
  /** Only whole numbers on the x axis (epochs, counts). */
  xIntegerTicks?: boolean;
}

export interface HeatmapOptions extends ChartOptions {
  /** Labels of the columns / rows (at most about 11 are written, evenly spaced). */
  xTickLabels?: string[];
  yTickLabels?: string[];
  /** Colour-scale range (default the data's min and max). */
  range?: [number, number];
  colorbarLabel?: string;
}

// matplotlib's tab10, for the series.
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];
// viridis at 0, 0.25, 0.5, 0.75, 1, for the heat maps.
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];
const MARGIN = { left: 72, right: 24, top: 44, bottom: 60 };

/** A number as the SVG holds it: at most 2 decimals, no trailing zeros, no "-0". */
export function fmt(v: number): string {
  const s = (Math.round(v * 100) / 100).toFixed(2).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round tick values (1, 2, 5 times a power of ten) covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count - 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) as number;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}

function tickLabel(v: number): string {
  return Number(v.toPrecision(6)).toString();
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${fmt(x)}" y="${fmt(y)}"${attrs ? ' ' + attrs : ''}>${escapeXml(s)}</text>`;
}

// below: extra height under the x label (a legend there).
function frame(width: number, height: number, o: ChartOptions, body: string[], below = 0): string {
  const head = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (o.title) head.push(text(width / 2, 24, o.title, 'class="title" text-anchor="middle" font-size="15"'));
  if (o.xLabel)
    head.push(
      text(
        MARGIN.left + (width - MARGIN.left - MARGIN.right) / 2,
        height - below - 14,
        o.xLabel,
        'class="x-label" text-anchor="middle"',
      ),
    );
  if (o.yLabel) {
    const cy = MARGIN.top + (height - below - MARGIN.top - MARGIN.bottom) / 2;
    head.push(text(18, cy, o.yLabel, `class="y-label" text-anchor="middle" transform="rotate(-90 18 ${fmt(cy)})"`));
  }
  return [...head, ...body, '</svg>'].join('\n') + '\n';
}

function domain(values: number[], given?: [number, number]): [number, number] {
  if (given) return given;
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite),
    hi = Math.max(...finite);
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const ticks = niceTicks(lo, hi);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  return [Math.min(lo, Math.floor(lo / step) * step), Math.max(hi, Math.ceil(hi / step) * step)];
}

// About 7 px per character at 12 px, plus the swatch.
const legendEntryWidth = (name: string) => 20 + 7 * name.length + 18;

/** Legend rows that fit `width`, entries in order. */
function legendRows(names: string[], width: number): number[][] {
  const rows: number[][] = [];
  let used = Infinity;
  names.forEach((name, i) => {
    const w = legendEntryWidth(name);
    if (used + w > width) {
      rows.push([]);
      used = 0;
    }
    rows[rows.length - 1].push(i);
    used += w;
  });
  return rows;
}

/** Line chart: one <path class="series"> per series, in order, with a legend entry each. */
export function lineChart(series: LineSeries[], options: LineChartOptions = {}): string {
  if (!Array.isArray(series) || series.length === 0)
    throw new TypeError('lineChart: series must be a non-empty array of { name, points }');
  series.forEach((s, i) => {
    if (!s || typeof s.name !== 'string' || !Array.isArray(s.points))
      throw new TypeError(`lineChart: series[${i}] must be { name: string, points: [x, y][] }`);
  });
  const legendAt =
    options.legend === undefined ? 'below' : checkOneOf('lineChart', 'legend', options.legend, ['below', 'inside']);
  const width = options.width ?? 640,
    height = options.height ?? 440;
  const pw = width - MARGIN.left - MARGIN.right;
  const note = options.legendNote ? [options.legendNote] : [];
  const rows = legendAt === 'below' ? legendRows([...series.map((s) => s.name), ...note], pw) : [];
  const below = rows.length ? 18 * rows.length + 6 : 0;
  const ph = height - below - MARGIN.top - MARGIN.bottom;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => [
    ...s.points.map((p) => p[1]),
    ...[...(s.band ?? []), ...(s.errorBars ?? [])].flatMap((b) => [b[1], b[2]]),
  ]);
  const [x0, x1] = domain(xs, options.xDomain),
    [y0, y1] = domain(ys, options.yDomain);
  // Error bars keep 10 px from the axes, so that the bars at the first and last x stay inside.
  const barred = series.map((s, i) => (s.errorBars?.length ? i : -1)).filter((i) => i >= 0);
  const pad = barred.length ? 10 : 0;
  const X = (v: number) => MARGIN.left + pad + ((v - x0) / (x1 - x0 || 1)) * (pw - 2 * pad);
  const Y = (v: number) => MARGIN.top + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
  const body: string[] = [
    `<g class="axes" stroke="#000000" fill="none">`,
    `<path d="M${fmt(MARGIN.left)},${fmt(MARGIN.top)}V${fmt(MARGIN.top + ph)}H${fmt(MARGIN.left + pw)}"/>`,
    '</g>',
  ];
  const ticks: string[] = ['<g class="ticks">'];
  for (const t of niceTicks(x0, x1).filter((v) => !options.xIntegerTicks || Number.isInteger(v))) {
    ticks.push(`<path d="M${fmt(X(t))},${fmt(MARGIN.top + ph)}v5" stroke="#000000"/>`);
    ticks.push(text(X(t), MARGIN.top + ph + 18, tickLabel(t), 'class="x-tick" text-anchor="middle"'));
  }
  for (const t of niceTicks(y0, y1)) {
    ticks.push(`<path d="M${fmt(MARGIN.left)},${fmt(Y(t))}h-5" stroke="#000000"/>`);
    ticks.push(`<path d="M${fmt(MARGIN.left)},${fmt(Y(t))}h${fmt(pw)}" stroke="#e0e0e0"/>`);
    ticks.push(text(MARGIN.left - 8, Y(t) + 4, tickLabel(t), 'class="y-tick" text-anchor="end"'));
  }
  ticks.push('</g>');
  const lines: string[] = [];
  // Error bars of the k-th series that has them sit (k - (K - 1) / 2) * 6 px from their x.
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    if (s.band && s.band.length) {
      const upper = s.band.map((b, k) => `${k ? 'L' : 'M'}${fmt(X(b[0]))},${fmt(Y(b[2]))}`).join('');
      const lower = s.band
        .slice()
        .reverse()
        .map((b) => `L${fmt(X(b[0]))},${fmt(Y(b[1]))}`)
        .join('');
      lines.push(
        `<path class="band" d="${upper}${lower}Z" fill="${colour}" fill-opacity="0.12" stroke="${colour}" stroke-opacity="0.7" stroke-width="1" stroke-dasharray="4 3"/>`,
      );
    }
  });
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const shift = barred.includes(i) ? (barred.indexOf(i) - (barred.length - 1) / 2) * 6 : 0;
    for (const [x, lo, hi] of s.errorBars ?? []) {
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) continue;
      const bx = X(x) + shift;
      lines.push(
        `<path class="error-bar" d="M${fmt(bx)},${fmt(Y(lo))}V${fmt(Y(hi))}M${fmt(bx - 3)},${fmt(Y(lo))}h6M${fmt(bx - 3)},${fmt(Y(hi))}h6" stroke="${colour}" stroke-width="1.5" fill="none"/>`,
      );
    }
    const finite = s.points.filter((p) => Number.isFinite(p[1]));
    const d = finite.map((p, k) => `${k ? 'L' : 'M'}${fmt(X(p[0]) + shift)},${fmt(Y(p[1]))}`).join('');
    lines.push(`<path class="series" d="${d}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    if (s.markers ?? barred.includes(i))
      for (const p of finite)
        lines.push(`<circle class="marker" cx="${fmt(X(p[0]) + shift)}" cy="${fmt(Y(p[1]))}" r="3" fill="${colour}"/>`);
  });
  const legend = ['<g class="legend">'];
  const entry = (i: number, x: number, y: number) => {
    if (i >= series.length) return legend.push(text(x, y, note[0], 'class="legend-note" fill="#555555"'));
    legend.push(`<rect x="${fmt(x)}" y="${fmt(y - 9)}" width="14" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    legend.push(text(x + 20, y, series[i].name, 'class="legend-entry"'));
  };
  if (legendAt === 'inside') {
    const legendX = MARGIN.left + pw - 24 - 7 * Math.max(...series.map((s) => s.name.length));
    [...series, ...note].forEach((_, i) => entry(i, legendX, MARGIN.top + 10 + 18 * i));
  } else
    rows.forEach((row, r) => {
      let x = MARGIN.left;
      for (const i of row) {
        entry(i, x, height - below + 18 * r + 8);
        x += legendEntryWidth(i < series.length ? series[i].name : note[0]);
      }
    });
  legend.push('</g>');
  return frame(width, height, options, [...ticks, ...body, ...lines, ...legend], below);
}

/** Linear interpolation in viridis; t in [0, 1]. */
export function viridis(t: number): string {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u)),
    f = u - i;
  const c = VIRIDIS[i].map((a, k) => Math.round(a + f * (VIRIDIS[i + 1][k] - a)));
  return '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
}

function sampledTicks(labels: string[] | undefined, count: number): [number, string][] {
  if (!labels || labels.length === 0) return [];
  const step = Math.max(1, Math.ceil(count / 11));
  const out: [number, string][] = [];
  for (let i = 0; i < count; i += step) out.push([i, labels[i]]);
  return out;
}

/** Heat map of values[row][col]: one <rect class="cell"> per value, and a vertical colour bar. */
export function heatmap(values: number[][], options: HeatmapOptions = {}): string {
  if (
    !Array.isArray(values) ||
    values.length === 0 ||
    !values.every((r) => Array.isArray(r) && r.length === values[0].length && r.length > 0)
  )
    throw new TypeError('heatmap: values must be a non-empty rectangular array of rows');
  const width = options.width ?? 560,
    height = options.height ?? 480;
  const rows = values.length,
    cols = values[0].length;
  const flat = values.flat().filter(Number.isFinite);
  const [lo, hi] = options.range ?? [flat.length ? Math.min(...flat) : 0, flat.length ? Math.max(...flat) : 1];
  const barWidth = 16,
    gap = 48;
  const side = Math.min(width - MARGIN.left - MARGIN.right - barWidth - gap, height - MARGIN.top - MARGIN.bottom);
  const cw = side / cols,
    ch = side / rows;
  const body: string[] = ['<g class="cells">'];
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++)
      body.push(
        `<rect class="cell" x="${fmt(MARGIN.left + c * cw)}" y="${fmt(MARGIN.top + r * ch)}" width="${fmt(cw + 0.02)}" height="${fmt(ch + 0.02)}" fill="${viridis((values[r][c] - lo) / (hi - lo || 1))}"/>`,
      );
  body.push('</g>', '<g class="ticks">');
  for (const [c, label] of sampledTicks(options.xTickLabels, cols))
    body.push(text(MARGIN.left + (c + 0.5) * cw, MARGIN.top + side + 16, label, 'class="x-tick" text-anchor="middle"'));
  for (const [r, label] of sampledTicks(options.yTickLabels, rows))
    body.push(text(MARGIN.left - 6, MARGIN.top + (r + 0.5) * ch + 4, label, 'class="y-tick" text-anchor="end"'));
  body.push('</g>');
  const bx = MARGIN.left + side + gap / 2,
    steps = 32;
  body.push('<g class="colorbar">');
  for (let k = 0; k < steps; k++)
    body.push(
      `<rect x="${fmt(bx)}" y="${fmt(MARGIN.top + (side * k) / steps)}" width="${barWidth}" height="${fmt(side / steps + 0.02)}" fill="${viridis(1 - (k + 0.5) / steps)}"/>`,
    );
  for (const t of niceTicks(lo, hi, 5))
    body.push(
      text(
        bx + barWidth + 4,
        MARGIN.top + side - ((t - lo) / (hi - lo || 1)) * side + 4,
        tickLabel(t),
        'class="colorbar-tick"',
      ),
    );
  if (options.colorbarLabel)
    body.push(
      text(bx + barWidth / 2, MARGIN.top - 8, options.colorbarLabel, 'class="colorbar-label" text-anchor="middle"'),
    );
  body.push('</g>');
  return frame(width, height, options, body);
}
