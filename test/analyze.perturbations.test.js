// lkvit analyze perturbations (lk.analyses.perturbationViews): the per-image normalisation against
// plain float64 loops, the input gradient against a central difference of the cross-entropy
// computed here from the logits, the PGD perturbation within its ball, the PNG grid decoded by
// lk.loadImage (no resize, no crop) cell by cell, the HTML page's references, and the command's flag errors.
// Serial: runCli swaps process.stderr.write while a command runs.
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const lk = require('../lib');
const { runCli } = require('./cli_run');

const tmp = (name) => fs.mkdtempSync(path.join(os.tmpdir(), `lkvit-perturbations-${name}-`));
const CONFIG = {
  kernelSizes: [5, 3],
  layers: [1, 1],
  channels: [8, 16],
  smallKernel: null,
  dwRatio: 1,
  ffnRatio: 2,
  numClasses: 4,
  stemStride: 2,
};
const tiny = (seed) => {
  lk.manualSeed(seed);
  return lk.createModel('replknet31b', CONFIG);
};
const N = 3,
  S = 16;
const rng = new lk.Rng(7);
const x = lk.tensor(
  Float32Array.from({ length: N * 3 * S * S }, () => rng.uniform()),
  [N, 3, S, S],
);
const y = Int32Array.from([0, 3, 1]);
const data = lk.tensorDataset(x, y);

// Independent references: float64 loops over one image's values.
const minmax = (v) => {
  let lo = Infinity,
    hi = -Infinity;
  for (const e of v) {
    lo = Math.min(lo, e);
    hi = Math.max(hi, e);
  }
  return Array.from(v, (e) => (hi > lo ? (e - lo) / (hi - lo) : 0.5));
};
const symmetric = (v) => {
  let m = 0;
  for (const e of v) m = Math.max(m, Math.abs(e));
  return Array.from(v, (e) => (m > 0 ? 0.5 + e / (2 * m) : 0.5));
};

test('normalizeMap: minmax and symmetric equal the plain formulas; constant maps are grey; each image on its own', (t) => {
  const r = new lk.Rng(1);
  const v = Float32Array.from({ length: 300 }, () => (r.uniform() - 0.3) * 1e-3);
  const close = (a, b) => a.every((e, i) => Math.abs(e - b[i]) < 1e-6);
  const a = lk.analyses.normalizeMap(v, 'minmax');
  t.true(close(a, minmax(v)));
  t.is(Math.min(...a), 0);
  t.is(Math.max(...a), 1);
  const s = lk.analyses.normalizeMap(v, 'symmetric');
  t.true(close(s, symmetric(v)));
  // Zero is grey, and the largest |v| touches 0 or 1.
  t.true(Math.abs(lk.analyses.normalizeMap([0, 2, -1], 'symmetric')[0] - 0.5) < 1e-7);
  t.deepEqual(Array.from(lk.analyses.normalizeMap([0, 2, -1], 'symmetric')), [0.5, 1, 0.25]);
  t.deepEqual(Array.from(lk.analyses.normalizeMap(new Float32Array(5).fill(3))), [0.5, 0.5, 0.5, 0.5, 0.5]);
  t.deepEqual(Array.from(lk.analyses.normalizeMap(new Float32Array(4), 'symmetric')), [0.5, 0.5, 0.5, 0.5]);
  // Two images: scaling the second by 100 leaves both normalised maps unchanged.
  const two = lk.tensor(Float32Array.from([...v.slice(0, 12), ...v.slice(12, 24).map((e) => 100 * e)]), [2, 3, 2, 2]);
  const n = lk.analyses.normalizeMaps(two).data;
  t.true(close(n.slice(0, 12), minmax(v.slice(0, 12))));
  t.true(close(n.slice(12), minmax(v.slice(12, 24))));
});

const crossEntropy = (model, images, n) => {
  const logits = model.forward(images).data,
    K = CONFIG.numClasses;
  const row = Array.from(logits.slice(n * K, (n + 1) * K), Number);
  const m = Math.max(...row);
  return Math.log(row.reduce((s, l) => s + Math.exp(l - m), 0)) + m - row[y[n]];
};

test('perturbationViews: the gradient is the derivative of the cross-entropy, the perturbation stays in the eps ball', async (t) => {
  const model = tiny(1);
  const r = await lk.analyses.perturbationViews(model, data, { samples: N, eps: 4 / 255, steps: 3 });
  t.is(r.samples, N);
  t.deepEqual(r.labels, [0, 3, 1]);
  const [view] = r.models;
  t.deepEqual(view.gradient.shape, [N, 3, S, S]);
  const D = 3 * S * S;
  for (let n = 0; n < N; n++) {
    // The perturbation: within eps (float tolerance), and x + delta in [0, 1].
    for (let i = n * D; i < (n + 1) * D; i++) {
      t.true(Math.abs(view.perturbation.data[i]) <= 4 / 255 + 1e-6);
      const adv = x.data[i] + view.perturbation.data[i];
      t.true(adv >= -1e-6 && adv <= 1 + 1e-6);
    }
    // Directional derivative along the gradient: (L(x + h u) - L(x - h u)) / 2h = |g| for u = g / |g|.
    const g = view.gradient.data.slice(n * D, (n + 1) * D);
    const norm = Math.sqrt(g.reduce((s, e) => s + e * e, 0));
    t.true(norm > 0);
    const h = 1e-2;
    const shifted = (sign) => {
      const d = x.data.slice();
      for (let i = 0; i < D; i++) d[n * D + i] += (sign * h * g[i]) / norm;
      return crossEntropy(model, lk.tensor(d, x.shape), n);
    };
    const numeric = (shifted(1) - shifted(-1)) / (2 * h);
    t.true(
      Math.abs(numeric - norm) < 0.05 * norm + 1e-4,
      `sample ${n}: central difference ${numeric}, |gradient| ${norm}`,
    );
  }
});

test("the PNG grid decodes to its size, cell by cell: image, then each model's normalised perturbation and gradient", async (t) => {
  const dir = tmp('api');
  const models = [
    { label: 'robust', model: tiny(1) },
    { label: 'standard', model: tiny(2) },
  ];
  const r = await lk.analyses.perturbationViews(models, data, {
    samples: N,
    eps: 8 / 255,
    steps: 2,
    normalization: 'symmetric',
  });
  const files = await lk.analyses.writePerturbationViews(dir, r, {}, { gap: 2 });
  t.deepEqual(files.sort(), ['perturbations.html', 'perturbations.json', 'perturbations.png']);
  // 16-pixel images are enlarged 6 times (cells of 96 pixels), 2 pixels apart.
  const cell = 96,
    gap = 2,
    cols = 5;
  const img = await lk.loadImage(path.join(dir, 'perturbations.png'), { resize: null, crop: null });
  t.deepEqual(img.shape, [3, N * cell + (N + 1) * gap, cols * cell + (cols + 1) * gap]);
  const [, H, W] = img.shape;
  const pixel = (row, col, i, j, c) =>
    Math.round(
      255 * img.data[(c * H + gap + row * (cell + gap) + i * 6 + 3) * W + gap + col * (cell + gap) + j * 6 + 3],
    );
  const D = 3 * S * S;
  const maps = [
    (n) => Array.from(x.data.slice(n * D, (n + 1) * D)),
    (n) => symmetric(r.models[0].perturbation.data.slice(n * D, (n + 1) * D)),
    (n) => symmetric(r.models[0].gradient.data.slice(n * D, (n + 1) * D)),
    (n) => symmetric(r.models[1].perturbation.data.slice(n * D, (n + 1) * D)),
    (n) => symmetric(r.models[1].gradient.data.slice(n * D, (n + 1) * D)),
  ];
  let checked = 0;
  for (let row = 0; row < N; row++)
    for (let col = 0; col < cols; col++) {
      const map = maps[col](row);
      for (const [i, j] of [
        [0, 0],
        [5, 11],
        [15, 15],
      ])
        for (let c = 0; c < 3; c++, checked++)
          t.is(
            pixel(row, col, i, j, c),
            Math.round(255 * map[(c * S + i) * S + j]),
            `row ${row} column ${col} pixel ${i},${j} channel ${c}`,
          );
    }
  t.is(checked, N * cols * 9);
  // The gaps are white.
  t.is(Math.round(255 * img.data[0]), 255);
  const html = fs.readFileSync(path.join(dir, 'perturbations.html'), 'utf8');
  t.regex(html, /<img src="perturbations\.png" width="\d+" height="\d+"/);
  t.regex(html, /href="perturbations\.json"/);
  for (const label of ['robust: perturbation', 'robust: gradient', 'standard: perturbation', 'standard: gradient'])
    t.true(html.includes(label), label);
  t.regex(html, /zero at mid-grey/);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'perturbations.json'), 'utf8'));
  t.deepEqual(json.result.columns, [
    'image',
    'robust: perturbation',
    'robust: gradient',
    'standard: perturbation',
    'standard: gradient',
  ]);
  t.deepEqual(json.result.models[1].cleanPred, r.models[1].cleanPred);
});

test('perturbationViews: bad arguments name the argument', async (t) => {
  const model = tiny(1);
  await t.throwsAsync(lk.analyses.perturbationViews(model, data, { normalization: 'zscore' }), {
    message: /normalization must be 'minmax' or 'symmetric', got "zscore"/,
  });
  await t.throwsAsync(lk.analyses.perturbationViews(model, data, { eps: -1 }), {
    message: /eps must be a finite number > 0/,
  });
  await t.throwsAsync(lk.analyses.perturbationViews(model, data, { sample: 2 }), {
    message: /unknown option\(s\) sample/,
  });
  await t.throwsAsync(lk.analyses.perturbationViews([{ model }], data), {
    message: /models\[0\] must be \{ label: string, model \}/,
  });
  await t.throwsAsync(lk.analyses.perturbationViews({}, data), { message: /model must be an ImageClassifier/ });
});

test.serial('lkvit analyze perturbations: two checkpoints side by side, and its flag errors', async (t) => {
  const dir = tmp('cli');
  const input = path.join(dir, 'x.safetensors');
  lk.writeSafetensors(input, { x: { shape: x.shape, data: x.data }, y: { shape: [N], data: Float32Array.from(y) } });
  const a = path.join(dir, 'a.safetensors'),
    b = path.join(dir, 'b.safetensors');
  lk.saveWeights(tiny(1), a);
  lk.saveWeights(tiny(2), b);
  const out = path.join(dir, 'views');
  const base = ['analyze', 'perturbations', '--weights', a, '--input', input];
  const r = await runCli([
    ...base,
    '--compare-weights',
    b,
    '--compare',
    'replknet31b',
    '--labels',
    'robust,standard',
    '--out',
    out,
    '--limit',
    '2',
    '--eps',
    '8/255',
    '--steps',
    '2',
    '--quiet',
  ]);
  t.is(r.code, 0, r.err);
  t.regex(
    r.out,
    /perturbations: 2 samples, PGD eps 0\.03137 \(robust: \d\/2 predictions changed; standard: \d\/2 predictions changed\)/,
  );
  const img = await lk.loadImage(path.join(out, 'perturbations.png'), { resize: null, crop: null });
  t.deepEqual(img.shape, [3, 2 * 96 + 3 * 2, 5 * 96 + 6 * 2]);
  t.regex(fs.readFileSync(path.join(out, 'perturbations.html'), 'utf8'), /src="perturbations\.png"/);
  const cases = [
    [[...base, '--out', out, '--compare', 'replknet31b'], /--compare and --compare-weights go together/],
    [[...base, '--out', out, '--normalize', 'zscore'], /--normalize must be .*minmax.*symmetric.*got 'zscore'/],
    [[...base, '--out', out, '--labels', 'a,b'], /--labels must give 1 non-empty label/],
    [[...base, '--out', out, '--eps', '-1'], /--eps must be a positive number or fraction/],
    [[...base, '--json', path.join(dir, 'r.json')], /perturbations needs --out DIR/],
    [[...base, '--out', out, '--shard', '1/2'], /perturbations does not take --shard/],
    [
      ['analyze', 'occlusion', '--weights', a, '--input', input, '--out', out, '--normalize', 'minmax'],
      /--normalize applies to perturbations/,
    ],
  ];
  for (const [argv, pattern] of cases) {
    const e = await runCli(argv);
    t.is(e.code, 2, argv.join(' '));
    t.regex(e.err, pattern, argv.join(' '));
  }
});
