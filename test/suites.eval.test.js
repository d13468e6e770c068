// evaluateSuite on synthetic folder trees in the published layouts (tiny solid-colour PNGs), with a
// function model whose prediction the colour sets; each report is checked against figures computed here
// from the model's own logits. Plus resuming, and the CLI's errors.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const sharp = require('sharp');
const lk = require('..');
const { evaluateSuite } = require('../lib/suites/imagenet');
const classes = require('../lib/suites/classes');
const { evalCommand } = require('../lib/cli/eval');

const K = 1000;
const W = classes.IMAGENET_WNIDS;

// Logits peak at class r + 256 * g of the first pixel (bytes), with a blue-dependent ripple for variety.
function colourModel(x) {
  const [N, , H, Wd] = x.shape;
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const px = (c) => Math.round(x.data[(n * 3 + c) * H * Wd] * 255);
    const centre = (px(0) + 256 * px(1)) % K,
      b = px(2);
    for (let k = 0; k < K; k++) out[n * K + k] = -Math.abs(k - centre) / 10 + 0.05 * ((k * b) % 13);
  }
  return lk.tensor(out, [N, K]);
}
const colourOf = (cls, b = 0) => ({ r: cls % 256, g: Math.floor(cls / 256), b });

async function png(file, { r, g, b }, size = 20) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } })
    .png()
    .toFile(file);
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-suites-'));

/** Logits of image files as the suite sees them (crop 16, after resize 18 for the photo suites). */
async function logitsOf(files, photo) {
  const b = await lk.loadImageBatch(files, photo ? { resize: 18, crop: 16 } : { resize: null, crop: 16 });
  return colourModel(lk.tensor(b.data, b.shape));
}
const row = (logits, i) => Array.from(logits.data.subarray(i * K, (i + 1) * K));
const rankDesc = (values) => values.map((v, i) => i).sort((a, b) => values[b] - values[a] || a - b);
const figure = (report, subset, cls, metric) =>
  report.figures.find((f) => f.subset === subset && f.class === cls && f.metric === metric);
const OPTS = { crop: 16, resize: 18, batchSize: 3 };

test('imagenet val: top-1 / top-5 overall and per class, JSON and CSV written', async (t) => {
  const root = tmp(),
    out = tmp();
  // Class 1: predicted 1 and 2 (top-5 either way); class 2: predicted 900 (wrong), and 2.
  const plan = [
    [1, 1, 'a'],
    [1, 2, 'b'],
    [2, 900, 'c'],
    [2, 2, 'd'],
  ];
  for (const [cls, pred, name] of plan) await png(path.join(root, W[cls], `${name}.png`), colourOf(pred, 7));
  await png(path.join(root, 'not_a_wnid', 'x.png'), colourOf(5));
  const report = await evaluateSuite(colourModel, { suite: 'imagenet', data: root, out, modelName: 'colour', ...OPTS });
  const files = plan.map(([cls, , name]) => path.join(root, W[cls], `${name}.png`));
  const logits = await logitsOf(files, true);
  const hits = plan.map(([cls], i) => rankDesc(row(logits, i)).indexOf(cls));
  t.is(report.summary.top1, hits.filter((h) => h === 0).length / 4);
  t.is(report.summary.top5, hits.filter((h) => h < 5).length / 4);
  t.is(figure(report, 'val', W[2], 'top1').value, hits.slice(2).filter((h) => h === 0).length / 2);
  t.is(figure(report, 'val', W[2], 'top1').count, 2);
  t.is(report.samples, 4);
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')), report);
  const csv = fs.readFileSync(path.join(out, 'report.csv'), 'utf8').trim().split('\n');
  t.is(csv[0], 'subset,class,metric,value,count');
  const f2 = figure(report, 'val', W[2], 'top1');
  t.true(csv.includes(`val,${W[2]},top1,${f2.value},2`), csv.join('\n'));
  t.is(report.model.name, 'colour');
});

test('imagenet-a: top-1 among the 200 classes only; other folders ignored', async (t) => {
  const root = tmp();
  const A = classes.IMAGENET_A_WNIDS,
    cols = classes.subsetIndices(A);
  // A[0] is class 6; predicting class 5 (not in A) must fall to the nearest A class by logit.
  const plan = [
    [0, cols[0]],
    [0, 5],
    [1, cols[1]],
    [1, 900],
  ];
  const files = [];
  for (const [i, [a, pred]] of plan.entries()) {
    files.push(path.join(root, A[a], `${i}.png`));
    await png(files[i], colourOf(pred));
  }
  await png(path.join(root, W[0], 'x.png'), colourOf(0)); // tench is not an ImageNet-A class
  const report = await evaluateSuite(colourModel, { suite: 'imagenet-a', data: root, ...OPTS });
  const logits = await logitsOf(files, true);
  const correct = plan.map(([a], i) => {
    const r = row(logits, i);
    return rankDesc(cols.map((c) => r[c]))[0] === a;
  });
  t.is(report.samples, 4);
  t.is(report.summary.top1, correct.filter(Boolean).length / 4);
  t.true(correct[1], 'class 5 is nearest to A class 6 among the 200');
  t.false(correct[3]);
});

test('imagenet-o: AUPR / AUROC / FPR95 with ImageNet-O as positives, scored by minus the max softmax over its 200', async (t) => {
  const root = tmp(),
    val = tmp();
  const O = classes.IMAGENET_O_WNIDS,
    cols = classes.subsetIndices(O);
  const oFiles = [],
    vFiles = [];
  for (const [i, pred] of [500, 3, 77, 640].entries()) {
    oFiles.push(path.join(root, O[i % 2], `${i}.png`));
    await png(oFiles[i], colourOf(pred, i * 40));
  }
  for (const [i, pred] of [cols[0], cols[1], 300, cols[2]].entries()) {
    vFiles.push(path.join(val, O[i % 2], `${i}.png`));
    await png(vFiles[i], colourOf(pred, 200));
  }
  await png(path.join(val, W[0], 'x.png'), colourOf(0)); // not an ImageNet-O class: not in-distribution
  const report = await evaluateSuite(colourModel, { suite: 'imagenet-o', data: root, inDistribution: val, ...OPTS });
  const score = async (files) => {
    const logits = await logitsOf(files, true);
    return files.map((_, i) => {
      const z = cols.map((c) => row(logits, i)[c]);
      const mx = Math.max(...z);
      return -1 / z.reduce((s, v) => s + Math.exp(v - mx), 0);
    });
  };
  const pos = await score(oFiles),
    neg = await score(vFiles);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  t.true(Math.abs(report.summary.auroc - wins / 16) < 1e-6);
  const all = [...pos.map((s) => [s, 1]), ...neg.map((s) => [s, 0])];
  let ap = 0;
  for (const [s, p] of all)
    if (p) {
      const above = all.filter(([v]) => v >= s);
      ap += above.filter(([, q]) => q).length / above.length;
    }
  t.true(Math.abs(report.summary.aupr - ap / 4) < 1e-6, `${report.summary.aupr} vs ${ap / 4}`);
  t.true(report.summary.fpr95 >= 0 && report.summary.fpr95 <= 1);
  t.is(report.samples, 8);
  await t.throwsAsync(evaluateSuite(colourModel, { suite: 'imagenet-o', data: root, ...OPTS }), {
    instanceOf: RangeError,
    message: /inDistribution/,
  });
});

test('imagenet-c: errors per severity, CE against AlexNet, extras unnormalised, top-1 at a severity; and resuming', async (t) => {
  const root = tmp();
  // gaussian_noise: severity s has s-1 wrong of 4; speckle_noise only at severity 5 (all right).
  for (let s = 1; s <= 5; s++)
    for (let i = 0; i < 4; i++)
      await png(path.join(root, 'gaussian_noise', String(s), W[i], 'img.png'), colourOf(i < s - 1 ? 999 : i));
  for (let i = 0; i < 2; i++) await png(path.join(root, 'speckle_noise', '5', W[i], 'img.png'), colourOf(i));
  const report = await evaluateSuite(colourModel, { suite: 'imagenet-c', data: root, ...OPTS, severity: 5 });
  const errors = [0, 1, 2, 3, 4].map((w) => w / 4);
  errors.forEach((e, s) => t.is(figure(report, `gaussian_noise/${s + 1}`, null, 'error').value, e));
  t.true(
    Math.abs(figure(report, 'gaussian_noise', null, 'CE').value - (0 + 0.25 + 0.5 + 0.75 + 1) / (5 * 0.886428)) < 1e-12,
  );
  t.is(figure(report, 'speckle_noise', null, 'meanError').value, 0);
  t.is(figure(report, 'speckle_noise', null, 'CE'), undefined);
  t.is(report.summary.mCE, null, 'mCE needs all 15 corruptions');
  t.is(report.summary.meanTop1AtSeverity5, (0 + 1) / 2);
  t.is(report.summary.corruptionsAtSeverity, 2);
  t.is(figure(report, 'gaussian_noise', W[0], 'error').value, 4 / 5); // class 0 wrong at severities 2..5

  // Interrupted by a limit, then by an abort signal, then finished: the same report as in one go.
  const out = tmp();
  let calls = 0;
  const counted = (x) => {
    calls += x.shape[0];
    return colourModel(x);
  };
  await evaluateSuite(counted, { suite: 'imagenet-c', data: root, out, ...OPTS, limit: 1 });
  t.is(calls, 6);
  const controller = new AbortController();
  await t.throwsAsync(
    evaluateSuite(counted, {
      suite: 'imagenet-c',
      data: root,
      out,
      ...OPTS,
      signal: controller.signal,
      onProgress: (done) => {
        if (done > 6) controller.abort();
      },
    }),
    { name: 'AbortError' },
  );
  const before = calls;
  const resumed = await evaluateSuite(counted, { suite: 'imagenet-c', data: root, out, ...OPTS });
  t.is(calls - before, 22 - (before - 0), 'only the samples not yet done are run');
  t.deepEqual(resumed, report);
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')), report);
  // Another suite (or model) in the same out folder is refused.
  await t.throwsAsync(evaluateSuite(counted, { suite: 'imagenet-c', data: root, out, ...OPTS, modelName: 'other' }), {
    instanceOf: RangeError,
    message: /another run/,
  });
});

test('imagenet-p: flip probability and top-5 distance per perturbation and difficulty, normalised by a baseline', async (t) => {
  const root = tmp();
  // Two videos per perturbation, 5 frames each, predictions chosen per frame.
  const videos = {
    gaussian_noise_2: [
      [1, 1, 2, 1, 3],
      [4, 4, 4, 4, 4],
    ],
    brightness: [
      [5, 6, 5, 5, 6],
      [7, 7, 8, 8, 7],
    ],
  };
  const frameFiles = {};
  for (const [pert, vids] of Object.entries(videos)) {
    frameFiles[pert] = [];
    for (const [v, preds] of vids.entries()) {
      const dir = path.join(root, pert, W[v], `vid${v}`);
      frameFiles[pert].push(preds.map((_, f) => path.join(dir, `${String(f).padStart(3, '0')}.png`)));
      for (const [f, p] of preds.entries()) await png(frameFiles[pert][v][f], colourOf(p, 10 * f));
    }
  }
  const baseline = {
    flipProbability: { gaussian_noise: 0.5, brightness: 0.25 },
    top5Distance: { gaussian_noise: 2, brightness: 4 },
  };
  const report = await evaluateSuite(colourModel, { suite: 'imagenet-p', data: root, ...OPTS, batchSize: 8, baseline });
  // Reference: predictions and full rankings from the logits, pairs as ImageNet-P/test.py walks them.
  const measure = async (pert, noise, d) => {
    let fp = 0,
      t5 = 0;
    for (const files of frameFiles[pert]) {
      const logits = await logitsOf(files, false);
      const orders = files.map((_, f) => rankDesc(row(logits, f)));
      const pairs = [];
      const step = noise ? 1 : d;
      for (let i = 0; i < step; i++)
        for (let j = i + step, prev = i; j < files.length; j += step) {
          pairs.push([prev, j]);
          if (!noise) prev = j;
        }
      fp += pairs.filter(([a, b]) => orders[a][0] !== orders[b][0]).length / pairs.length / 2;
      const dist = ([a, b]) => {
        let s = 0;
        for (let k = 0; k < 5; k++) s += Math.abs(k - Math.min(orders[b].indexOf(orders[a][k]), 5));
        return s;
      };
      t5 += pairs.map(dist).reduce((x, y) => x + y, 0) / pairs.length / 2;
    }
    return { fp, t5 };
  };
  const noise = await measure('gaussian_noise_2', true, 2);
  t.true(Math.abs(figure(report, 'gaussian_noise/d2', null, 'flipProbability').value - noise.fp) < 1e-12);
  t.true(Math.abs(figure(report, 'gaussian_noise', null, 'top5Distance').value - noise.t5) < 1e-12);
  const bright = await Promise.all([1, 2, 3].map((d) => measure('brightness', false, d)));
  bright.forEach((m, i) =>
    t.true(Math.abs(figure(report, `brightness/d${i + 1}`, null, 'flipProbability').value - m.fp) < 1e-12),
  );
  const brightFp = bright.reduce((s, m) => s + m.fp, 0) / 3,
    brightT5 = bright.reduce((s, m) => s + m.t5, 0) / 3;
  t.true(Math.abs(figure(report, 'brightness', null, 'flipRate').value - brightFp / 0.25) < 1e-12);
  t.true(Math.abs(report.summary.mFR - (noise.fp / 0.5 + brightFp / 0.25) / 2) < 1e-12);
  t.true(Math.abs(report.summary.mT5D - (noise.t5 / 2 + brightT5 / 4) / 2) < 1e-12);
  t.is(report.samples, 4);
  await t.throwsAsync(
    evaluateSuite(colourModel, {
      suite: 'imagenet-p',
      data: root,
      ...OPTS,
      baseline: { flipProbability: { brightness: 1 } },
    }),
    { instanceOf: RangeError, message: /gaussian_noise/ },
  );
});

test('imagenet-9: 1000-way predictions mapped to the 9 classes, unmapped wrong, BG-Gap', async (t) => {
  const root = tmp();
  const dogClass = 207,
    insectClass = classes.IN_TO_IN9.indexOf(5),
    unmapped = 999;
  const plan = {
    original: [[dogClass, insectClass]],
    mixed_same: [[dogClass, unmapped]],
    mixed_rand: [[unmapped, unmapped]],
  };
  for (const [variant, [[dogPred, insectPred]]] of Object.entries(plan)) {
    await png(path.join(root, variant, 'val', '00_dog', 'a.png'), colourOf(dogPred));
    await png(path.join(root, variant, 'val', '05_insect', 'b.png'), colourOf(insectPred));
  }
  const report = await evaluateSuite(colourModel, { suite: 'imagenet-9', data: root, ...OPTS });
  t.deepEqual(report.summary, { original: 1, mixed_same: 0.5, mixed_rand: 0, bgGap: 0.5 });
  t.is(figure(report, 'mixed_same', '05_insect', 'top1').value, 0);
});

test('a tiny ViT (ImageClassifier): crop defaults to its input size; logits match a direct forward pass', async (t) => {
  lk.manualSeed(5);
  const model = lk.createModel('vit_ti16', {
    imageSize: 16,
    patchSize: 8,
    depth: 1,
    embedDim: 8,
    numHeads: 2,
    numClasses: 1000,
  });
  const root = tmp();
  const files = [path.join(root, W[3], 'a.png'), path.join(root, W[4], 'b.png')];
  await png(files[0], colourOf(3, 9), 24);
  await png(files[1], colourOf(70, 200), 30);
  const report = await evaluateSuite(model, { suite: 'imagenet', data: root });
  t.is(report.settings.crop, 16);
  t.is(report.settings.resize, 18);
  const b = await lk.loadImageBatch(files, { resize: 18, crop: 16 });
  const logits = lk.noGrad(() => model.forward(lk.tensor(b.data, b.shape)));
  const ranks = [3, 4].map((c, i) => rankDesc(row(logits, i)).indexOf(c));
  t.is(report.summary.top5, ranks.filter((r) => r < 5).length / 2);
});

test('eval command: a checkpoint end to end, and one-line usage errors', async (t) => {
  lk.manualSeed(2);
  const config = { layers: [1, 1, 1, 1], widths: [4, 4, 4, 4], stemWidth: 4, numClasses: 1000 };
  const dir = tmp(),
    root = tmp(),
    out = path.join(dir, 'out');
  const weights = path.join(dir, 'w.safetensors');
  lk.saveWeights(lk.createModel('resnet50', config), weights);
  for (const s of [1, 2]) await png(path.join(root, 'fog', String(s), W[1], 'a.png'), colourOf(1));
  const lines = [];
  const base = ['--model', 'resnet50', '--weights', weights, '--config', JSON.stringify(config), '--crop', '16'];
  await evalCommand(
    ['--suite', 'imagenet-c', '--data', root, '--out', out, '--json', path.join(dir, 'r.json'), ...base],
    (s) => lines.push(s),
  );
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'r.json'), 'utf8'));
  t.is(report.samples, 2);
  t.is(
    report.model.weightsSha256,
    require('crypto').createHash('sha256').update(fs.readFileSync(weights)).digest('hex'),
  );
  t.true(fs.existsSync(path.join(out, 'report.csv')));
  t.true(lines.some((l) => l.includes('meanTop1AtSeverity5')));

  const usage = async (argv, pattern) => {
    const e = await t.throwsAsync(evalCommand(argv, () => {}));
    t.is(e.name, 'UsageError');
    t.regex(e.message, pattern);
    t.false(e.message.includes('\n'));
  };
  await usage(['--suite', 'imagenet-x', '--data', root, '--out', out, ...base], /unknown suite 'imagenet-x'/);
  await usage(
    ['--suite', 'imagenet-c', '--data', path.join(root, 'missing'), '--out', out, ...base],
    /--data .* does not exist/,
  );
  await usage(['--suite', 'imagenet-o', '--data', root, '--out', out, ...base], /--in-dist/);
  await usage(['--suite', 'imagenet-c', '--data', root, ...base], /--out is required/);
  const help = [];
  await evalCommand(['--help'], (s) => help.push(s));
  t.regex(help[0], /--suite VALUE/);
});
