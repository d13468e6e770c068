// Sharding: n = 3 shards of eval, attack and analyze, merged, give byte-for-byte the single run's
// report (timing fields aside); merge refuses missing, duplicate and mixed shards with one line.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const sharp = require('sharp');
const lk = require('..');
const { parseShard, shardSlice, shardUnits } = require('../lib/shard/spec');
const { evalCommand } = require('../lib/cli/eval');
const { attackCommand } = require('../lib/cli/attack');
const { analyzeCommand } = require('../lib/cli/analyze');
const { mergeCommand } = require('../lib/cli/merge');
const { exitCodeOf } = require('../lib/cli/main');
const { IMAGENET_WNIDS } = require('../lib/suites/classes');
const { rng } = require('./helpers');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-shard-'));
const quiet = () => {};
const read = (file) => fs.readFileSync(file, 'utf8');
const withoutSeconds = (text) => JSON.stringify(JSON.parse(text), (k, v) => (k === 'seconds' ? undefined : v));

// A tiny ResNet checkpoint (K classes) and its flags.
function checkpoint(dir, K, seed = 2) {
  lk.manualSeed(seed);
  const config = { layers: [1, 1, 1, 1], widths: [4, 4, 4, 4], stemWidth: 4, numClasses: K };
  const weights = path.join(dir, `w${K}-${seed}.safetensors`);
  lk.saveWeights(lk.createModel('resnet50', config), weights);
  return ['--model', 'resnet50', '--weights', weights, '--config', JSON.stringify(config)];
}

// N random 16x16 images with labels that are half right (the model's own prediction) and half not.
function inputFile(dir, flags, N) {
  const r = rng(5);
  const x = lk.tensor(
    Float32Array.from({ length: N * 3 * 16 * 16 }, () => r.next()),
    [N, 3, 16, 16],
  );
  const { model } = lk.loadModel('resnet50', flags[3], JSON.parse(flags[5]));
  const pred = lk.argmax(lk.noGrad(() => model.forward(x)));
  const y = Float32Array.from(pred, (p, i) => (i % 2 ? (p + 1) % 10 : p));
  const file = path.join(dir, 'data.safetensors');
  lk.writeSafetensors(file, { x: { shape: x.shape, data: x.data }, y: { shape: [N], data: y } });
  return file;
}

async function expectUsage(t, promise, pattern) {
  const e = await t.throwsAsync(promise);
  t.is(exitCodeOf(e), 2, e.message);
  t.regex(e.message, pattern);
  t.false(e.message.includes('\n'));
}

test('--shard i/n: parsing, and slices of whole batches that tile the run', (t) => {
  t.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
  for (const bad of ['0/3', '4/3', '1/0', '1.5/3', 'a/b', '3', '-1/2'])
    t.throws(() => parseShard(bad), { instanceOf: RangeError });
  // 10 samples in batches of 3 are 4 batches: floor(4 i / 3) -> 0, 1, 2, 4 batches.
  t.deepEqual(
    [1, 2, 3].map((index) => shardSlice(10, 3, { index, count: 3 })),
    [
      { start: 0, end: 3, total: 10 },
      { start: 3, end: 6, total: 10 },
      { start: 6, end: 10, total: 10 },
    ],
  );
  t.deepEqual(shardSlice(2, 3, { index: 1, count: 2 }), { start: 0, end: 0, total: 2 }); // more shards than batches
  t.deepEqual(shardUnits(7, { index: 3, count: 3 }), [4, 7]);
});

test('analyze occlusion (random) and frequency: 3 shards merged equal one run; merge refuses bad sets', async (t) => {
  const dir = tmp();
  const flags = checkpoint(dir, 10);
  const input = inputFile(dir, flags, 10);
  const cases = {
    occlusion: ['--ratios', '0.25,0.5,0.75', '--patch-size', '4', '--seed', '3'],
    frequency: ['--bands', '0,0.5', '--band-width', '0.5', '--noise-std', '0.3', '--seed', '1'],
  };
  for (const [name, extra] of Object.entries(cases)) {
    const args = [name, ...flags, '--input', input, '--batch-size', '3', ...extra];
    const single = path.join(dir, `${name}-single`),
      shards = path.join(dir, `${name}-shards`),
      merged = path.join(dir, `${name}-merged`);
    await analyzeCommand([...args, '--out', single], quiet);
    for (const i of [1, 2, 3]) await analyzeCommand([...args, '--out', shards, '--shard', `${i}/3`], quiet);
    t.deepEqual(
      fs.readdirSync(shards).sort(),
      [1, 2, 3].map((i) => `${name}.shard-${i}-of-3.json`),
    );
    await mergeCommand([shards, '--out', merged], quiet);
    t.is(
      withoutSeconds(read(path.join(merged, `${name}.json`))),
      withoutSeconds(read(path.join(single, `${name}.json`))),
    );
    for (const ext of ['csv', 'svg'])
      t.is(read(path.join(merged, `${name}.${ext}`)), read(path.join(single, `${name}.${ext}`)), `${name}.${ext}`);
    const result = JSON.parse(read(path.join(single, `${name}.json`))).result;
    t.is(result.samples, 10);
    t.true(result.clean > 0 && result.clean < 1); // half the labels are wrong: the counts are not trivial
  }
  const shard = (i) => path.join(dir, 'occlusion-shards', `occlusion.shard-${i}-of-3.json`);
  await expectUsage(t, mergeCommand([shard(1), shard(3), '--out', dir], quiet), /missing shard\(s\) 2\/3 of 3/);
  await expectUsage(
    t,
    mergeCommand([shard(1), shard(2), shard(2), shard(3), '--out', dir], quiet),
    /shard 2\/3 given twice/,
  );
  // Another seed is another run.
  const other = path.join(dir, 'other');
  await analyzeCommand(
    [
      'occlusion',
      ...flags,
      '--input',
      input,
      '--batch-size',
      '3',
      ...cases.occlusion.slice(0, 4),
      '--seed',
      '4',
      '--out',
      other,
      '--shard',
      '2/3',
    ],
    quiet,
  );
  await expectUsage(
    t,
    mergeCommand([shard(1), path.join(other, 'occlusion.shard-2-of-3.json'), shard(3), '--out', dir], quiet),
    /different runs \(flags differs\)/,
  );
  await expectUsage(
    t,
    mergeCommand([shard(1), path.join(dir, 'frequency-shards', 'frequency.shard-2-of-3.json'), '--out', dir], quiet),
    /'analyze:frequency' shard/,
  );
  // Bad --shard values, and analyses that take none.
  const base = ['occlusion', ...flags, '--input', input, '--out', other];
  for (const bad of ['0/3', '4/3', 'x', '2/0'])
    await expectUsage(t, analyzeCommand([...base, '--shard', bad], quiet), /--shard must be i\/n/);
  await expectUsage(
    t,
    analyzeCommand(['kernel-distance', ...flags, '--out', other, '--shard', '1/2'], quiet),
    /needs no --shard/,
  );
  await expectUsage(
    t,
    analyzeCommand(['erf', ...flags, '--input', input, '--out', other, '--shard', '1/2'], quiet),
    /does not take --shard/,
  );
});

test('attack (pgd, seeded): 3 shards merged equal one run, x_adv included', async (t) => {
  const dir = tmp();
  const flags = checkpoint(dir, 10);
  const input = inputFile(dir, flags, 8);
  const args = [
    '--input',
    input,
    ...flags,
    '--attack',
    'pgd',
    '--eps',
    '8/255',
    '--steps',
    '2',
    '--seed',
    '7',
    '--batch-size',
    '3',
  ];
  await attackCommand(
    [...args, '--out', path.join(dir, 'adv.safetensors'), '--json', path.join(dir, 'adv.json')],
    quiet,
  );
  fs.mkdirSync(path.join(dir, 's'));
  for (const i of [1, 2, 3])
    await attackCommand(
      [
        ...args,
        '--shard',
        `${i}/3`,
        '--out',
        path.join(dir, 's', `adv-${i}.safetensors`),
        '--json',
        path.join(dir, 's', `pgd.shard-${i}-of-3.json`),
      ],
      quiet,
    );
  const merged = path.join(dir, 'merged.safetensors');
  await mergeCommand([path.join(dir, 's'), '--out', merged, '--json', path.join(dir, 'merged.json')], quiet);
  t.is(withoutSeconds(read(path.join(dir, 'merged.json'))), withoutSeconds(read(path.join(dir, 'adv.json'))));
  const a = lk.readSafetensors(path.join(dir, 'adv.safetensors')),
    b = lk.readSafetensors(merged);
  for (const key of ['x_adv', 'y', 'clean_pred', 'adv_pred'])
    t.deepEqual(b.tensors.get(key).data, a.tensors.get(key).data, key);
  t.deepEqual(b.metadata, a.metadata);
  await expectUsage(t, attackCommand([...args, '--shard', '1/3'], quiet), /--shard needs --json FILE/);
});

async function png(file, cls) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({
    create: { width: 20, height: 20, channels: 3, background: { r: (cls * 37) % 256, g: (cls * 91) % 256, b: 60 } },
  })
    .png()
    .toFile(file);
}

test('eval imagenet-c and imagenet val: 3 shards merged equal one run; other weights refused', async (t) => {
  const dir = tmp();
  const flags = checkpoint(dir, 1000);
  const c = path.join(dir, 'c'),
    val = path.join(dir, 'val');
  for (const corruption of ['fog', 'snow'])
    for (const s of [1, 2])
      for (const k of [0, 1, 2]) await png(path.join(c, corruption, String(s), IMAGENET_WNIDS[k], `${k}.png`), k + s);
  for (const k of [0, 1, 2, 3])
    for (const j of [0, 1]) await png(path.join(val, IMAGENET_WNIDS[k], `${j}.png`), 3 * k + j);
  for (const [suite, data] of [
    ['imagenet-c', c],
    ['imagenet', val],
  ]) {
    const args = ['--suite', suite, '--data', data, ...flags, '--crop', '16', '--batch-size', '2'];
    const single = path.join(dir, `${suite}-single`),
      shards = path.join(dir, `${suite}-shards`),
      merged = path.join(dir, `${suite}-merged`);
    await evalCommand([...args, '--out', single], quiet);
    for (const i of [1, 2, 3]) await evalCommand([...args, '--out', shards, '--shard', `${i}/3`], quiet);
    await mergeCommand([shards, '--out', merged], quiet);
    for (const file of ['report.json', 'report.csv'])
      t.is(read(path.join(merged, file)), read(path.join(single, file)), `${suite} ${file}`);
    t.is(JSON.parse(read(path.join(single, 'report.json'))).samples, suite === 'imagenet' ? 8 : 12);
  }
  // The same shard of another checkpoint: a different run.
  const other = checkpoint(dir, 1000, 3);
  const otherOut = path.join(dir, 'other');
  await evalCommand(
    [
      '--suite',
      'imagenet-c',
      '--data',
      c,
      ...other,
      '--crop',
      '16',
      '--batch-size',
      '2',
      '--out',
      otherOut,
      '--shard',
      '3/3',
    ],
    quiet,
  );
  const s = (i) => path.join(dir, 'imagenet-c-shards', `eval.shard-${i}-of-3.json`);
  await expectUsage(
    t,
    mergeCommand([s(1), s(2), path.join(otherOut, 'eval.shard-3-of-3.json'), '--out', otherOut], quiet),
    /different runs \(model differs\)/,
  );
  await expectUsage(t, mergeCommand([s(1), s(2), '--out', otherOut], quiet), /missing shard\(s\) 3\/3/);
  await expectUsage(
    t,
    evalCommand(['--suite', 'imagenet-c', '--data', c, ...flags, '--out', otherOut, '--shard', '3/2'], quiet),
    /--shard must be i\/n/,
  );
});
