// Hostile shard reports (issue 19): lkvit merge reads files from other machines. Each test edits an
// honest shard (or plants a link, FIFO, device) and expects a one-line usage error within seconds
// that names the shard and never quotes a file's contents; honest shards still merge.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const test = require('ava');
const lk = require('..');
const { attackCommand } = require('../lib/cli/attack');
const { analyzeCommand } = require('../lib/cli/analyze');
const { mergeCommand } = require('../lib/cli/merge');
const { exitCodeOf } = require('../lib/cli/main');
const { rng } = require('./helpers');

const quiet = () => {};
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-hostile-shard-'));
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');
// The secret a hostile shard points at: no message may contain it.
const SECRET = 'TOP-SECRET-8c1f';

function setup() {
  const dir = tmp();
  lk.manualSeed(4);
  const config = { layers: [1, 1, 1, 1], widths: [4, 4, 4, 4], stemWidth: 4, numClasses: 10 };
  const weights = path.join(dir, 'w.safetensors');
  lk.saveWeights(lk.createModel('resnet50', config), weights);
  const r = rng(9);
  const N = 8;
  const input = path.join(dir, 'data.safetensors');
  lk.writeSafetensors(input, {
    x: { shape: [N, 3, 16, 16], data: Float32Array.from({ length: N * 3 * 256 }, () => r.next()) },
    y: { shape: [N], data: Float32Array.from({ length: N }, (_, i) => i % 10) },
  });
  fs.writeFileSync(path.join(dir, 'secret.txt'), SECRET);
  return { dir, input, flags: ['--model', 'resnet50', '--weights', weights, '--config', JSON.stringify(config)] };
}

// Two honest attack shards (x_adv included) in their own folder; returns the folder and report paths.
async function attackShards(s, name) {
  const folder = path.join(s.dir, name);
  fs.mkdirSync(folder);
  const args = [
    '--input',
    s.input,
    ...s.flags,
    '--attack',
    'pgd',
    '--eps',
    '4/255',
    '--steps',
    '2',
    '--batch-size',
    '4',
  ];
  const reports = [];
  for (const i of [1, 2]) {
    const json = path.join(folder, `pgd.shard-${i}-of-2.json`);
    await attackCommand(
      [...args, '--shard', `${i}/2`, '--out', path.join(folder, `adv-${i}.safetensors`), '--json', json],
      quiet,
    );
    reports.push(json);
  }
  return { folder, reports };
}

/** Rewrites a report; `resign` recomputes the payload digest as a forger would. */
function edit(file, change, resign = false) {
  const r = readJson(file);
  change(r);
  if (resign) r.digest.payload = sha256(JSON.stringify(r.payload));
  fs.writeFileSync(file, JSON.stringify(r));
}

async function refused(t, args, pattern) {
  const t0 = Date.now();
  const e = await t.throwsAsync(mergeCommand(args, quiet));
  t.true(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  t.is(exitCodeOf(e), 2, e.message);
  t.regex(e.message, pattern);
  t.false(e.message.includes('\n'));
  t.false(e.message.includes(SECRET), e.message);
  t.false(e.message.includes('root:'), e.message);
  return e;
}

test('attack shards: honest ones merge; links, FIFOs, devices and paths out of the folder are refused', async (t) => {
  const s = setup();
  const { folder, reports } = await attackShards(s, 'honest');
  const out = path.join(s.dir, 'merged.safetensors');
  await mergeCommand([folder, '--out', out], quiet);
  t.is(lk.readSafetensors(out).tensors.get('x_adv').shape[0], 8);

  // files.xAdv leaving the folder (the report's digest covers no file name: only the file's bytes).
  for (const name of ['../secret.txt', '../../../../etc/passwd', '/etc/passwd', '.', '..', 'a/b']) {
    const { folder: f2, reports: r2 } = await attackShards(s, `out-${crypto.randomBytes(4).toString('hex')}`);
    edit(r2[0], (r) => (r.files.xAdv = name));
    await refused(
      t,
      [f2, '--out', path.join(s.dir, 'm.safetensors')],
      /shard 1\/2 .*names files\.xAdv outside its folder/,
    );
  }

  // A symbolic link beside the report (to a secret, to /dev/zero), a FIFO, a folder.
  const { folder: f3, reports: r3 } = await attackShards(s, 'planted');
  const target = path.join(f3, 'adv-1.safetensors');
  const plant = (make) => {
    fs.rmSync(target, { recursive: true, force: true });
    make(target);
  };
  const cases = [
    [() => fs.symlinkSync(path.join(s.dir, 'secret.txt'), target), /is a symbolic link/],
    [() => fs.symlinkSync('/dev/zero', target), /is a symbolic link/],
    [() => execFileSync('mkfifo', [target]), /is not a regular file \(a FIFO\)/],
    [() => fs.mkdirSync(target), /is not a regular file \(a folder\)/],
  ];
  for (const [make, pattern] of cases) {
    plant(make);
    await refused(t, [r3[0], r3[1], '--out', path.join(s.dir, 'm.safetensors')], pattern);
  }
  // The report itself as a device, a FIFO, a link found in a folder.
  await refused(
    t,
    ['/dev/zero', '--out', path.join(s.dir, 'm.safetensors')],
    /'\/dev\/zero' is not a regular file \(a device\)/,
  );
  const fifo = path.join(s.dir, 'pgd.shard-1-of-1.json');
  execFileSync('mkfifo', [fifo]);
  await refused(t, [fifo], /is not a regular file \(a FIFO\)/);
  const linked = path.join(s.dir, 'linked');
  fs.mkdirSync(linked);
  fs.symlinkSync(path.join(s.dir, 'secret.txt'), path.join(linked, 'pgd.shard-1-of-1.json'));
  await refused(t, [linked], /is a symbolic link/);
  // Not JSON (a secret), an older format.
  const notJson = path.join(s.dir, 'x.shard-1-of-1.json');
  fs.writeFileSync(notJson, SECRET);
  await refused(t, [notJson], /is not a shard report \(not valid JSON\)/);
  edit(reports[0], (r) => (r.format = 'lkvit-shard/1'));
  await refused(t, [reports[0]], /format lkvit-shard\/1 .*rerun the shard/);
});

test('attack shards: edited payloads and files are refused (digest, then range checks)', async (t) => {
  const s = setup();
  const fresh = async () => (await attackShards(s, `e-${crypto.randomBytes(4).toString('hex')}`)).reports;
  const merge = (r) => [r[0], r[1], '--json', path.join(s.dir, 'm.json')];

  // A naive edit of a prediction: the digest names the shard and its file.
  let r = await fresh();
  edit(r[1], (x) => (x.payload.advPred = x.payload.y.slice()));
  const e = await refused(t, merge(r), /shard 2\/2 .*does not match its digest/);
  t.true(e.message.includes(r[1]));

  // A forger recomputes the digest: the values must still be what the run allows.
  const forged = [
    [(x) => (x.payload.linf[0] = 99), /shard 1\/2: payload\.linf\[0\] must be a finite number in \[0, 0\.0156/],
    [(x) => (x.payload.l2[1] = -1), /payload\.l2\[1\] must be a finite number/],
    [(x) => (x.payload.advPred[0] = 10), /payload\.advPred\[0\] must be an integer in \[0, 9\]/],
    [(x) => (x.payload.cleanPred[2] = 1.5), /payload\.cleanPred\[2\] must be an integer/],
    [(x) => (x.payload.y[0] = -1), /payload\.y\[0\] must be an integer/],
    [(x) => x.payload.y.pop(), /payload\.y must be an array of 4 \(the shard's samples\), got 3/],
    [(x) => (x.payload.linf = null), /payload\.linf must be an array of 4/],
    [(x) => (x.payload.attack = 'fgsm'), /payload\.attack must be the run's attack 'pgd'/],
  ];
  for (const [change, pattern] of forged) {
    r = await fresh();
    edit(r[0], change, true);
    await refused(t, merge(r), pattern);
  }
  // Counts and slices that do not fit the run: a billion shards, a shifted slice.
  r = await fresh();
  edit(r[0], (x) => (x.shard.count = 1e9));
  await refused(t, [r[0]], /missing shard\(s\) 2\/1000000000, 3\/1000000000, .* and 999999991 more of 1000000000/);
  r = await fresh();
  edit(r[0], (x) => (x.slice.end = 3));
  edit(r[1], (x) => (x.slice.start = 3));
  await refused(t, merge(r), /shard 1\/2 covers samples 0-3, but shard 1\/2 of 8 samples in batches of 4 is 0-4/);
  r = await fresh();
  edit(r[0], (x) => (x.run.numClasses = 1e9));
  edit(r[1], (x) => (x.run.numClasses = 1e9));
  await refused(t, merge(r), /run\.numClasses must be an integer in \[1, 16777216\]/);

  // x_adv: a byte changed, or swapped for another shard's file.
  r = await fresh();
  const adv = path.join(path.dirname(r[0]), 'adv-1.safetensors');
  const bytes = fs.readFileSync(adv);
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(adv, bytes);
  await refused(
    t,
    [r[0], r[1], '--out', path.join(s.dir, 'm.safetensors')],
    /the xAdv file '.*adv-1\.safetensors' of shard 1\/2 does not match the shard's digest/,
  );
  // A forged x_adv with its digest recomputed: pixels outside [0, 1].
  const forgedX = lk.readSafetensors(adv);
  const x = forgedX.tensors.get('x_adv');
  x.data[0] = 7;
  lk.writeSafetensors(adv, { x_adv: { shape: x.shape, data: x.data } });
  edit(r[0], (rep) => (rep.digest.files.xAdv = sha256(fs.readFileSync(adv))));
  await refused(t, [r[0], r[1], '--out', path.join(s.dir, 'm.safetensors')], /has pixel values outside \[0, 1\]/);
});

test('occlusion shards: forged counts are refused, honest ones merge', async (t) => {
  const s = setup();
  const args = [
    'occlusion',
    ...s.flags,
    '--input',
    s.input,
    '--batch-size',
    '4',
    '--ratios',
    '0.5',
    '--patch-size',
    '8',
  ];
  const fresh = async () => {
    const out = path.join(s.dir, `occ-${crypto.randomBytes(4).toString('hex')}`);
    for (const i of [1, 2]) await analyzeCommand([...args, '--out', out, '--shard', `${i}/2`], quiet);
    return [1, 2].map((i) => path.join(out, `occlusion.shard-${i}-of-2.json`));
  };
  let r = await fresh();
  await mergeCommand([...r, '--json', path.join(s.dir, 'ok.json')], quiet);
  t.is(readJson(path.join(s.dir, 'ok.json')).result.samples, 8);

  edit(r[0], (x) => (x.payload.points[0].correct = 999));
  await refused(t, [...r, '--json', path.join(s.dir, 'm.json')], /shard 1\/2 .*does not match its digest/);
  const forged = [
    [
      (x) => (x.payload.points[0].correct = 999),
      /shard 2\/2: payload\.points\[0\]\.correct must be an integer in \[0, 4\]/,
    ],
    [(x) => (x.payload.cleanCorrect = 5), /payload\.cleanCorrect must be an integer in \[0, 4\]/],
    [(x) => (x.payload.points[0].droppedPatches = 17), /droppedPatches must be an integer in \[0, 16\]/],
    [(x) => (x.payload.samples = 1e9), /payload\.samples must be an integer in \[4, 4\]/],
    [(x) => (x.payload.points[0].ratio = 0.25), /payload must be the same settings .* as shard 1\/2/],
    [(x) => x.payload.points.push({ ...x.payload.points[0] }), /payload must be the same settings/],
  ];
  for (const [change, pattern] of forged) {
    r = await fresh();
    edit(r[1], change, true);
    await refused(t, [...r, '--json', path.join(s.dir, 'm.json')], pattern);
  }
});

test('eval shards: forged records (classes out of range, unknown fields, duplicate samples) are refused; names are printed escaped', async (t) => {
  const sharp = require('sharp');
  const { evalCommand } = require('../lib/cli/eval');
  const { IMAGENET_WNIDS } = require('../lib/suites/classes');
  const dir = tmp();
  lk.manualSeed(2);
  const config = { layers: [1, 1, 1, 1], widths: [4, 4, 4, 4], stemWidth: 4, numClasses: 1000 };
  const weights = path.join(dir, 'w.safetensors');
  lk.saveWeights(lk.createModel('resnet50', config), weights);
  const val = path.join(dir, 'val');
  for (const k of [0, 1])
    for (const j of [0, 1]) {
      const file = path.join(val, IMAGENET_WNIDS[k], `${j}.png`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 40 * k, g: 90 * j, b: 60 } } })
        .png()
        .toFile(file);
    }
  const args = [
    '--suite',
    'imagenet',
    '--data',
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
  const fresh = async () => {
    const out = path.join(dir, `eval-${crypto.randomBytes(4).toString('hex')}`);
    for (const i of [1, 2]) await evalCommand([...args, '--out', out, '--shard', `${i}/2`], quiet);
    return [1, 2].map((i) => path.join(out, `eval.shard-${i}-of-2.json`));
  };
  let r = await fresh();
  await mergeCommand([...r, '--out', path.join(dir, 'merged')], quiet);
  t.is(readJson(path.join(dir, 'merged', 'report.json')).samples, 4);
  const forged = [
    [
      (x) => (x.payload.results[0].top5[0] = 5000),
      /shard 2\/2: payload\.results\[0\]\.top5\[0\] must be an integer in \[0, 999\]/,
    ],
    [
      (x) => (x.payload.results[1].label = 'n01440764'),
      /payload\.results\[1\]\.label must be an integer in \[-1, 999\]/,
    ],
    [(x) => (x.payload.results[0].extra = 1), /payload\.results\[0\] must be a record with exactly label, top5/],
    [
      (x) => (x.payload.results[0].top5 = Array(6).fill(1)),
      /payload\.results\[0\]\.top5 must be at most 5 class indices/,
    ],
    [(x) => (x.payload.samples[0][0] = 7), /payload\.samples\[0\]\[0\] must be an integer in \[0, 0\]/],
    [(x) => x.payload.results.pop(), /payload\.results must be an array of 2/],
  ];
  for (const [change, pattern] of forged) {
    r = await fresh();
    edit(r[1], change, true);
    await refused(t, [...r, '--out', path.join(dir, 'm')], pattern);
  }
  // The same sample in both shards.
  r = await fresh();
  const first = readJson(r[0]).payload.samples[0];
  edit(r[1], (x) => (x.payload.samples[0] = first), true);
  await refused(
    t,
    [...r, '--out', path.join(dir, 'm')],
    /shard 2\/2: payload\.samples\[0\]\[1\] must be an id no other sample of the run has/,
  );
  // A file name with a terminal escape is not a plain name; a report path with one is printed escaped.
  r = await fresh();
  edit(r[0], (x) => (x.run.extra = 1));
  const escaped = path.join(path.dirname(r[0]), 'e\x1b[2J.shard-1-of-2.json');
  fs.renameSync(r[0], escaped);
  const e = await refused(
    t,
    [escaped, r[1], '--out', path.join(dir, 'm')],
    /come from different runs \(extra differs\)/,
  );
  t.false(e.message.includes('\x1b'));
  t.true(e.message.includes('e\\x1b[2J'));
});
