// Training: the optimisers, clipping and the cosine schedule against PyTorch itself
// (test/fixtures/train/make_train_fixtures.py), fit against a float64 reimplementation of the same
// training on a linear model, drop path, TRADES' loss, adversarial examples, and resumption from a
// checkpoint giving the same weights as an uninterrupted run.
'use strict';
const test = require('ava');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { lk, rng, assertClose } = require('./helpers');

const fx = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'train', 'train.json'), 'utf8'));

const params = () => fx.shapes.map((s, i) => [`p${i}`, lk.tensor(Float32Array.from(fx.params0[i]), s)]);

function optimizerFor(kind, options, ps) {
  const o = { ...options };
  if ('weight_decay' in o) {
    o.weightDecay = o.weight_decay;
    delete o.weight_decay;
  }
  if (kind === 'sgd') return new lk.SGD(ps, o);
  return new lk.AdamW(ps, o);
}

for (const [name, c] of Object.entries(fx.optim)) {
  test(`${name} follows torch.optim step by step`, (t) => {
    const ps = params();
    const opt = optimizerFor(c.kind, c.options, ps);
    fx.grads.forEach((gs, step) => {
      opt.lr = fx.lrs[step];
      ps.forEach(([, p], i) => (p.grad = lk.tensor(Float32Array.from(gs[i]), fx.shapes[i])));
      opt.step();
      ps.forEach(([, p], i) => assertClose(t, p.data, c.trajectory[step][i], 2e-6, `${name} step ${step} param ${i}`));
    });
  });
}

test('optimiser state round-trips through stateDict: the continued trajectory is the same', (t) => {
  const c = fx.optim.adamw_custom;
  const ps = params();
  const opt = optimizerFor(c.kind, c.options, ps);
  const stepWith = (o, step) => {
    o.lr = fx.lrs[step];
    ps.forEach(([, p], i) => (p.grad = lk.tensor(Float32Array.from(fx.grads[step][i]), fx.shapes[i])));
    o.step();
  };
  for (let s = 0; s < 3; s++) stepWith(opt, s);
  const fresh = optimizerFor(c.kind, c.options, ps);
  fresh.loadStateDict(opt.stateDict());
  for (let s = 3; s < 6; s++) stepWith(fresh, s);
  ps.forEach(([, p], i) => assertClose(t, p.data, c.trajectory[5][i], 2e-6, `param ${i}`));
  t.throws(() => new lk.SGD(ps, { lr: 0.1, momentum: 0.9 }).loadStateDict(opt.stateDict()), {
    message: /unexpected entry 'p0.exp_avg/,
  });
});

test('clipGradNorm matches clip_grad_norm_ (norm returned, gradients scaled only above maxNorm)', (t) => {
  for (const c of fx.clip) {
    const ps = params();
    ps.forEach(([, p], i) => (p.grad = lk.tensor(Float32Array.from(fx.grads[0][i]), fx.shapes[i])));
    const norm = lk.clipGradNorm(ps, c.maxNorm);
    t.true(Math.abs(norm - c.norm) < 1e-5 * c.norm);
    ps.forEach(([, p], i) => assertClose(t, p.grad.data, c.grads[i], 1e-6, `grad ${i}`));
  }
});

test('cosineLr after its warm-up equals CosineAnnealingLR; the warm-up rises linearly to baseLr', (t) => {
  for (const c of fx.cosine) {
    const warm = 3;
    const lr = lk.cosineLr({ baseLr: c.baseLr, minLr: c.minLr, totalSteps: warm + c.steps, warmupSteps: warm });
    for (let s = 0; s < warm; s++) t.true(Math.abs(lr(s) - (c.baseLr * (s + 1)) / warm) < 1e-15);
    c.lrs.forEach((want, s) =>
      t.true(Math.abs(lr(warm + s) - want) <= 1e-12 * c.baseLr, `step ${s}: ${lr(warm + s)} vs ${want}`),
    );
  }
  t.throws(() => lk.cosineLr({ baseLr: 0.1, totalSteps: 5, warmupSteps: 6 }), {
    message: /warmupSteps must be an integer in \[0, totalSteps = 5\]/,
  });
});

// ---- fit on a linear model against float64 ---------------------------------------------------------

const { Linear48, linearData, referenceLinearFit } = require('./linear_fit');

test('fit equals a float64 reimplementation of the same training (linear model, full batch)', async (t) => {
  lk.manualSeed(3);
  const model = new Linear48();
  const W0 = model.fc.weight.data.slice(),
    b0 = model.fc.bias.data.slice();
  const { x, y, ds } = linearData(12, 5);
  const settings = { epochs: 6, lr: 0.5, minLr: 0.01, momentum: 0.9, wd: 0.01, smoothing: 0.1, clip: 0.3 };
  const { history } = await lk.fit(model, ds, {
    epochs: settings.epochs,
    batchSize: 12,
    optimizer: { type: 'sgd', lr: settings.lr, momentum: settings.momentum, nesterov: true, weightDecay: settings.wd },
    warmupEpochs: 1,
    minLr: settings.minLr,
    labelSmoothing: settings.smoothing,
    clipGradNorm: settings.clip,
    validation: ds,
  });
  const ref = referenceLinearFit(W0, b0, x, y, settings);
  assertClose(t, model.fc.weight.data, ref.W, 1e-5, 'weight');
  assertClose(t, model.fc.bias.data, ref.b, 1e-5, 'bias');
  t.is(history.length, 6);
  t.true(history[5].trainLoss < history[0].trainLoss);
  t.true(history.every((h) => h.valAccuracy >= 0 && h.valAccuracy <= 1 && h.seconds >= 0));
  t.false(model.training);
  t.false(model.fc.weight.requiresGrad, 'requiresGrad restored');
});

// ---- layers and losses -----------------------------------------------------------------------------

test('DropPath: identity in eval; in train each sample is dropped or scaled by 1/(1-rate); rates rise linearly', (t) => {
  const dp = new lk.nn.DropPath(0.25);
  const x = lk.tensor(
    Float32Array.from({ length: 400 * 6 }, (_, i) => 1 + (i % 6)),
    [400, 6],
  );
  t.is(dp.forward(x), x);
  dp.train();
  const y = dp.forward(x).data;
  let dropped = 0;
  for (let n = 0; n < 400; n++) {
    const row = Array.from(y.subarray(n * 6, n * 6 + 6));
    if (row.every((v) => v === 0)) dropped++;
    else
      t.deepEqual(
        row.map((v, i) => Math.abs(v - (1 + i) / 0.75) < 1e-6),
        Array(6).fill(true),
      );
  }
  t.true(dropped > 70 && dropped < 130, `${dropped} of 400 dropped at rate 0.25`);
  t.deepEqual(
    lk.nn.dropPathRates(0.3, 4).map((r) => +r.toFixed(12)),
    [0, 0.1, 0.2, 0.3],
  );
  t.throws(() => new lk.nn.DropPath(1), { message: /rate must be a number in \[0, 1\)/ });
});

test('tradesLoss is CE + beta * mean KL(p_clean || p_adv), with the KL gradient reaching both logits', (t) => {
  const r = rng(9);
  const a = r.array([3, 4], -2, 2),
    b = r.array([3, 4], -2, 2),
    y = [1, 3, 0];
  const clean = lk.tensor(Float32Array.from(a.data), [3, 4], { requiresGrad: true });
  const adv = lk.tensor(Float32Array.from(b.data), [3, 4], { requiresGrad: true });
  const loss = lk.train.tradesLoss(clean, adv, Int32Array.from(y), 2, 0);
  const logp = (z) =>
    z.map((row) => {
      const m = Math.max(...row);
      const l = Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) + m;
      return row.map((v) => v - l);
    });
  const rows = (d) => [0, 1, 2].map((n) => Array.from(d.slice(n * 4, n * 4 + 4)));
  const lc = logp(rows(a.data)),
    la = logp(rows(b.data));
  let ce = 0,
    kl = 0;
  for (let n = 0; n < 3; n++) {
    ce -= lc[n][y[n]] / 3;
    for (let k = 0; k < 4; k++) kl += (Math.exp(lc[n][k]) * (lc[n][k] - la[n][k])) / 3;
  }
  t.true(Math.abs(loss.data[0] - (ce + 2 * kl)) < 1e-5);
  loss.backward();
  // d/d adv = beta * (p_adv - p_clean) / N
  const want = la.flatMap((row, n) => row.map((v, k) => (2 * (Math.exp(v) - Math.exp(lc[n][k]))) / 3));
  assertClose(t, adv.grad.data, want, 1e-5, 'grad adv');
  t.truthy(clean.grad);
});

test('PGD-AT examples stay in the eps-ball and [0,1] and raise the loss; eps ramps over warmupEpochs', (t) => {
  lk.manualSeed(4);
  const model = new Linear48();
  const { ds } = linearData(8, 2);
  return ds.load(0, 8).then(({ x, y }) => {
    const a = lk.train.checkAdversarial('t', { method: 'pgd-at', eps: 0.1, steps: 5 });
    const xa = lk.train.pgdExamples(model, x, y, a, 0.5, new lk.Rng(1));
    let linf = 0;
    for (let i = 0; i < x.size; i++) {
      linf = Math.max(linf, Math.abs(xa.data[i] - x.data[i]));
      t.true(xa.data[i] >= 0 && xa.data[i] <= 1);
    }
    t.true(linf <= 0.05 + 1e-6 && linf > 0.04, `linf ${linf} for eps 0.1 at ramp 0.5`);
    const ce = (z) => lk.noGrad(() => lk.ops.crossEntropy(model.forward(z), y)).data[0];
    t.true(ce(xa) > ce(x));
    t.deepEqual(
      [0, 0.5, 1, 2, 3].map((e) => lk.train.epsRamp(2, e)),
      [0, 0.25, 0.5, 1, 1],
    );
    t.false(model.fc.weight.requiresGrad);
  });
});

// ---- resumption ------------------------------------------------------------------------------------

function tinyRepLKNet() {
  return new lk.RepLKNet(
    {
      kernelSizes: [7, 5],
      layers: [1, 1],
      channels: [8, 8],
      smallKernel: 3,
      dwRatio: 1,
      ffnRatio: 2,
      numClasses: 4,
      stemStride: 2,
      dropPathRate: 0.2,
    },
    [0.5, 0.5, 0.5],
    [0.25, 0.25, 0.25],
  );
}

function imageData(n, seed) {
  const r = rng(seed);
  const x = r.array([n, 3, 16, 16], 0, 1);
  return lk.tensorDataset(
    lk.tensor(Float32Array.from(x.data), x.shape),
    Int32Array.from({ length: n }, (_, i) => i % 4),
  );
}

const flip = (x, r) => {
  const [N, C, H, W] = x.shape,
    out = x.data.slice();
  for (let n = 0; n < N; n++)
    if (r.uniform() < 0.5)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) {
            const o = ((n * C + c) * H + h) * W;
            out[o + w] = x.data[o + W - 1 - w];
          }
  return lk.tensor(out, x.shape);
};

test('an aborted adversarial run resumed from its checkpoint ends with the weights of an uninterrupted run', async (t) => {
  const ds = imageData(24, 7);
  const options = (extra) => ({
    epochs: 3,
    batchSize: 8,
    seed: 11,
    warmupEpochs: 1,
    labelSmoothing: 0.1,
    clipGradNorm: 5,
    augment: flip,
    optimizer: { type: 'adamw', lr: 3e-3, weightDecay: 0.05 },
    adversarial: { method: 'pgd-at', eps: 0.03, steps: 2, warmupEpochs: 1 },
    ...extra,
  });
  lk.manualSeed(1);
  const whole = tinyRepLKNet();
  const full = await lk.fit(whole, ds, options({}));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-fit-'));
  const ckpt = path.join(dir, 'run.safetensors');
  lk.manualSeed(1);
  const first = tinyRepLKNet();
  const stop = { aborted: false };
  const err = await t.throwsAsync(
    lk.fit(
      first,
      ds,
      options({
        checkpoint: ckpt,
        signal: stop,
        onStep: (s) => {
          if (s.epoch === 2 && s.step === 2) stop.aborted = true;
        },
      }),
    ),
  );
  t.is(err.name, 'AbortError');
  lk.manualSeed(99); // different initial weights: everything must come from the checkpoint
  const resumed = tinyRepLKNet();
  const steps = [];
  const rest = await lk.fit(
    resumed,
    ds,
    options({ checkpoint: ckpt, resume: true, onStep: (s) => steps.push(s.epoch) }),
  );
  t.deepEqual([...new Set(steps)], [2, 3], 'resumes at the epoch after the last checkpoint');
  for (const [k, v] of whole.stateDict()) t.deepEqual(resumed.stateDict().get(k).data, v.data, k);
  const strip = (h) => h.map(({ seconds, ...m }) => m);
  t.deepEqual(strip(rest.history), strip(full.history));
  t.is(full.history[0].eps < 0.03, true);
  t.is(full.history[2].eps, 0.03);
  await t.throwsAsync(lk.fit(tinyRepLKNet(), ds, options({ checkpoint: ckpt, resume: true, batchSize: 4 })), {
    message: /written with other settings/,
  });
  fs.rmSync(dir, { recursive: true });
});

test('TRADES trains and fit validates its options', async (t) => {
  const ds = imageData(16, 3);
  lk.manualSeed(2);
  const m = tinyRepLKNet();
  const before = m.head.weight.data.slice();
  const r = await lk.fit(m, ds, {
    epochs: 1,
    batchSize: 8,
    adversarial: { method: 'trades', eps: 0.03, steps: 2, beta: 3 },
  });
  t.true(Number.isFinite(r.history[0].trainLoss));
  t.notDeepEqual(m.head.weight.data, before);
  const bad = (o, re) => t.throwsAsync(lk.fit(m, ds, o), { message: re });
  await bad({}, /epochs is required/);
  await bad({ epochs: 0 }, /epochs must be an integer/);
  await bad({ epochs: 1, batchSize: 100 }, /batchSize 100 exceeds the 16 training samples/);
  await bad({ epochs: 1, batchSize: 8, optimizer: { type: 'adam', lr: 1 } }, /optimizer.type must be 'sgd' or 'adamw'/);
  await bad({ epochs: 1, batchSize: 8, optimizer: { type: 'sgd', lr: -1 } }, /SGD: lr must be/);
  await bad(
    { epochs: 1, batchSize: 8, adversarial: { method: 'trades', eps: -1 } },
    /adversarial.eps must be a number > 0/,
  );
  await bad({ epochs: 1, lr: 0.1 }, /unknown option 'lr'/);
  await bad({ epochs: 1, batchSize: 8, resume: true }, /resume needs checkpoint/);
});
