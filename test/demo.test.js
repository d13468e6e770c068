// lkvit demo: the MNIST split, the padding and the shift augmentation against plain loops, and one
// --quick run end to end (files, figures, accuracies), plus seeded determinism on a tiny run.
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const lk = require('../lib');
const { readMnistDigits, splitIndices, paddedRgb, mnistSplit } = require('../lib/demo/mnist');
const { randomShift } = require('../lib/demo/augment');
const { runDemo } = require('../lib/demo/run');
const { demoCommand } = require('../lib/cli/demo');
const { Rng } = require('../lib/tensor/random');

const tmp = (name) => fs.mkdtempSync(path.join(os.tmpdir(), `lkvit-demo-${name}-`));
const digits = readMnistDigits();

test('the mnist package gives 10,000 digits in [0, 1] with about 1,000 per class', (t) => {
  t.is(digits.labels.length, 10000);
  t.is(digits.pixels.length, 10000 * 784);
  const counts = new Array(10).fill(0);
  for (const l of digits.labels) counts[l]++;
  t.true(counts.every((c) => c > 800 && c < 1200), `per-class counts ${counts}`);
  let lo = Infinity, hi = -Infinity;
  for (const v of digits.pixels) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  t.is(lo, 0);
  t.true(hi > 0.9 && hi <= 1);
});

test('the split is stratified, disjoint, complete and fixed by the seed', (t) => {
  const a = splitIndices(digits.labels, 0.2, 0);
  t.is(a.train.length + a.test.length, 10000);
  t.is(new Set([...a.train, ...a.test]).size, 10000);
  for (let d = 0; d < 10; d++) {
    const all = digits.labels.filter((l) => l === d).length;
    const held = a.test.filter((i) => digits.labels[i] === d).length;
    t.is(held, Math.round(0.2 * all), `digit ${d}`);
  }
  // Shuffled: the first 100 test samples hold every digit.
  t.is(new Set(a.test.slice(0, 100).map((i) => digits.labels[i])).size, 10);
  t.deepEqual(splitIndices(digits.labels, 0.2, 0), a);
  t.notDeepEqual(splitIndices(digits.labels, 0.2, 1).test.slice(0, 50), a.test.slice(0, 50));
  t.throws(() => mnistSplit({ testFraction: 1 }), { instanceOf: RangeError, message: /testFraction/ });
  t.throws(() => mnistSplit({ seed: -1 }), { instanceOf: RangeError, message: /seed/ });
});

test('paddedRgb centres each 28x28 digit in a 32x32 zero border on all three channels', async (t) => {
  const indices = [5, 4321, 9999];
  const x = paddedRgb(digits, indices);
  t.deepEqual(x.shape, [3, 3, 32, 32]);
  for (let n = 0; n < 3; n++)
    for (let c = 0; c < 3; c++)
      for (let r = 0; r < 32; r++)
        for (let col = 0; col < 32; col++) {
          const inside = r >= 2 && r < 30 && col >= 2 && col < 30;
          const want = inside ? digits.pixels[indices[n] * 784 + (r - 2) * 28 + (col - 2)] : 0;
          if (x.data[((n * 3 + c) * 32 + r) * 32 + col] !== want) return t.fail(`sample ${n} channel ${c} (${r}, ${col})`);
        }
  const split = mnistSplit({ seed: 3 });
  // 20% of each digit, rounded: 200 + 225 + 198 + 206 + 196 + 173 + 203 + 214 + 189 + 196.
  t.is(split.test.length, 2000);
  t.is(split.train.length, 8000);
  const b = await split.test.load(0, 2);
  t.deepEqual([...b.y], [...split.testIndices.slice(0, 2)].map((i) => digits.labels[i]));
  t.is(split.test.id(0), digits.ids[split.testIndices[0]]);
});

test('randomShift translates each sample by at most maxShift pixels with a zero fill', (t) => {
  const rng = new Rng(7);
  const [N, C, H, W] = [6, 2, 5, 7];
  const x = lk.tensor(Float32Array.from({ length: N * C * H * W }, (_, i) => 1 + (i % 97)), [N, C, H, W]);
  t.deepEqual([...randomShift(x, new Rng(1), 0).data], [...x.data]);
  const y = randomShift(x, rng, 2);
  const at = (d, n, c, r, col) => (r < 0 || r >= H || col < 0 || col >= W ? 0 : d[((n * C + c) * H + r) * W + col]);
  const seen = new Set();
  for (let n = 0; n < N; n++) {
    // Exactly one (dy, dx) in [-2, 2]^2 explains the whole sample, on every channel.
    const fits = [];
    for (let dy = -2; dy <= 2; dy++)
      for (let dx = -2; dx <= 2; dx++) {
        let ok = true;
        for (let c = 0; c < C && ok; c++)
          for (let r = 0; r < H && ok; r++)
            for (let col = 0; col < W && ok; col++) ok = at(y.data, n, c, r, col) === at(x.data, n, c, r - dy, col - dx);
        if (ok) fits.push(`${dy},${dx}`);
      }
    t.is(fits.length, 1, `sample ${n}`);
    seen.add(fits[0]);
  }
  t.true(seen.size > 1, 'the shifts differ between samples');
  t.throws(() => randomShift(x, rng, -1), { instanceOf: RangeError });
});

test('runDemo and lkvit demo check their options', async (t) => {
  await t.throwsAsync(runDemo({ epochs: 3 }), { instanceOf: RangeError, message: /unknown option.*epochs/ });
  await t.throwsAsync(runDemo({ seed: -2 }), { instanceOf: RangeError, message: /seed/ });
  await t.throwsAsync(runDemo({ settings: { eps: [0, 2] } }), { instanceOf: RangeError, message: /settings\.eps/ });
  await t.throwsAsync(runDemo({ settings: { epoch: 2 } }), { instanceOf: RangeError, message: /unknown setting/ });
  await t.throwsAsync(demoCommand(['--seed', '-1'], () => {}), { name: 'UsageError', message: /--seed/ });
  await t.throwsAsync(demoCommand(['--epochs', '0'], () => {}), { name: 'UsageError', message: /--epochs/ });
  await t.throwsAsync(demoCommand(['--fast'], () => {}), { name: 'UsageError', message: /unknown flag --fast/ });
  const lines = [];
  await demoCommand(['--help'], (s) => lines.push(s));
  for (const flag of ['--out', '--quick', '--seed', '--epochs', '--json', '--quiet', '--help']) t.true(lines[0].includes(flag), flag);
  t.regex(lines[0], /--out VALUE\s.*\(default: lkvit-report\)/);
  const file = path.join(tmp('file'), 'taken');
  fs.writeFileSync(file, 'x');
  await t.throwsAsync(runDemo({ out: file }), { message: /cannot write the report folder .*taken/ });
  await t.throwsAsync(demoCommand(['--out', file], () => {}), { name: 'UsageError', message: /--out .*is a file/ });
  const aborted = { aborted: true };
  await t.throwsAsync(runDemo({ out: tmp('abort'), signal: aborted }), { name: 'AbortError' });
});

// Everything but the clock: timings, per-epoch and per-attack seconds, the environment.
function withoutTimes(v) {
  if (Array.isArray(v)) return v.map(withoutTimes);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).filter(([k]) => !['seconds', 'trainSeconds', 'timings', 'environment'].includes(k)).map(([k, e]) => [k, withoutTimes(e)]));
  return v;
}

const TINY = {
  trainSamples: 128, epochs: 1, batchSize: 32, testSamples: 40, attackSamples: 20, lesionSamples: 20, evalBatchSize: 20,
  eps: [0, 0.1], pgdSteps: 2, occlusionRatios: [0.5], frequencyBands: [0, 0.5], lesionTrials: 2,
};

test('the same seed gives the same report, a different seed a different one', async (t) => {
  const [a, b, c] = [await runDemo({ out: tmp('a'), settings: TINY }), await runDemo({ out: tmp('b'), settings: TINY }), await runDemo({ out: tmp('c'), seed: 5, settings: TINY })];
  t.deepEqual(withoutTimes(a.report), withoutTimes(b.report));
  t.notDeepEqual(a.report.data.firstTestIds, c.report.data.firstTestIds);
  t.notDeepEqual(a.report.models[0].history, c.report.models[0].history);
});

// A minimal XML well-formedness check: tags nest and close, attributes are quoted, text has no raw '<' or bare '&'.
function checkXml(text) {
  const body = text.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack = [];
  const tokens = body.split(/(<[^>]*>)/);
  for (const tok of tokens) {
    if (!tok.startsWith('<')) {
      if (/<|&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(tok)) return `bad text ${JSON.stringify(tok.slice(0, 40))}`;
      continue;
    }
    const m = /^<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>$/.exec(tok);
    if (!m) return `bad tag ${tok.slice(0, 60)}`;
    if (m[1]) {
      if (stack.pop() !== m[2]) return `unbalanced </${m[2]}>`;
    } else if (!m[4]) stack.push(m[2]);
    if (stack.length === 0 && tok !== tokens.filter((s) => s.startsWith('<')).slice(-1)[0] && !m[1]) return 'more than one root';
  }
  return stack.length ? `unclosed <${stack.join('><')}>` : null;
}

function parseCsv(text) {
  const [header, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return { header, rows };
}

test('lkvit demo --quick writes the report with every figure, and the models learn', async (t) => {
  const dir = tmp('quick');
  const out = path.join(dir, 'report');
  const lines = [];
  await demoCommand(['--quick', '--quiet', '--out', out, '--json', path.join(dir, 'result.json')], (s) => lines.push(s));
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
  const figures = ['training', 'fgsm', 'pgd', 'occlusion', 'frequency', 'lesion', 'kernel-distance'];
  for (const f of ['report.json', 'index.html', ...figures.flatMap((n) => [`${n}.svg`, `${n}.csv`])]) t.true(fs.existsSync(path.join(out, f)), f);
  t.deepEqual(result.files.slice().sort(), fs.readdirSync(out).sort());

  // Three models that learned: a broken training stays near chance (0.1).
  t.deepEqual(report.models.map((m) => m.name), ['replknet-13', 'replknet-3', 'vit']);
  const floors = { 'replknet-13': 0.85, 'replknet-3': 0.85, vit: 0.4 };
  for (const m of report.models) {
    t.true(m.cleanAccuracy > floors[m.name], `${m.name} clean accuracy ${m.cleanAccuracy}`);
    t.is(m.history.length, report.settings.epochs);
    t.true(m.history[m.history.length - 1].trainLoss < m.history[0].trainLoss, `${m.name} loss falls`);
    t.is(m.history[m.history.length - 1].valAccuracy, m.cleanAccuracy, 'the last validation is the clean accuracy');
  }

  // Attack curves: start at the clean accuracy, PGD never above FGSM-free clean, PGD at the largest eps far below clean.
  const eps = report.settings.eps;
  for (const name of ['fgsm', 'pgd'])
    for (const { model, result } of report.figures[name].results) {
      const clean = report.models.find((m) => m.name === model).cleanAccuracy;
      t.deepEqual(result.points.map((p) => p.value), eps);
      t.is(result.points[0].accuracy, result.clean);
      for (const p of result.points) t.true(p.accuracy <= result.clean, `${name} ${model} eps ${p.value}`);
      t.true(result.points[result.points.length - 1].meanLinf <= eps[eps.length - 1] + 1e-6);
      if (name === 'pgd') t.true(result.points[result.points.length - 1].accuracy < 0.5 * clean, `PGD ${model} at eps ${eps[eps.length - 1]}`);
    }
  const pgdLast = report.figures.pgd.results.map((r) => r.result.points[r.result.points.length - 1].accuracy);
  const fgsmLast = report.figures.fgsm.results.map((r) => r.result.points[r.result.points.length - 1].accuracy);
  pgdLast.forEach((p, i) => t.true(p <= fgsmLast[i] + 0.05, 'PGD is at least about as strong as FGSM'));
  // Kernel distance: only the large-kernel model, and only its large kernels.
  const kd = report.figures['kernel-distance'].results;
  t.deepEqual(kd.map((r) => r.model), ['replknet-13']);
  t.true(kd[0].result.layers.every((l) => /large_kernel\.lkb_reparam/.test(l.key) && l.kernelSize[0] >= 7));
  t.is(report.summary.length, 3);

  // CSVs: the expected columns, one row per model and point.
  const csv = (n) => parseCsv(fs.readFileSync(path.join(out, `${n}.csv`), 'utf8'));
  t.deepEqual(csv('fgsm').header, ['model', 'eps', 'accuracy', 'drop', 'success_rate', 'mean_linf']);
  t.is(csv('pgd').rows.length, 3 * eps.length);
  t.deepEqual(csv('occlusion').header, ['model', 'ratio', 'accuracy', 'drop', 'patch_fraction']);
  t.is(csv('occlusion').rows.length, 3 * report.settings.occlusionRatios.length);
  t.deepEqual(csv('frequency').header, ['model', 'lo_pi', 'hi_pi', 'accuracy', 'drop']);
  t.deepEqual(csv('lesion').header, ['model', 'blocks', 'fraction', 'mean', 'min', 'max']);
  t.deepEqual(csv('training').header.slice(0, 3), ['model', 'epoch', 'train_loss']);
  t.is(csv('training').rows.length, 3 * report.settings.epochs);
  for (const n of ['fgsm', 'occlusion', 'frequency', 'lesion'])
    for (const row of csv(n).rows) t.true(row.slice(1).every((v) => Number.isFinite(Number(v))), `${n}: ${row}`);
  t.is(Number(csv('fgsm').rows[1][2]), report.figures.fgsm.results[0].result.points[1].accuracy);

  // index.html shows every figure, each a well-formed SVG with a data path, and nothing remote.
  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  const images = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]);
  t.deepEqual(images, figures.map((n) => `${n}.svg`));
  t.false(/(src|href)="(https?:)?\/\//.test(html), 'no remote resources');
  t.false(/<script/i.test(html));
  for (const img of images) {
    const svg = fs.readFileSync(path.join(out, img), 'utf8');
    t.is(checkXml(svg), null, img);
    t.regex(svg, /<path class="series" d="M[\d.]+,[\d.]+L/, `${img} has a data line`);
  }
  for (const m of report.models) t.true(html.includes(m.label));

  // The printed table names each model with its clean accuracy.
  const text = lines.join('\n');
  for (const m of report.models) t.regex(text, new RegExp(`${m.label.replace(/[()]/g, '.')}\\s+${m.parameters}\\s+${(100 * m.cleanAccuracy).toFixed(1)}%`));
  t.regex(text, /report: .*index\.html/);
});
