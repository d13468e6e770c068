// lkvit demo: the MNIST split, the padding and the shift augmentation against plain loops, and one
// --quick run end to end over its two seeds (files, figures, accuracies, the summary over seeds
// recomputed here from every seed's numbers), plus seeded determinism on tiny runs.
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
  t.true(
    counts.every((c) => c > 800 && c < 1200),
    `per-class counts ${counts}`,
  );
  let lo = Infinity,
    hi = -Infinity;
  for (const v of digits.pixels) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
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
          if (x.data[((n * 3 + c) * 32 + r) * 32 + col] !== want)
            return t.fail(`sample ${n} channel ${c} (${r}, ${col})`);
        }
  const split = mnistSplit({ seed: 3 });
  // 20% of each digit, rounded: 200 + 225 + 198 + 206 + 196 + 173 + 203 + 214 + 189 + 196.
  t.is(split.test.length, 2000);
  t.is(split.train.length, 8000);
  const b = await split.test.load(0, 2);
  t.deepEqual(
    [...b.y],
    [...split.testIndices.slice(0, 2)].map((i) => digits.labels[i]),
  );
  t.is(split.test.id(0), digits.ids[split.testIndices[0]]);
});

test('randomShift translates each sample by at most maxShift pixels with a zero fill', (t) => {
  const rng = new Rng(7);
  const [N, C, H, W] = [6, 2, 5, 7];
  const x = lk.tensor(
    Float32Array.from({ length: N * C * H * W }, (_, i) => 1 + (i % 97)),
    [N, C, H, W],
  );
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
            for (let col = 0; col < W && ok; col++)
              ok = at(y.data, n, c, r, col) === at(x.data, n, c, r - dy, col - dx);
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
  await t.throwsAsync(runDemo({ seeds: 0 }), { instanceOf: RangeError, message: /seeds must be a count/ });
  await t.throwsAsync(runDemo({ seeds: [1, 1] }), { instanceOf: RangeError, message: /distinct/ });
  await t.throwsAsync(runDemo({ seeds: [1, 2], seed: 3 }), { instanceOf: RangeError, message: /not both/ });
  await t.throwsAsync(runDemo({ settings: { eps: [0, 2] } }), { instanceOf: RangeError, message: /settings\.eps/ });
  await t.throwsAsync(runDemo({ settings: { epoch: 2 } }), { instanceOf: RangeError, message: /unknown setting/ });
  await t.throwsAsync(runDemo({ settings: { perturb: 'red' } }), {
    instanceOf: RangeError,
    message: /settings\.perturb must be 'grey' or 'rgb'/,
  });
  await t.throwsAsync(
    demoCommand(['--seed', '-1'], () => {}),
    { name: 'UsageError', message: /--seed/ },
  );
  await t.throwsAsync(
    demoCommand(['--seeds', '0'], () => {}),
    { name: 'UsageError', message: /--seeds/ },
  );
  await t.throwsAsync(
    demoCommand(['--perturb', 'cmyk'], () => {}),
    { name: 'UsageError', message: /--perturb must be 'grey' or 'rgb'/ },
  );
  await t.throwsAsync(
    demoCommand(['--epochs', '0'], () => {}),
    { name: 'UsageError', message: /--epochs/ },
  );
  await t.throwsAsync(
    demoCommand(['--fast'], () => {}),
    { name: 'UsageError', message: /unknown flag --fast/ },
  );
  const lines = [];
  await demoCommand(['--help'], (s) => lines.push(s));
  for (const flag of ['--out', '--quick', '--seeds', '--seed', '--perturb', '--epochs', '--json', '--quiet', '--help'])
    t.true(lines[0].includes(flag), flag);
  t.regex(lines[0], /--out VALUE\s.*\(default: lkvit-report\)/);
  t.regex(lines[0], /--seeds VALUE\s.*\(default: 4, --quick 2\)/);
  const file = path.join(tmp('file'), 'taken');
  fs.writeFileSync(file, 'x');
  await t.throwsAsync(runDemo({ out: file }), { message: /cannot write the report folder .*taken/ });
  await t.throwsAsync(
    demoCommand(['--out', file], () => {}),
    { name: 'UsageError', message: /--out .*is a file/ },
  );
  const aborted = { aborted: true };
  await t.throwsAsync(runDemo({ out: tmp('abort'), signal: aborted }), { name: 'AbortError' });
});

// Everything but the clock: timings, per-epoch and per-attack seconds, the environment.
function withoutTimes(v) {
  if (Array.isArray(v)) return v.map(withoutTimes);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !['seconds', 'trainSeconds', 'timings', 'environment'].includes(k))
        .map(([k, e]) => [k, withoutTimes(e)]),
    );
  return v;
}

const TINY = {
  trainSamples: 128,
  epochs: 1,
  batchSize: 32,
  testSamples: 40,
  noiseSamples: 20,
  attackSamples: 20,
  lesionSamples: 20,
  evalBatchSize: 20,
  eps: [0, 0.1],
  pgdSteps: 2,
  occlusionRatios: [0.5],
  frequencyBands: [0, 0.5],
  lesionTrials: 2,
};

test('each seed is its own run: the same seeds give the same report, a seed inside a list what it gives alone', async (t) => {
  const a = await runDemo({ out: tmp('a'), seeds: [0, 5], settings: TINY });
  const c = await runDemo({ out: tmp('c'), seed: 5, seeds: 1, settings: TINY });
  t.deepEqual(a.report.seeds, [0, 5]);
  t.deepEqual(c.report.seeds, [5]);
  // Seed 5 run alone and run second in a list: the same split, training and figures, to the last digit.
  t.deepEqual(withoutTimes(a.report.runs[1]), withoutTimes(c.report.runs[0]));
  t.deepEqual(
    withoutTimes(a.report.summary.find((r) => r.key === 'pgd').models.vit.values[1]),
    c.report.summary.find((r) => r.key === 'pgd').models.vit.values[0],
  );
  t.notDeepEqual(a.report.runs[0].firstTestIds, a.report.runs[1].firstTestIds);
  t.notDeepEqual(a.report.runs[0].models[0].history, a.report.runs[1].models[0].history);
  // --perturb rgb changes the attacks and the noise, not the training.
  const rgb = await runDemo({ out: tmp('rgb'), seed: 5, seeds: 1, settings: { ...TINY, perturb: 'rgb' } });
  t.deepEqual(withoutTimes(rgb.report.runs[0].models), withoutTimes(c.report.runs[0].models));
  t.is(rgb.report.runs[0].figures.frequency[0].result.channels, 'independent');
  t.is(c.report.runs[0].figures.frequency[0].result.channels, 'shared');
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
    if (stack.length === 0 && tok !== tokens.filter((s) => s.startsWith('<')).slice(-1)[0] && !m[1])
      return 'more than one root';
  }
  return stack.length ? `unclosed <${stack.join('><')}>` : null;
}

function parseCsv(text) {
  const [header, ...rows] = text
    .trim()
    .split('\n')
    .map((l) => l.split(','));
  return { header, rows };
}

const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;

test('lkvit demo --quick writes the report over two seeds with every figure, and the models learn', async (t) => {
  const dir = tmp('quick');
  const out = path.join(dir, 'report');
  const lines = [];
  await demoCommand(['--quick', '--quiet', '--out', out, '--json', path.join(dir, 'result.json')], (s) =>
    lines.push(s),
  );
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
  const charts = [
    'training',
    'fgsm',
    'pgd',
    'occlusion',
    'frequency',
    'frequency-clipped',
    'lesion',
    'kernel-distance',
  ];
  for (const f of [
    'report.json',
    'index.html',
    'summary.csv',
    'comparisons.csv',
    'noise.csv',
    ...charts.flatMap((n) => [`${n}.svg`, `${n}.csv`]),
  ])
    t.true(fs.existsSync(path.join(out, f)), f);
  t.deepEqual(result.files.slice().sort(), fs.readdirSync(out).sort());
  t.deepEqual(report.seeds, [0, 1]);
  t.is(report.runs.length, 2);
  t.is(report.settings.perturb, 'grey');

  // Three models that learned in every seed: a broken training stays near chance (0.1).
  t.deepEqual(
    report.models.map((m) => m.name),
    ['replknet-13', 'replknet-3', 'vit'],
  );
  // The ViT learns slowest: 2,000 digits for 3 epochs leave it near 40-50%, still far above a broken run's 10-20%.
  const floors = { 'replknet-13': 0.85, 'replknet-3': 0.85, vit: 0.3 };
  for (const run of report.runs)
    for (const m of run.models) {
      t.true(m.cleanAccuracy > floors[m.name], `seed ${run.seed} ${m.name} clean accuracy ${m.cleanAccuracy}`);
      t.is(m.history.length, report.settings.epochs);
      t.true(m.history[m.history.length - 1].trainLoss < m.history[0].trainLoss, `${m.name} loss falls`);
      t.is(m.history[m.history.length - 1].valAccuracy, m.cleanAccuracy, 'the last validation is the clean accuracy');
    }

  // Attack curves: start at the clean accuracy, never above it, PGD at the largest eps far below clean.
  const eps = report.settings.eps;
  for (const run of report.runs)
    for (const name of ['fgsm', 'pgd'])
      for (const { model, result } of run.figures[name]) {
        const clean = run.models.find((m) => m.name === model).cleanAccuracy;
        t.deepEqual(
          result.points.map((p) => p.value),
          eps,
        );
        t.is(result.points[0].accuracy, result.clean);
        for (const p of result.points) t.true(p.accuracy <= result.clean, `${name} ${model} eps ${p.value}`);
        t.true(result.points[result.points.length - 1].meanLinf <= eps[eps.length - 1] + 1e-6);
        if (name === 'pgd')
          t.true(
            result.points[result.points.length - 1].accuracy < 0.5 * clean,
            `PGD ${model} at eps ${eps[eps.length - 1]}`,
          );
      }
  // Noise: unclamped band noise has no zero frequency and the copies shared; the noise rows are there.
  for (const run of report.runs) {
    for (const f of ['frequency', 'frequency-clipped'])
      for (const { result } of run.figures[f])
        t.deepEqual([result.channels, result.zeroFrequency, result.clip], ['shared', false, f === 'frequency-clipped']);
    for (const { result } of run.figures.noise)
      t.deepEqual(
        result.rows.map((r) => `${r.kind} ${r.clip}`),
        ['white false', 'white true', 'brightness false', 'brightness true'],
      );
  }
  // Kernel distance: only the large-kernel model, and only its large kernels.
  const kd = report.runs[0].figures['kernel-distance'];
  t.deepEqual(
    kd.map((r) => r.model),
    ['replknet-13'],
  );
  t.true(kd[0].result.layers.every((l) => /large_kernel\.lkb_reparam/.test(l.key) && l.kernelSize[0] >= 7));

  // The summary over seeds, recomputed from every seed's numbers.
  const row = (key) => report.summary.find((r) => r.key === key);
  for (const m of report.models) {
    const clean = report.runs.map((run) => run.models.find((e) => e.name === m.name).cleanAccuracy);
    t.deepEqual(row('clean').models[m.name].values, clean);
    t.is(row('clean').models[m.name].mean, mean(clean));
    t.is(row('clean').models[m.name].min, Math.min(...clean));
    const pgd = report.runs.map(
      (run) =>
        run.figures.pgd
          .find((r) => r.model === m.name)
          .result.points.find((p) => p.value === report.settings.headlineEps).accuracy,
    );
    t.deepEqual(row('pgd').models[m.name].values, pgd);
    const worst = report.runs.map((run) =>
      Math.min(...run.figures.frequency.find((r) => r.model === m.name).result.bands.map((b) => b.accuracy)),
    );
    t.deepEqual(row('worstBand').models[m.name].values, worst);
  }
  t.is(row('kernelDistance').models.vit, null);
  // The 13x13 - 3x3 comparison of clean accuracy: with 2 seeds the t-test has 1 degree of freedom (Cauchy).
  const c = report.comparisons.find((e) => e.measure === 'clean' && e.a === 'replknet-13' && e.b === 'replknet-3');
  const d = report.runs.map((run) => 100 * (run.models[0].cleanAccuracy - run.models[1].cleanAccuracy));
  t.true(Math.abs(c.meanDiff - mean(d)) < 1e-9);
  const se = Math.abs(d[0] - d[1]) / 2;
  if (se > 0) t.true(Math.abs(c.p - (1 - (2 * Math.atan(Math.abs(mean(d)) / se)) / Math.PI)) < 1e-9, `p ${c.p}`);
  t.is(c.shown, c.p < 0.05);
  t.is(report.comparisons.length, 3 * 11, 'every pair on every measure but the kernel distance');
  t.true(report.conclusion.length >= 4);
  t.regex(report.conclusion.join(' '), /says nothing about the study's ImageNet-scale claims/);

  // CSVs: a seed column, one row per model, seed and point, no float noise.
  const csv = (n) => parseCsv(fs.readFileSync(path.join(out, `${n}.csv`), 'utf8'));
  t.deepEqual(csv('fgsm').header, ['model', 'seed', 'eps', 'accuracy', 'drop', 'success_rate', 'mean_linf']);
  t.is(csv('pgd').rows.length, 2 * 3 * eps.length);
  t.deepEqual(csv('occlusion').header, ['model', 'seed', 'ratio', 'accuracy', 'drop', 'patch_fraction']);
  t.deepEqual(csv('frequency').header, ['model', 'seed', 'lo_pi', 'hi_pi', 'accuracy', 'drop']);
  t.is(csv('frequency').rows.length, 2 * 3 * report.settings.frequencyBands.length);
  t.deepEqual(csv('lesion').header, ['model', 'seed', 'blocks', 'fraction', 'mean', 'min', 'max']);
  t.deepEqual(csv('training').header.slice(0, 4), ['model', 'seed', 'epoch', 'train_loss']);
  t.is(csv('training').rows.length, 2 * 3 * report.settings.epochs);
  t.deepEqual(csv('summary').header, ['measure', 'label', 'model', 'unit', 'mean', 'min', 'max', 'per_seed']);
  for (const n of ['fgsm', 'occlusion', 'frequency', 'lesion', 'training'])
    for (const row of csv(n).rows) {
      t.true(
        row.slice(1).every((v) => v === '' || Number.isFinite(Number(v))),
        `${n}: ${row}`,
      );
      // At most 6 significant digits: 0.3, never 0.30000000000000004.
      t.true(
        row.slice(1).every(
          (v) =>
            v
              .replace(/e.*$/, '')
              .replace(/^-?0?\.?0*/, '')
              .replace('.', '').length <= 6,
        ),
        `${n}: no float noise in ${row}`,
      );
    }
  t.deepEqual(csv('fgsm').rows[0].slice(0, 3), ['replknet-13', '0', '0']);

  // index.html shows every chart, each a well-formed SVG with a data path, the conclusion and the definitions; nothing remote.
  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  const images = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]);
  t.deepEqual(
    images,
    charts.map((n) => `${n}.svg`),
  );
  t.false(/(src|href)="(https?:)?\/\//.test(html), 'no remote resources');
  t.false(/<script/i.test(html));
  for (const img of images) {
    const svg = fs.readFileSync(path.join(out, img), 'utf8');
    t.is(checkXml(svg), null, img);
    t.regex(svg, /<path class="series" d="M[\d.]+,[\d.]+L/, `${img} has a data line`);
    if (img !== 'kernel-distance.svg') t.regex(svg, /class="error-bar"/, `${img} shows the spread over seeds`);
  }
  t.regex(fs.readFileSync(path.join(out, 'kernel-distance.svg'), 'utf8'), />13x13 kernels, stage 1</);
  t.regex(fs.readFileSync(path.join(out, 'lesion.svg'), 'utf8'), />Residual blocks removed \(of 4\)</);
  for (const m of report.models) t.true(html.includes(m.label));
  for (const p of report.conclusion)
    t.true(
      html.includes(p.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')),
      'the conclusion is in index.html',
    );
  t.regex(html, /zero frequency/);

  // The printed table: each model's clean accuracy as mean (min–max), and the verdict of the 13x13 - 3x3 comparison.
  const text = lines.join('\n');
  const cleanLine = text.split('\n').find((l) => l.startsWith('clean '));
  const pct = (v) => (100 * v).toFixed(1);
  for (const m of report.models) {
    const s = row('clean').models[m.name];
    t.true(cleanLine.includes(`${pct(s.mean)} (${pct(s.min)}–${pct(s.max)})`), `${m.name} in ${cleanLine}`);
  }
  t.regex(cleanLine, c.shown ? /13x13 (higher|lower)/ : /no difference shown/);
  t.regex(text, /report: .*index\.html/);
});
