// The SVG writer's structure and determinism, PNG rendering through sharp, and lkvit analyze's
// files and errors.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const sharp = require('sharp');
const { lineChart, heatmap, fmt, niceTicks, svgToPng } = require('../lib/plot');
const { analyzeCommand } = require('../lib/cli/analyze');
const { UsageError } = require('../lib/cli/args');

const count = (s, re) => (s.match(re) || []).length;

test('line chart: one series path per series, a band path, legend entries, labels and ticks; deterministic', (t) => {
  const series = [
    {
      name: 'RepLKNet',
      points: [
        [0, 80],
        [10, 70.123],
        [20, 50],
      ],
      band: [
        [0, 80, 80],
        [10, 60, 75],
        [20, 40, 55],
      ],
    },
    {
      name: 'ViT <B>',
      points: [
        [0, 78],
        [10, 60],
        [20, 20],
      ],
    },
  ];
  const svg = lineChart(series, { title: 'Lesion', xLabel: 'Blocks dropped (%)', yLabel: 'Top-1 (%)' });
  t.is(count(svg, /<path class="series"/g), 2);
  t.is(count(svg, /<path class="band"/g), 1);
  t.is(count(svg, /class="legend-entry"/g), 2);
  t.true(
    svg.includes('>Blocks dropped (%)</text>') && svg.includes('>Top-1 (%)</text>') && svg.includes('>Lesion</text>'),
  );
  t.true(svg.includes('ViT &lt;B&gt;'), 'text is escaped');
  t.true(count(svg, /class="x-tick"/g) >= 3 && count(svg, /class="y-tick"/g) >= 3);
  t.is(lineChart(series, { title: 'Lesion' }), lineChart(series, { title: 'Lesion' }));
  t.notRegex(svg, /\d\.\d{3,}/, 'at most 2 decimals');
  t.throws(() => lineChart([]), { instanceOf: TypeError, message: /non-empty array/ });
});

test('number formatting and ticks', (t) => {
  t.is(fmt(1.236), '1.24');
  t.is(fmt(1.5), '1.5');
  t.is(fmt(2), '2');
  t.is(fmt(-0.001), '0');
  t.deepEqual(niceTicks(0, 1, 6), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.deepEqual(niceTicks(3, 47, 5), [20, 40]); // step: the first of 1, 2, 5, 10 x 10^k >= (47 - 3) / 4
});

test('heat map: one cell per value, a colour bar, and a PNG of the SVG size', async (t) => {
  const values = [
    [0, 1, 2],
    [3, 4, 5],
  ];
  const svg = heatmap(values, { title: 'map', colorbarLabel: 'error', width: 300, height: 200 });
  t.is(count(svg, /<rect class="cell"/g), 6);
  t.true(svg.includes('class="colorbar"') && svg.includes('>error</text>'));
  const png = await svgToPng(svg);
  const meta = await sharp(png).metadata();
  t.deepEqual([meta.format, meta.width, meta.height], ['png', 300, 200]);
  t.throws(() => heatmap([[1], [1, 2]]), { instanceOf: TypeError, message: /rectangular/ });
});

const fixtures = path.join(__dirname, 'fixtures', 'models');
const config = (lk) =>
  JSON.parse(lk.readSafetensors(path.join(fixtures, 'replknet_3b_tiny.io.safetensors')).metadata.config);

test('lkvit analyze writes NAME.json/.csv/.svg/.png; unknown analyses and flags are usage errors', async (t) => {
  const lk = require('..');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-analyze-'));
  const model = [
    '--model',
    'replknet31b',
    '--weights',
    path.join(fixtures, 'replknet_3b_tiny.safetensors'),
    '--config',
    JSON.stringify(config(lk)),
  ];
  const lines = [];
  await analyzeCommand(['kernel-distance', ...model, '--out', out], (s) => lines.push(s));
  for (const ext of ['json', 'csv', 'svg', 'png']) t.true(fs.existsSync(path.join(out, `kernel-distance.${ext}`)));
  const json = JSON.parse(fs.readFileSync(path.join(out, 'kernel-distance.json'), 'utf8'));
  t.is(json.analysis, 'kernel-distance');
  t.true(json.result.layers.length > 0);
  const csv = fs.readFileSync(path.join(out, 'kernel-distance.csv'), 'utf8').trim().split('\n');
  t.is(csv[0], 'kernel,rank,normalized_index,distance');
  t.is(
    csv.length - 1,
    json.result.layers.reduce((s, l) => s + l.distances.length, 0),
  );
  // A dataset analysis from a .safetensors input.
  const x = new Float32Array(2 * 3 * 32 * 32).map((_, i) => (i % 7) / 7);
  const input = path.join(out, 'data.safetensors');
  lk.writeSafetensors(input, {
    x: { shape: [2, 3, 32, 32], data: x },
    y: { shape: [2], data: new Float32Array([1, 2]) },
  });
  await analyzeCommand(
    ['lesion', ...model, '--input', input, '--trials', '2', '--max-blocks', '1', '--json', path.join(out, 'l.json')],
    () => {},
  );
  t.is(JSON.parse(fs.readFileSync(path.join(out, 'l.json'), 'utf8')).result.points[0].trials.length, 2);
  await t.throwsAsync(
    analyzeCommand(['saliency', ...model, '--out', out], () => {}),
    { instanceOf: UsageError, message: /unknown analysis 'saliency'/ },
  );
  await t.throwsAsync(
    analyzeCommand(['lesion', ...model, '--out', out, '--trails', '2'], () => {}),
    { instanceOf: UsageError, message: /unknown flag --trails/ },
  );
  await t.throwsAsync(
    analyzeCommand(['lesion', ...model, '--out', out], () => {}),
    { instanceOf: UsageError, message: /exactly one of --input and --data/ },
  );
  const help = [];
  await analyzeCommand(['--help'], (s) => help.push(s));
  t.regex(help.join('\n'), /--noise-std VALUE/);
});
