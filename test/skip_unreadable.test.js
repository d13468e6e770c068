// An unreadable file in an image folder is reported, left out and counted, not the end of the run:
// loadReadableImages, evaluateSuite({ skipUnreadable }) and lkvit eval / predict (--strict-images
// restores stopping at the first), plus predict's several values after one --images flag.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const sharp = require('sharp');
const lk = require('..');
const { loadReadableImages } = require('../lib/io/dataset');
const { evaluateSuite } = require('../lib/suites/imagenet');
const classes = require('../lib/suites/classes');
const { runCli: run } = require('./cli_run');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-skip-'));
const K = 1000;
const W = classes.IMAGENET_WNIDS;

async function png(file, value, size = 20) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width: size, height: size, channels: 3, background: { r: value, g: 0, b: 0 } } })
    .png()
    .toFile(file);
}

// Three kinds of bad file: truncated, not an image at all, and empty.
async function badFiles(dir) {
  fs.mkdirSync(dir, { recursive: true });
  await png(path.join(dir, 'whole.png'), 1);
  const bytes = fs.readFileSync(path.join(dir, 'whole.png'));
  fs.unlinkSync(path.join(dir, 'whole.png'));
  const bad = [path.join(dir, 'b_truncated.png'), path.join(dir, 'd_text.jpg'), path.join(dir, 'f_empty.webp')];
  fs.writeFileSync(bad[0], bytes.subarray(0, 40));
  fs.writeFileSync(bad[1], 'this is not a JPEG\n');
  fs.writeFileSync(bad[2], '');
  return bad;
}

// Logits peak at the red value of the first pixel: class = red byte.
function redModel(x) {
  const [N, , H, Wd] = x.shape;
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) out[n * K + Math.round(x.data[n * 3 * H * Wd] * 255)] = 10;
  return lk.tensor(out, [N, K]);
}

test('loadReadableImages leaves out each group with a bad file and keeps the rest in order', async (t) => {
  const dir = tmp();
  const bad = await badFiles(dir);
  const good = [path.join(dir, 'a.png'), path.join(dir, 'c.png'), path.join(dir, 'e.png')];
  for (const [i, f] of good.entries()) await png(f, 10 * (i + 1));
  const seen = [];
  const r = await loadReadableImages(
    [[good[0]], [bad[0]], [good[1]], [bad[1]], [good[2], bad[2]]],
    { resize: null, crop: 16 },
    (s) => seen.push(s.file),
  );
  t.deepEqual(r.kept, [0, 2]);
  t.deepEqual(r.shape, [2, 3, 16, 16]);
  t.deepEqual(seen, [bad[0], bad[1], bad[2]]);
  t.deepEqual(
    r.skipped.map((s) => s.file),
    seen,
  );
  for (const s of r.skipped) t.true(s.reason.includes(path.basename(s.file)), s.reason);
  // The kept images are what loadImageBatch gives for them alone.
  const want = await lk.loadImageBatch([good[0], good[1]], { resize: null, crop: 16 });
  t.deepEqual(r.data, want.data);
  // All readable: one batch, nothing skipped; other errors are not swallowed.
  t.deepEqual((await loadReadableImages([[good[0]], [good[2]]], { resize: null, crop: 16 })).kept, [0, 1]);
  await t.throwsAsync(() => loadReadableImages([[good[0]]], { crop: -1 }), { instanceOf: RangeError });
});

test('evaluateSuite with skipUnreadable: bad files counted in the report, figures from the rest; off by default', async (t) => {
  const root = tmp(),
    out = tmp();
  // Class 1: two images predicted 1, one bad; class 2: one predicted 7, two bad.
  await png(path.join(root, W[1], 'a.png'), 1);
  await png(path.join(root, W[1], 'c.png'), 1);
  await png(path.join(root, W[2], 'e.png'), 7);
  const bad = [
    ...(await badFiles(path.join(root, W[1]))).slice(0, 1),
    ...(await badFiles(path.join(root, W[2]))).slice(1),
  ];
  for (const f of fs.readdirSync(path.join(root, W[1]))) if (/^[df]_/.test(f)) fs.unlinkSync(path.join(root, W[1], f));
  fs.unlinkSync(path.join(root, W[2], 'b_truncated.png'));
  const opts = { suite: 'imagenet', data: root, crop: 16, resize: 18, batchSize: 2 };
  await t.throwsAsync(() => evaluateSuite(redModel, opts), { name: 'ImageFileError' });
  const skipped = [];
  const report = await evaluateSuite(redModel, {
    ...opts,
    out,
    skipUnreadable: true,
    onSkip: (s) => skipped.push(s.file),
  });
  t.deepEqual(skipped.sort(), bad.sort());
  t.is(report.samples, 3);
  // Samples are named by their path under the data folder.
  t.deepEqual(report.skipped, { count: 3, samples: bad.map((f) => path.relative(root, f)).sort() });
  t.is(report.summary.top1, 2 / 3);
  // Resuming does not retry them, and gives the same report.
  const again = [];
  t.deepEqual(
    await evaluateSuite(redModel, { ...opts, out, skipUnreadable: true, onSkip: (s) => again.push(s.file) }),
    report,
  );
  t.deepEqual(again, []);
  // A run with nothing bad has no `skipped` field (its report is unchanged).
  for (const f of bad) fs.unlinkSync(f);
  t.false('skipped' in (await evaluateSuite(redModel, { ...opts, skipUnreadable: true })));
});

test.serial(
  'lkvit predict: --images takes several values after one flag; unreadable files reported, left out and counted; --strict-images stops',
  async (t) => {
    const dir = tmp();
    const bad = await badFiles(dir);
    const good = [path.join(dir, 'a.png'), path.join(dir, 'c.png')];
    for (const f of good) await png(f, 3);
    lk.manualSeed(1);
    lk.saveWeights(
      lk.createModel('convnext_tiny', { depths: [1, 1, 1, 1], dims: [8, 8, 8, 8], numClasses: 4 }),
      path.join(dir, 'w.safetensors'),
    );
    const base = ['predict', '--weights', path.join(dir, 'w.safetensors'), '--crop', '32', '--quiet'];
    const glob = await run([...base, '--images', good[0], good[1], '--out', path.join(dir, 'two.safetensors')]);
    t.is(glob.code, 0, glob.err);
    t.deepEqual(lk.readSafetensors(path.join(dir, 'two.safetensors')).tensors.get('logits').shape, [2, 4]);
    const r = await run([...base, '--images', dir, '--out', path.join(dir, 'o.safetensors'), '--json']);
    t.is(r.code, 0, r.err);
    const warnings = r.err.split('\n').filter((l) => l.startsWith('warning: left out (unreadable image)'));
    t.is(warnings.length, 3, r.err);
    for (const f of bad)
      t.true(
        warnings.some((w) => w.includes(path.basename(f))),
        path.basename(f),
      );
    const result = JSON.parse(r.out);
    t.deepEqual(result.skipped, { count: 3, files: bad });
    t.is(result.inputs, 2);
    const saved = lk.readSafetensors(path.join(dir, 'o.safetensors'));
    t.deepEqual(JSON.parse(saved.metadata.images), ['a.png', 'c.png']);
    t.deepEqual(
      saved.tensors.get('logits').data,
      lk.readSafetensors(path.join(dir, 'two.safetensors')).tensors.get('logits').data,
    );
    const strict = await run([...base, '--images', dir, '--out', path.join(dir, 'o.safetensors'), '--strict-images']);
    t.is(strict.code, 1);
    t.regex(strict.err, /b_truncated\.png/);
  },
);

test.serial('lkvit eval counts the files it left out in its summary line', async (t) => {
  const root = tmp(),
    out = tmp(),
    dir = tmp();
  await png(path.join(root, W[3], 'a.png'), 3);
  await badFiles(path.join(root, W[3]));
  lk.manualSeed(1);
  lk.saveWeights(
    lk.createModel('convnext_tiny', { depths: [1, 1, 1, 1], dims: [8, 8, 8, 8] }),
    path.join(dir, 'w.safetensors'),
  );
  const r = await run([
    'eval',
    '--suite',
    'imagenet',
    '--data',
    root,
    '--out',
    out,
    '--weights',
    path.join(dir, 'w.safetensors'),
    '--crop',
    '32',
    '--quiet',
  ]);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /imagenet: 1 samples, convnext_tiny .*; 3 left out as unreadable/);
  t.is(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).skipped.count, 3);
  const strict = await run([
    'eval',
    '--suite',
    'imagenet',
    '--data',
    root,
    '--out',
    tmp(),
    '--weights',
    path.join(dir, 'w.safetensors'),
    '--crop',
    '32',
    '--strict-images',
  ]);
  t.is(strict.code, 1, strict.err);
});
