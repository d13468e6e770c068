// lkvit train: the flags reach fit() as the API would be called (same weights bit for bit), the
// weights it writes load as a checkpoint, and bad command lines exit 2 with one line.
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { lk, rng } = require('./helpers');
const { runCli } = require('./cli_run');

const CONFIG = {
  kernelSizes: [7, 5],
  layers: [1, 1],
  channels: [8, 8],
  smallKernel: 3,
  dwRatio: 1,
  ffnRatio: 2,
  numClasses: 4,
  stemStride: 2,
  dropPathRate: 0.1,
};

function dataFile(dir, name, n, seed) {
  const r = rng(seed);
  const x = r.array([n, 3, 16, 16], 0, 1);
  const file = path.join(dir, name);
  lk.writeSafetensors(file, {
    x: { shape: x.shape, data: Float32Array.from(x.data) },
    y: { shape: [n], data: Float32Array.from({ length: n }, (_, i) => i % 4) },
  });
  return file;
}

test('lkvit train: TRADES with SGD equals fit() with the same options; the weights load back', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-train-'));
  const input = dataFile(dir, 'train.safetensors', 24, 1),
    val = dataFile(dir, 'val.safetensors', 8, 2);
  const out = path.join(dir, 'w.safetensors'),
    json = path.join(dir, 'h.json'),
    ckpt = path.join(dir, 'c.safetensors');
  const r = await runCli([
    'train',
    '--model',
    'replknet31b',
    '--config',
    JSON.stringify(CONFIG),
    '--input',
    input,
    '--validation',
    val,
    '--epochs',
    '2',
    '--batch-size',
    '8',
    '--optimizer',
    'sgd',
    '--lr',
    '0.05',
    '--nesterov',
    '--warmup-epochs',
    '1',
    '--label-smoothing',
    '0.1',
    '--clip-grad-norm',
    '2',
    '--adversarial',
    'trades',
    '--eps',
    '4/255',
    '--attack-steps',
    '2',
    '--beta',
    '3',
    '--eps-warmup-epochs',
    '1',
    '--seed',
    '5',
    '--checkpoint',
    ckpt,
    '--out',
    out,
    '--json',
    json,
    '--quiet',
  ]);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /epoch 2\/2: loss [\d.]+, train acc [\d.]+, val acc [\d.]+, lr [\d.e+-]+, eps 0\.0157/);
  const report = JSON.parse(fs.readFileSync(json, 'utf8'));
  t.is(report.history.length, 2);

  lk.manualSeed(5);
  const model = lk.createModel('replknet31b', CONFIG);
  const read = (f) => {
    const { x, y } = lk.readLabeledSafetensors(f);
    return lk.tensorDataset(x, y);
  };
  const { history } = await lk.fit(model, read(input), {
    epochs: 2,
    batchSize: 8,
    seed: 5,
    optimizer: { type: 'sgd', lr: 0.05, weightDecay: 0, momentum: 0.9, nesterov: true },
    warmupEpochs: 1,
    labelSmoothing: 0.1,
    clipGradNorm: 2,
    adversarial: { method: 'trades', eps: 4 / 255, steps: 2, beta: 3, warmupEpochs: 1, space: 'pixel' },
    minLr: 0,
    validation: read(val),
  });
  t.deepEqual(
    report.history.map((h) => h.valAccuracy),
    history.map((h) => h.valAccuracy),
  );
  const { model: loaded } = lk.loadModel('replknet31b', out, CONFIG);
  for (const [k, v] of model.stateDict()) t.deepEqual(loaded.stateDict().get(k).data, v.data, k);
  t.true(fs.existsSync(ckpt));
  fs.rmSync(dir, { recursive: true });
});

test('lkvit train: bad command lines exit 2 with one line', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-train-'));
  const input = dataFile(dir, 'train.safetensors', 8, 1);
  const base = [
    'train',
    '--model',
    'replknet31b',
    '--config',
    JSON.stringify(CONFIG),
    '--input',
    input,
    '--out',
    path.join(dir, 'w.safetensors'),
  ];
  const cases = [
    [[...base], /--epochs is required/],
    [[...base, '--epochs', '0'], /--epochs must be an integer >= 1/],
    [[...base, '--epochs', '1', '--eps', '4/255'], /--eps needs --adversarial pgd-at\|trades/],
    [[...base, '--epochs', '1', '--adversarial', 'pgd-at', '--beta', '2'], /--beta applies to --adversarial trades/],
    [[...base, '--epochs', '1', '--adversarial', 'madry'], /--adversarial must be 'pgd-at' or 'trades'/],
    [[...base, '--epochs', '1', '--lr', '-1'], /--lr must be a positive number/],
    [[...base, '--epochs', '1', '--batch-size', '64'], /--batch-size 64 exceeds the 8 samples/],
    [[...base, '--epochs', '1', '--momentum', '0.9'], /--momentum and --nesterov apply to --optimizer sgd/],
    [[...base, '--epochs', '1', '--resume'], /--resume needs --checkpoint/],
    [['train', '--model', 'nope', '--input', input, '--epochs', '1', '--out', 'x'], /is not a model/],
  ];
  for (const [argv, re] of cases) {
    const r = await runCli(argv);
    t.is(r.code, 2, `${argv.slice(-2).join(' ')}: ${r.err}`);
    t.regex(r.err, re);
    t.is(r.err.trim().split('\n').length, 1);
  }
  fs.rmSync(dir, { recursive: true });
});
