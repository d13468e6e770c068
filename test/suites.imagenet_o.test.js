// ImageNet-O's MaxLogit score beside MSP: the metric and the summary on hand-computed cases, the report
// and CSV of a run on synthetic folders against figures computed here from the model's logits, and
// sharded runs merged into the single run's report (records without a finite maxLogit refused).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const sharp = require('sharp');
const lk = require('..');
const { maxLogit, maxSoftmax } = require('../lib/suites/metrics');
const { IMAGENET_O } = require('../lib/suites/summaries');
const { evaluateSuite } = require('../lib/suites/imagenet');
const classes = require('../lib/suites/classes');
const { evalCommand } = require('../lib/cli/eval');
const { mergeCommand } = require('../lib/cli/merge');
const { exitCodeOf } = require('../lib/cli/main');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-imagenet-o-'));
const quiet = () => {};
const read = (file) => fs.readFileSync(file, 'utf8');
const close = (a, b) => Math.abs(a - b) < 1e-12;

test('maxLogit: the largest logit, over the given columns only', (t) => {
  t.is(maxLogit([0.5, -2, 7.25, 3]), 7.25);
  t.is(maxLogit([0.5, -2, 7.25, 3], [0, 1, 3]), 3);
  t.is(maxLogit([-4, -9], [1]), -9);
  // Shift-invariant MSP vs shift-sensitive MaxLogit: the same softmax, other max logits.
  t.true(close(maxSoftmax([1, 2, 3]), maxSoftmax([11, 12, 13])));
  t.is(maxLogit([11, 12, 13]) - maxLogit([1, 2, 3]), 10);
});

// Two ImageNet-O samples and two in-distribution ones whose MSP and MaxLogit rank them differently.
function evaluated(records) {
  const subset = (name, rs) => ({
    subset: { name, samples: rs.map((_, i) => ({ id: `${name}${i}`, className: `c${i % 2}`, files: [], label: -1 })) },
    results: rs,
  });
  return [subset('imagenet-o', records.slice(0, 2)), subset('in-distribution', records.slice(2))];
}

test('imagenet-o summary: MSP and MaxLogit AUPR / AUROC / FPR95 on a hand-computed case; MSP fields unchanged', (t) => {
  const records = [
    { confidence: 0.9, maxLogit: 1 },
    { confidence: 0.2, maxLogit: 5 },
    { confidence: 0.5, maxLogit: 3 },
    { confidence: 0.6, maxLogit: 7 },
  ];
  const { summary, figures } = IMAGENET_O.summarize(evaluated(records), {});
  // MSP scores -0.9, -0.2 (anomalies) vs -0.5, -0.6: ranked P N N P.
  t.is(summary.auroc, 0.5);
  t.is(summary.aupr, (1 + 2 / 4) / 2);
  t.is(summary.fpr95, 1);
  // MaxLogit scores -1, -5 (anomalies) vs -3, -7: ranked P N P N.
  t.is(summary.maxLogitAuroc, 3 / 4);
  t.true(close(summary.maxLogitAupr, (1 + 2 / 3) / 2));
  t.is(summary.maxLogitFpr95, 0.5);
  t.deepEqual(Object.keys(summary), ['aupr', 'auroc', 'fpr95', 'maxLogitAupr', 'maxLogitAuroc', 'maxLogitFpr95']);
  const fig = (subset, metric) =>
    figures.find((f) => f.subset === subset && f.class === null && f.metric === metric).value;
  t.is(fig('imagenet-o', 'meanMaxLogit'), 3);
  t.is(fig('in-distribution', 'meanMaxLogit'), 5);
  t.true(close(fig('imagenet-o', 'meanConfidence'), 0.55));
  // A state resumed from before maxLogit was recorded: MSP as before, MaxLogit null, no NaN anywhere.
  const old = IMAGENET_O.summarize(evaluated(records.map(({ confidence }) => ({ confidence }))), {});
  t.deepEqual(old.summary, {
    aupr: summary.aupr,
    auroc: 0.5,
    fpr95: 1,
    maxLogitAupr: null,
    maxLogitAuroc: null,
    maxLogitFpr95: null,
  });
  t.false(old.figures.some((f) => f.metric === 'meanMaxLogit' || Number.isNaN(f.value)));
});

const K = 1000;
const O = classes.IMAGENET_O_WNIDS,
  COLS = classes.subsetIndices(O);
// Logits from the first pixel's colour: a peak at class r + 256 g, scaled by blue (so max logits differ).
function colourModel(x) {
  const [N, , H, W] = x.shape;
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const px = (c) => Math.round(x.data[(n * 3 + c) * H * W] * 255);
    const centre = (px(0) + 256 * px(1)) % K,
      scale = 1 + px(2) / 64;
    for (let k = 0; k < K; k++) out[n * K + k] = scale * (-Math.abs(k - centre) / 10 + 0.03 * (k % 7));
  }
  return lk.tensor(out, [N, K]);
}
async function png(file, cls, b) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({
    create: { width: 20, height: 20, channels: 3, background: { r: cls % 256, g: Math.floor(cls / 256), b } },
  })
    .png()
    .toFile(file);
}

test("evaluateSuite imagenet-o: MaxLogit figures from the model's own logits, in report.json and report.csv", async (t) => {
  const root = tmp(),
    val = tmp(),
    out = tmp();
  const oFiles = [],
    vFiles = [];
  for (const [i, [pred, b]] of [
    [500, 0],
    [COLS[3], 250],
    [77, 90],
    [640, 30],
  ].entries()) {
    oFiles.push(path.join(root, O[i % 2], `${i}.png`));
    await png(oFiles[i], pred, b);
  }
  for (const [i, [pred, b]] of [
    [COLS[0], 200],
    [COLS[1], 10],
    [300, 120],
    [COLS[2], 180],
  ].entries()) {
    vFiles.push(path.join(val, O[i % 2], `${i}.png`));
    await png(vFiles[i], pred, b);
  }
  const report = await evaluateSuite(colourModel, {
    suite: 'imagenet-o',
    data: root,
    inDistribution: val,
    out,
    crop: 16,
    resize: 18,
    batchSize: 3,
  });
  const scores = async (files) => {
    const b = await lk.loadImageBatch(files, { resize: 18, crop: 16 });
    const logits = colourModel(lk.tensor(b.data, b.shape)).data;
    return files.map((_, i) => -Math.max(...COLS.map((c) => logits[i * K + c])));
  };
  const pos = await scores(oFiles),
    neg = await scores(vFiles);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  t.true(Math.abs(report.summary.maxLogitAuroc - wins / 16) < 1e-9, `${report.summary.maxLogitAuroc} vs ${wins / 16}`);
  const all = [...pos.map((s) => [s, 1]), ...neg.map((s) => [s, 0])];
  let ap = 0;
  for (const [s, p] of all)
    if (p) {
      const above = all.filter(([v]) => v >= s);
      ap += above.filter(([, q]) => q).length / above.length;
    }
  t.true(Math.abs(report.summary.maxLogitAupr - ap / 4) < 1e-9, `${report.summary.maxLogitAupr} vs ${ap / 4}`);
  t.true(wins / 16 > 0 && wins / 16 < 1, 'a case that separates nothing tests nothing');
  t.true(report.summary.maxLogitFpr95 >= 0 && report.summary.maxLogitFpr95 <= 1);
  for (const k of ['aupr', 'auroc', 'fpr95']) t.is(typeof report.summary[k], 'number');
  const csv = read(path.join(out, 'report.csv')).trim().split('\n');
  t.true(csv.includes(`,,maxLogitAupr,${report.summary.maxLogitAupr},8`), csv.slice(0, 8).join('\n'));
  t.true(csv.includes(`,,aupr,${report.summary.aupr},8`));
  const meanO = pos.reduce((s, v) => s - v, 0) / 4;
  const f = report.figures.find((x) => x.subset === 'imagenet-o' && x.class === null && x.metric === 'meanMaxLogit');
  t.true(Math.abs(f.value - meanO) < 1e-5, `${f.value} vs ${meanO}`);
});

async function expectUsage(t, promise, pattern) {
  const e = await t.throwsAsync(promise);
  t.is(exitCodeOf(e), 2, e.message);
  t.regex(e.message, pattern);
}

test('eval imagenet-o: 3 shards merged equal one run (maxLogit included); a shard without a finite maxLogit is refused', async (t) => {
  const dir = tmp();
  lk.manualSeed(2);
  const config = { layers: [1, 1, 1, 1], widths: [4, 4, 4, 4], stemWidth: 4, numClasses: K };
  const weights = path.join(dir, 'w.safetensors');
  lk.saveWeights(lk.createModel('resnet50', config), weights);
  const root = path.join(dir, 'o'),
    val = path.join(dir, 'val');
  for (const k of [0, 1, 2])
    for (const j of [0, 1]) {
      await png(path.join(root, O[k], `${j}.png`), 37 * k + j, 40 * j);
      await png(path.join(val, O[k], `${j}.png`), COLS[k] + j, 200 - 30 * k);
    }
  const args = [
    '--suite',
    'imagenet-o',
    '--data',
    root,
    '--in-dist',
    val,
    '--model',
    'resnet50',
    '--weights',
    weights,
    '--config',
    JSON.stringify(config),
    '--crop',
    '16',
    '--batch-size',
    '2',
  ];
  const single = path.join(dir, 'single'),
    shards = path.join(dir, 'shards'),
    merged = path.join(dir, 'merged');
  await evalCommand([...args, '--out', single], quiet);
  for (const i of [1, 2, 3]) await evalCommand([...args, '--out', shards, '--shard', `${i}/3`], quiet);
  await mergeCommand([shards, '--out', merged], quiet);
  for (const file of ['report.json', 'report.csv'])
    t.is(read(path.join(merged, file)), read(path.join(single, file)), file);
  const report = JSON.parse(read(path.join(single, 'report.json')));
  t.is(report.samples, 12);
  t.is(typeof report.summary.maxLogitAupr, 'number');
  // Hostile shards: a record without maxLogit, or with one that is no finite float32.
  const s2 = path.join(shards, 'eval.shard-2-of-3.json');
  const good = read(s2);
  for (const [edit, pattern] of [
    [(r) => delete r.maxLogit, /exactly confidence, maxLogit/],
    [(r) => (r.maxLogit = 'big'), /maxLogit must be a finite number/],
    [(r) => (r.maxLogit = 1e39), /maxLogit must be a finite number/],
  ]) {
    const shard = JSON.parse(good);
    edit(shard.payload.results[0]);
    // Re-signed as a forger would: the digest passes, the value check must not.
    shard.digest.payload = crypto.createHash('sha256').update(JSON.stringify(shard.payload)).digest('hex');
    fs.writeFileSync(s2, JSON.stringify(shard));
    await expectUsage(t, mergeCommand([shards, '--out', path.join(dir, 'bad')], quiet), pattern);
  }
  fs.writeFileSync(s2, good);
});
