// Everything above the ops on the emulated CUDA backend: fit({ device: 'cuda' }) against the same
// float64 reference training as on the CPU (test/linear_fit.js), runAttack({ device: 'cuda' })
// against PyTorch's input gradient (FGSM's step is its sign), the CLI's --device flag against
// PyTorch's logits, and the clear errors when CUDA is asked for and absent.
// LKVIT_CUDA_TEST_REAL=1 (bench/gpu/run.sh on a GPU) runs them on the real addon instead.
'use strict';
const REAL = process.env.LKVIT_CUDA_TEST_REAL === '1';
if (REAL) delete process.env.LKVIT_CUDA_EMULATED;
else process.env.LKVIT_CUDA_EMULATED = '1';
const path = require('path');
const { spawnSync } = require('child_process');
const test = require('ava');
const { lk, assertClose, relErr, loadModelFixture, MODEL_FIXTURES } = require('./helpers');
const { Linear48, linearData, referenceLinearFit } = require('./linear_fit');
const { buildEmulated } = require('../native/cuda/build-emulated');
const { runCli } = require('./cli_run');

test.before(async () => {
  if (!REAL) await buildEmulated();
  else if (lk.cuda.info().backend !== 'cuda')
    throw new Error(`LKVIT_CUDA_TEST_REAL=1 but CUDA is not available: ${lk.cuda.info().reason}`);
});

test.serial("fit({ device: 'cuda' }) equals the float64 reimplementation of the same training", async (t) => {
  lk.manualSeed(3);
  const model = new Linear48();
  const W0 = model.fc.weight.data.slice(),
    b0 = model.fc.bias.data.slice();
  const { x, y, ds } = linearData(12, 5);
  const settings = { epochs: 6, lr: 0.5, minLr: 0.01, momentum: 0.9, wd: 0.01, smoothing: 0.1, clip: 0.3 };
  const { history } = await lk.fit(model, ds, {
    device: 'cuda',
    epochs: settings.epochs,
    batchSize: 12,
    optimizer: { type: 'sgd', lr: settings.lr, momentum: settings.momentum, nesterov: true, weightDecay: settings.wd },
    warmupEpochs: 1,
    minLr: settings.minLr,
    labelSmoothing: settings.smoothing,
    clipGradNorm: settings.clip,
    validation: ds,
  });
  t.is(model.device, 'cuda', 'the model stays on the device it trained on');
  const ref = referenceLinearFit(W0, b0, x, y, settings);
  assertClose(t, model.fc.weight.toArray(), ref.W, 1e-5, 'weight');
  assertClose(t, model.fc.bias.toArray(), ref.b, 1e-5, 'bias');
  t.true(history[5].trainLoss < history[0].trainLoss);
  await t.throwsAsync(lk.fit(model, ds, { epochs: 1, device: 'tpu' }), {
    message: /^fit: device must be 'cpu' or 'cuda', got 'tpu'/,
  });
});

test.serial(
  "runAttack({ device: 'cuda' }): FGSM steps along the sign of PyTorch's input gradient; the model moves back",
  async (t) => {
    const { f, model } = loadModelFixture('resnet_tiny');
    const x = f.x();
    const labels = Int32Array.from(f.get('labels').data);
    const eps = 2 / 255;
    const r = await lk.runAttack(model, lk.tensorDataset(x, labels), {
      attack: 'fgsm',
      options: { eps },
      batchSize: 2,
      device: 'cuda',
    });
    t.is(model.device, 'cpu', 'moved back after the run');
    const g = f.get('grad_x').data,
      x0 = x.data,
      adv = r.xAdv.data;
    let checked = 0,
      wrong = 0;
    const big = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < g.length; i++) {
      if (Math.abs(g[i]) < 1e-4 * big) continue; // a sign float32 rounding may flip
      const want = Math.min(1, Math.max(0, x0[i] + eps * Math.sign(g[i])));
      checked++;
      if (Math.abs(adv[i] - Math.fround(want)) > 1e-6) wrong++;
    }
    t.true(checked > 0.9 * g.length);
    t.true(wrong <= 0.001 * checked, `${wrong} of ${checked} pixels off the sign of PyTorch's gradient`);
  },
);

test.serial(
  'lkvit predict --device cuda writes the logits PyTorch computed; auto never picks the emulation',
  async (t) => {
    const io = lk.readSafetensors(path.join(MODEL_FIXTURES, 'vit_tiny.io.safetensors'));
    const out = path.join(require('os').tmpdir(), `lkvit-device-${process.pid}.safetensors`);
    for (const device of ['cuda', 'auto']) {
      const r = await runCli([
        'predict',
        '--model',
        io.metadata.model,
        '--weights',
        path.join(MODEL_FIXTURES, 'vit_tiny.safetensors'),
        '--config',
        io.metadata.config,
        '--input',
        path.join(MODEL_FIXTURES, 'vit_tiny.io.safetensors'),
        '--key',
        'x',
        '--out',
        out,
        '--device',
        device,
      ]);
      t.is(r.code, 0, r.err);
      const logits = lk.readSafetensors(out).tensors.get('logits');
      t.true(relErr(logits.data, io.tensors.get('logits').data) <= 1e-4, device);
    }
    const bad = await runCli([
      'predict',
      '--weights',
      path.join(MODEL_FIXTURES, 'vit_tiny.safetensors'),
      '--model',
      'vit_b16',
      '--config',
      io.metadata.config,
      '--input',
      path.join(MODEL_FIXTURES, 'vit_tiny.io.safetensors'),
      '--key',
      'x',
      '--out',
      out,
      '--device',
      'gpu',
    ]);
    t.not(bad.code, 0);
    t.regex(bad.err, /predict: --device must be cpu, cuda or auto, got 'gpu'/);
  },
);

(REAL ? test.skip : test.serial)(
  `asking for cuda where there is none is a clear error (CLI and library)${REAL ? ' (skipped: a real device is there)' : ''}`,
  (t) => {
    const out = path.join(require('os').tmpdir(), `lkvit-device-none-${process.pid}.safetensors`);
    // A fresh process without the emulation: the real addon is missing or finds no driver here.
    const env = { ...process.env };
    delete env.LKVIT_CUDA_EMULATED;
    const cli = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
    // lkvit predict on the ViT fixture, in a fresh process with the given extra flags and environment.
    const predict = (extra, environment) =>
      spawnSync(
        process.execPath,
        [
          cli,
          'predict',
          '--weights',
          path.join(MODEL_FIXTURES, 'vit_tiny.safetensors'),
          '--model',
          'vit_b16',
          '--input',
          path.join(MODEL_FIXTURES, 'vit_tiny.io.safetensors'),
          '--key',
          'x',
          '--out',
          out,
          ...extra,
        ],
        { env: environment, encoding: 'utf8' },
      );
    const r = predict(['--device', 'cuda'], env);
    t.not(r.status, 0);
    t.regex(r.stderr, /predict: --device: cuda was asked for, but CUDA is not available: /);
    const lib = spawnSync(
      process.execPath,
      ['-e', "const lk = require('.'); lk.tensor([1], [1], { device: 'cuda' })"],
      { env, encoding: 'utf8', cwd: path.join(__dirname, '..') },
    );
    t.not(lib.status, 0);
    t.regex(lib.stderr, /lkvit: CUDA is not available: /);
    const env2 = { ...env, LKVIT_DEVICE: 'cuda' };
    const r2 = predict([], env2);
    t.regex(r2.stderr, /LKVIT_DEVICE: cuda was asked for, but CUDA is not available/);
  },
);

test.serial("analyses take { device: 'cuda' }: the same counts as on the CPU, and the model moves back", async (t) => {
  const { f, model } = loadModelFixture('replknet_tiny');
  const ds = lk.tensorDataset(f.x(), Int32Array.from(f.get('labels').data));
  const opts = { bands: [0, 0.5], seed: 7 };
  const cpu = await lk.analyses.frequencyNoise(model, ds, opts);
  const dev = await lk.analyses.frequencyNoise(model, ds, { ...opts, device: 'cuda' });
  t.is(model.device, 'cpu');
  t.is(dev.cleanCorrect, cpu.cleanCorrect);
  t.deepEqual(dev.bands, cpu.bands);
  await t.throwsAsync(lk.analyses.lesion(model, ds, { device: 'gpu' }), {
    message: /^lesion: device must be 'cpu' or 'cuda', got 'gpu'/,
  });
});
