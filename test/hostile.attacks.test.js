// Non-finite model outputs (issue 19): NaN or infinite logits or gradients are an error naming the
// batch, never a figure (argmax over NaNs is class 0, so class-0 samples used to count as robust);
// normalisations that overflow are refused by the API and the CLI.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const { record } = require('../lib/tensor/tensor');
const { attackCommand } = require('../lib/cli/attack');
const { exitCodeOf } = require('../lib/cli/main');
const { rng } = require('./helpers');

const N = 8,
  K = 10;
const CONFIG = { layers: [1, 1, 1, 1], widths: [4, 4, 4, 4], stemWidth: 4, numClasses: K };

function tinyModel() {
  lk.manualSeed(3);
  return lk.createModel('resnet50', CONFIG);
}

function images(seed = 1) {
  const r = rng(seed);
  return lk.tensor(
    Float32Array.from({ length: N * 3 * 16 * 16 }, () => r.next()),
    [N, 3, 16, 16],
  );
}
// Every label is class 0: with NaN logits, argmax would call every sample correct.
const y = new Int32Array(N);

// The logits of `model` plus `bad` in sample rows `rows` (NaN, Infinity or -Infinity), differentiably.
const poisoned = (model, bad, rows) => (x) => {
  const out = model.forward(x);
  const add = new Float32Array(out.size);
  for (const n of rows) if (n < x.shape[0]) add.fill(bad, n * K, n * K + 1);
  return lk.ops.add(out, lk.tensor(add, out.shape));
};

// Finite logits whose gradient w.r.t. the input is NaN.
const nanGradient = (model) => (x) => {
  const out = model.forward(x);
  return record('nanGradient', out.data.slice(), out.shape, [out], () => [new Float32Array(out.size).fill(NaN)]);
};

const attacks = {
  fgsm: (m, x) => lk.fgsm(m, x, y, { eps: 4 / 255 }),
  pgd: (m, x) => lk.pgd(m, x, y, { eps: 4 / 255, steps: 2 }),
  taig: (m, x) => lk.taig(m, x, y, { eps: 4 / 255, steps: 1, points: 2 }),
};

test('fgsm, pgd, taig: NaN or infinite logits and NaN gradients are an error, not a robust accuracy', (t) => {
  const model = tinyModel();
  const x = images();
  for (const [name, run] of Object.entries(attacks)) {
    // Honest model: finite results (the reference the poisoned runs must not produce silently).
    const ok = run(model, x);
    t.true(ok.linf.every(Number.isFinite), name);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const e = t.throws(() => run(poisoned(model, bad, [5]), x), { instanceOf: RangeError }, `${name} ${bad}`);
      t.regex(e.message, /the model returned non-finite logits \(sample 5 of 8 in the call\)/, name);
    }
    const e = t.throws(() => run(nanGradient(model), x), { instanceOf: RangeError }, name);
    t.regex(e.message, /the model returned non-finite gradients/, name);
  }
  // The helpers every figure goes through refuse a NaN row too.
  const logits = lk.tensor(
    Float32Array.from({ length: 2 * K }, (_, i) => (i === K + 3 ? NaN : i)),
    [2, K],
  );
  t.throws(() => lk.argmax(logits), { message: /non-finite logits \(sample 1 of 2/ });
  t.throws(() => lk.topkCorrect(logits, [0, 0], 1), { message: /non-finite logits \(sample 1 of 2/ });
});

test('runAttack and the analyses name the batch whose logits were non-finite', async (t) => {
  const model = tinyModel();
  const data = lk.tensorDataset(images(), Float32Array.from(y));
  // Sample 5 is in batch 1 (samples 4-7) with batches of 4.
  for (const attack of ['fgsm', 'pgd', 'taig']) {
    const options = { eps: 4 / 255, ...(attack !== 'fgsm' && { steps: 1 }) };
    await t.throwsAsync(
      lk.runAttack(poisoned(model, NaN, [1]), data, { attack, options, batchSize: 4, shard: { index: 2, count: 2 } }),
      { message: 'runAttack: the model returned non-finite logits for batch 1 (samples 4-7)' },
    );
  }
  // A transfer attack: the target judges with NaN logits.
  await t.throwsAsync(
    lk.runAttack(poisoned(model, NaN, [0]), data, {
      attack: 'fgsm',
      options: { eps: 4 / 255 },
      batchSize: 4,
      surrogate: model,
    }),
    { message: 'runAttack: the model returned non-finite logits for batch 0 (samples 0-3)' },
  );
  // An analysis: an infinite pixel in sample 6 makes its logits NaN.
  const x = images();
  x.data[6 * 3 * 256 + 17] = Infinity;
  const bad = lk.tensorDataset(x, Float32Array.from(y));
  await t.throwsAsync(lk.analyses.occlusion(model, bad, { batchSize: 4, ratios: [0.5], patchSize: 8 }), {
    message: 'occlusion: the model returned non-finite logits for batch 1 (samples 4-7)',
  });
  lk.manualSeed(3);
  const deeper = lk.createModel('resnet50', { ...CONFIG, layers: [2, 2, 1, 1] });
  await t.throwsAsync(lk.analyses.lesion(deeper, bad, { batchSize: 4, maxBlocks: 1, trials: 1 }), {
    message: 'lesion: the model returned non-finite logits for batch 1 (samples 4-7)',
  });
});

test('normalisation: std that overflows float32 is refused by createModel, setNormalization and the CLI (exit 2)', async (t) => {
  for (const std of [
    [1e-45, 1, 1],
    [0, 1, 1],
    [1e7, 1, 1],
    [NaN, 1, 1],
  ])
    t.throws(() => lk.createModel('resnet50', { ...CONFIG, std }), {
      instanceOf: RangeError,
      message: /std must be 3 numbers in \[0\.000001, 1000000\]/,
    });
  t.throws(() => lk.createModel('resnet50', { ...CONFIG, mean: [Infinity, 0, 0] }), {
    instanceOf: RangeError,
    message: /mean must be 3 finite numbers/,
  });
  t.notThrows(() => lk.createModel('resnet50', { ...CONFIG, std: [1e-6, 1, 1e6] }));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-hostile-attacks-'));
  const weights = path.join(dir, 'w.safetensors');
  lk.saveWeights(tinyModel(), weights);
  const input = path.join(dir, 'data.safetensors');
  lk.writeSafetensors(input, {
    x: { shape: [N, 3, 16, 16], data: images().data },
    y: { shape: [N], data: new Float32Array(N) },
  });
  const args = [
    '--model',
    'resnet50',
    '--weights',
    weights,
    '--config',
    JSON.stringify(CONFIG),
    '--input',
    input,
    '--attack',
    'fgsm',
  ];
  for (const [flag, value] of [
    ['--std', '1e-45,1,1'],
    ['--std', '0,1,1'],
    ['--mean', '1e300,0,0'],
  ]) {
    const e = await t.throwsAsync(attackCommand([...args, flag, value], () => {}));
    t.is(exitCodeOf(e), 2, e.message);
    t.regex(e.message, new RegExp(`attack: ${flag} must be three numbers in`));
  }
});

test('feature variance and ERF refuse non-finite features, naming the batch', async (t) => {
  const model = tinyModel();
  const x = images();
  x.data[5 * 3 * 256] = Infinity;
  const bad = lk.tensorDataset(x, Float32Array.from(y));
  await t.throwsAsync(lk.analyses.featureVariance(model, bad, { batchSize: 4 }), {
    message: /^featureVariance: the model returned non-finite features for batch 1 \(samples 4-7\)$/,
  });
  await t.throwsAsync(lk.analyses.erf(model, bad, { batchSize: 4 }), {
    message: /^erf: the model returned non-finite (features|gradients) for batch 1 \(samples 4-7\)$/,
  });
});
