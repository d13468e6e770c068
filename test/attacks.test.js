// The attacks' invariants and hand-checkable behaviour on linear models (float64 references in the
// test), determinism, option errors and the lkvit attack command. Trajectories against independent
// PyTorch reimplementations are in attacks.fixtures.test.js.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const { rng, linearModel } = require('./helpers');
const { runCli } = require('./cli_run');
const { lossFromLogits } = require('../lib/attacks/loss');

const A = lk.attacks;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-attack-'));

// Float64 reference: the gradient of CE(W x + b, y) w.r.t. x for one sample.
function ceGrad64(W, b, K, D, xs, label) {
  const z = Array.from({ length: K }, (_, k) => b[k] + xs.reduce((s, v, i) => s + W[k * D + i] * v, 0));
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const S = e.reduce((a, v) => a + v, 0);
  const p = e.map((v) => v / S);
  return Array.from({ length: D }, (_, i) =>
    z.reduce((s, _v, k) => s + W[k * D + i] * (p[k] - (k === label ? 1 : 0)), 0),
  );
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test("APGD's checkpoints for 100 iterations are 22, 41, 57, 70, 80, 87, 93, 99", (t) => {
  t.deepEqual(
    A.apgdCheckpoints(100).map((c) => c.iteration),
    [22, 41, 57, 70, 80, 87, 93, 99],
  );
  t.deepEqual(
    A.apgdCheckpoints(100).map((c) => c.window),
    [22, 19, 16, 13, 10, 7, 6, 6],
  );
  // 20 iterations: windows 4, 3, 2, then the minimum 1 (floor(0.06 * 20) = 1): a check after every step.
  t.deepEqual(
    A.apgdCheckpoints(20).map((c) => c.iteration),
    [4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
  );
});

test('PGD L-inf without random start follows the hand-computed float64 trajectory on a linear model', (t) => {
  const { model, x, y, W, b, K, D, N } = linearModel();
  const eps = 8 / 255,
    alpha = 2 / 255,
    steps = 5;
  const r = A.pgd(model, x, y, { eps, alpha, steps, randomStart: false });
  for (let n = 0; n < N; n++) {
    const x0 = Array.from(x.data.subarray(n * D, (n + 1) * D));
    let cur = x0.slice();
    for (let s = 0; s < steps; s++) {
      const g = ceGrad64(W, b, K, D, cur, y[n]);
      cur = cur.map((v, i) =>
        Math.min(1, Math.max(0, Math.min(x0[i] + eps, Math.max(x0[i] - eps, v + alpha * Math.sign(g[i]))))),
      );
    }
    t.true(maxAbsDiff(r.xAdv.data.subarray(n * D, (n + 1) * D), cur) < 1e-6, `sample ${n}`);
  }
});

test('FGSM in normalized space moves each channel by eps * std (clamped to [0, 1])', (t) => {
  const { model, x, y, W, b, K, D, N } = linearModel({ seed: 9 });
  const std = [0.2, 0.25, 0.3],
    eps = 0.05;
  const r = A.fgsm(model, x, y, { eps, space: 'normalized', std });
  const plane = D / 3;
  for (let n = 0; n < N; n++) {
    const x0 = Array.from(x.data.subarray(n * D, (n + 1) * D));
    const g = ceGrad64(W, b, K, D, x0, y[n]);
    const want = x0.map((v, i) => Math.min(1, Math.max(0, v + eps * std[Math.floor(i / plane)] * Math.sign(g[i]))));
    t.true(maxAbsDiff(r.xAdv.data.subarray(n * D, (n + 1) * D), want) < 1e-6);
  }
});

test('every attack stays inside its eps-ball and [0, 1], in pixel and normalized space', (t) => {
  const { model, x, y } = linearModel({ N: 3, seed: 4, scale: 0.3 });
  const std = [0.229, 0.224, 0.225];
  const cases = [
    ['fgsm', {}],
    ['pgd', { steps: 3 }],
    ['pgd', { steps: 3, norm: 'l2', eps: 0.4 }],
    ['apgd-ce', { steps: 5 }],
    ['apgd-dlr', { steps: 5 }],
    ['apgd-t', { steps: 5, numTargets: 2 }],
    ['fab-t', { steps: 5, numTargets: 2 }],
    ['fab-t', { steps: 5, numTargets: 2, norm: 'l2', eps: 0.4, restarts: 2 }],
    ['square', { queries: 30 }],
    ['square', { queries: 30, norm: 'l2', eps: 0.4 }],
    ['autoattack', { steps: 4, queries: 10 }],
    ['taig-s', { steps: 2, points: 3 }],
    ['taig-r', { steps: 2, points: 3 }],
  ];
  for (const space of ['pixel', 'normalized']) {
    for (const [name, extra] of cases) {
      const eps = extra.eps ?? 0.03;
      const r = A.ATTACKS[name](model, x, y, { eps, seed: 1, space, std, ...extra });
      const D = x.size / x.shape[0],
        plane = D / 3;
      for (let i = 0; i < x.size; i++) {
        const v = r.xAdv.data[i];
        t.true(v >= 0 && v <= 1, `${name} ${space}: pixel ${i} = ${v}`);
        if (extra.norm !== 'l2') {
          const bound = space === 'pixel' ? eps : eps * std[Math.floor((i % D) / plane)];
          if (Math.abs(v - x.data[i]) > bound + 1e-6)
            return t.fail(`${name} ${space}: |delta| ${Math.abs(v - x.data[i])} > ${bound}`);
        }
      }
      if (extra.norm === 'l2' && space === 'pixel')
        t.true(Math.max(...r.l2) <= eps + 1e-5, `${name}: L2 ${Math.max(...r.l2)}`);
      t.is(r.robust.length, 3);
    }
  }
});

test('the same seed gives bit-identical adversarial examples; another seed does not', (t) => {
  // Not linear (TAIG-R's random path changes nothing on a linear model): relu(x) first.
  const lin = linearModel({ N: 2, seed: 5, scale: 0.2 });
  const model = (xx) => lin.model(lk.ops.relu(lk.ops.sub(xx, lk.full(xx.shape, 0.5))));
  const { x } = lin;
  const y = Array.from(lk.argmax(lk.noGrad(() => model(x))));
  for (const [name, o] of [
    ['pgd', { steps: 3 }],
    ['square', { queries: 20 }],
    ['square', { queries: 20, norm: 'l2', eps: 0.1 }],
    ['taig-r', { steps: 2, points: 3 }],
    ['apgd-ce', { steps: 5 }],
  ]) {
    const a = A.ATTACKS[name](model, x, y, { eps: 0.02, seed: 7, ...o });
    const b = A.ATTACKS[name](model, x, y, { eps: 0.02, seed: 7, ...o });
    const c = A.ATTACKS[name](model, x, y, { eps: 0.02, seed: 8, ...o });
    t.deepEqual(Buffer.from(a.xAdv.data.buffer), Buffer.from(b.xAdv.data.buffer), name);
    t.notDeepEqual(Buffer.from(a.xAdv.data.buffer), Buffer.from(c.xAdv.data.buffer), name);
  }
});

test("the losses match their definitions and their gradients match central differences (float64; cross-entropy to float32, the op's)", (t) => {
  const r = rng(11);
  const N = 3,
    K = 6;
  const logits = Float32Array.from({ length: N * K }, () => r.uniform(-3, 3));
  const y = Int32Array.from([0, 3, 5]),
    target = Int32Array.from([2, 1, 4]);
  const sorted = (row) => row.slice().sort((a, b) => b - a);
  const defs = {
    ce: (z, n) => Math.log(z.reduce((s, v) => s + Math.exp(v), 0)) - z[y[n]],
    'ce-targeted': (z, n) => -(Math.log(z.reduce((s, v) => s + Math.exp(v), 0)) - z[target[n]]),
    dlr: (z, n) => {
      const s = sorted(z);
      const other = Math.max(...z.filter((_, j) => j !== y[n]));
      return -(z[y[n]] - other) / (s[0] - s[2] + 1e-12);
    },
    'dlr-targeted': (z, n) => {
      const s = sorted(z);
      return -(z[y[n]] - z[target[n]]) / (s[0] - 0.5 * (s[2] + s[3]) + 1e-12);
    },
    margin: (z, n) => Math.max(...z.filter((_, j) => j !== y[n])) - z[y[n]],
    logit: (z, n) => -z[y[n]],
  };
  for (const [name, f] of Object.entries(defs)) {
    const { loss, dlogits } = lossFromLogits(name, logits, N, K, y, target);
    for (let n = 0; n < N; n++) {
      const z = Array.from(logits.subarray(n * K, (n + 1) * K));
      // Cross-entropy is ops.crossEntropy (float32); the margin losses are float64 here.
      const tol = name.startsWith('ce') ? 1e-6 * Math.max(1, Math.abs(f(z, n))) : 1e-9;
      t.true(Math.abs(loss[n] - f(z, n)) < tol, `${name} loss: ${loss[n]} vs ${f(z, n)}`);
      for (let j = 0; j < K; j++) {
        const h = 1e-6,
          zp = z.slice(),
          zm = z.slice();
        zp[j] += h;
        zm[j] -= h;
        const fd = (f(zp, n) - f(zm, n)) / (2 * h);
        t.true(Math.abs(dlogits[n * K + j] - fd) < 1e-4, `${name} d/dz${j}: ${dlogits[n * K + j]} vs ${fd}`);
      }
    }
  }
});

test('targeted PGD reaches the target class on a linear model', (t) => {
  const { model, x, y, K } = linearModel({ N: 4, seed: 6 });
  const target = y.map((l) => (l + 1) % K);
  const r = A.pgd(model, x, y, { eps: 0.5, steps: 20, alpha: 0.05, target });
  t.deepEqual(Array.from(r.advPred), target);
});

test("PGD restarts keep each sample's first success, else its highest loss", (t) => {
  const { model, x, y } = linearModel({ N: 4, seed: 12, scale: 0.05 });
  const one = A.pgd(model, x, y, { eps: 0.01, steps: 2, seed: 3 });
  const three = A.pgd(model, x, y, { eps: 0.01, steps: 2, seed: 3, restarts: 3 });
  // The first restart is the single run; later ones can only make a sample worse for the model.
  const ce = (xa) =>
    lk.ops.crossEntropy(
      lk.noGrad(() => model(xa)),
      y,
      { reduction: 'none' },
    ).data;
  const l1 = ce(one.xAdv),
    l3 = ce(three.xAdv);
  for (let n = 0; n < 4; n++) t.true(l3[n] >= l1[n] - 1e-6 || !three.robust[n]);
});

test('Square stays within its query budget and stops querying fooled samples', (t) => {
  const { model, x, y } = linearModel({ N: 3, seed: 7, scale: 0.5 });
  const r = A.square(model, x, y, { eps: 0.3, queries: 50, seed: 2 });
  t.true(r.queries.every((q) => q >= 1 && q <= 50));
  for (let n = 0; n < 3; n++) if (!r.robust[n]) t.true(r.queries[n] < 50 || r.advPred[n] !== y[n]);
  t.is(
    r.robust.reduce((a, b) => a + b, 0),
    0,
    'a strong linear model is fooled at eps 0.3',
  );
  const weak = A.square(model, x, y, { eps: 1e-4, queries: 20, seed: 2 });
  t.true(
    weak.queries.every((q) => q === 20),
    'robust samples use the whole budget',
  );
});

test('APGD-T and the ensemble: robust accuracy never rises along the ensemble, and matches the returned points', (t) => {
  const { model, x, y } = linearModel({ N: 6, seed: 8, scale: 0.05 });
  const r = A.autoAttack(model, x, y, { eps: 0.03, steps: 10, queries: 20, seed: 1 });
  t.deepEqual(
    r.log.map((l) => l.attack),
    ['apgd-ce', 'apgd-t', 'fab-t', 'square'],
  );
  for (let i = 1; i < r.log.length; i++) t.true(r.log[i].robustAccuracy <= r.log[i - 1].robustAccuracy);
  const pred = lk.argmax(lk.noGrad(() => model(r.xAdv)));
  t.deepEqual(Array.from(pred), Array.from(r.advPred));
  t.is(r.log[r.log.length - 1].robustAccuracy, lk.summarize(r).robustAccuracy);
  // A point the ensemble leaves robust is returned unchanged (AutoAttack's convention).
  const D = x.size / 6;
  for (let n = 0; n < 6; n++)
    if (r.robust[n]) t.is(maxAbsDiff(r.xAdv.data.subarray(n * D, (n + 1) * D), x.data.subarray(n * D, (n + 1) * D)), 0);
});

test('runAttack: batches, a surrogate judged on the target, and per-batch seeds', async (t) => {
  const a = linearModel({ N: 5, seed: 13 });
  const other = linearModel({ N: 5, seed: 14 });
  const data = lk.tensorDataset(a.x, a.y);
  const whole = await A.runAttack(a.model, data, {
    attack: 'pgd',
    options: { eps: 0.03, steps: 3, randomStart: false },
    batchSize: 5,
  });
  const split = await A.runAttack(a.model, data, {
    attack: 'pgd',
    options: { eps: 0.03, steps: 3, randomStart: false },
    batchSize: 2,
  });
  t.deepEqual(whole.xAdv.data, split.xAdv.data, 'deterministic steps do not depend on the batch size');
  const transfer = await A.runAttack(other.model, data, { attack: 'fgsm', options: { eps: 0.05 }, surrogate: a.model });
  const crafted = A.fgsm(a.model, a.x, a.y, { eps: 0.05 });
  t.deepEqual(transfer.xAdv.data, crafted.xAdv.data);
  t.deepEqual(Array.from(transfer.advPred), Array.from(lk.argmax(lk.noGrad(() => other.model(crafted.xAdv)))));
  t.true(transfer.summary.transfer);
  await t.throwsAsync(A.runAttack(a.model, data, { attack: 'pgdd', options: { eps: 1 } }), {
    instanceOf: RangeError,
    message: /attack must be one of 'fgsm', 'pgd'/,
  });
});

test('bad arguments get errors naming them', (t) => {
  const { model, x, y } = linearModel({ N: 2 });
  t.throws(() => A.pgd(model, x, y, {}), { instanceOf: TypeError, message: /pgd: option 'eps' is required/ });
  t.throws(() => A.pgd(model, x, y, { eps: -1 }), { instanceOf: RangeError, message: /pgd: eps must be >= 0/ });
  t.throws(() => A.pgd(model, x, y, { eps: 0.1, stepz: 3 }), {
    instanceOf: TypeError,
    message: /unknown option 'stepz'/,
  });
  t.throws(() => A.pgd(model, x, [0], { eps: 0.1 }), { instanceOf: RangeError, message: /y must hold 2 labels/ });
  t.throws(() => A.pgd(model, lk.tensor(new Float32Array(2 * 3 * 36).fill(2), [2, 3, 6, 6]), y, { eps: 0.1 }), {
    instanceOf: RangeError,
    message: /pixels in \[0, 1\]/,
  });
  t.throws(() => A.pgd(model, x, y, { eps: 0.1, space: 'normalized' }), {
    instanceOf: TypeError,
    message: /needs the model's std/,
  });
  t.throws(() => A.fabT(model, x, y, { eps: 0.1, target: [0, 1] }), {
    instanceOf: TypeError,
    message: /fabT: option 'target' is not supported/,
  });
  t.throws(() => A.fabT(model, x, y, { eps: 0.1, eta: 0.5 }), {
    instanceOf: RangeError,
    message: /fabT: eta must be >= 1/,
  });
  t.throws(() => A.apgdT((xx) => lk.ops.slice(model(xx), 1, 0, 3), x, [0, 1], { eps: 0.1 }), {
    instanceOf: RangeError,
    message: /needs at least 4 classes/,
  });
  t.throws(() => A.pgd(() => lk.zeros([2, 5]), x, y, { eps: 0.1 }), {
    instanceOf: TypeError,
    message: /do not depend on x/,
  });
});

const run = runCli;

test('lkvit attack writes x_adv and the figures (pgd, fab-t, square L2); bad flags exit 2 with one line', async (t) => {
  const dir = path.join(__dirname, 'fixtures', 'models');
  const io = lk.readSafetensors(path.join(dir, 'vit_tiny.io.safetensors'));
  const meta = io.metadata;
  const config = JSON.stringify({ ...JSON.parse(meta.config), mean: JSON.parse(meta.mean), std: JSON.parse(meta.std) });
  const { model } = lk.loadModel(meta.model, path.join(dir, 'vit_tiny.safetensors'), JSON.parse(config));
  const x = io.tensors.get('x');
  const y = lk.argmax(lk.noGrad(() => model.forward(lk.tensor(x.data, x.shape))));
  const input = path.join(tmp, 'data.safetensors');
  lk.writeSafetensors(input, {
    x: { shape: x.shape, data: x.data },
    y: { shape: [y.length], data: Float32Array.from(y) },
  });
  const out = path.join(tmp, 'adv.safetensors'),
    json = path.join(tmp, 'adv.json');
  const base = [
    'attack',
    '--model',
    meta.model,
    '--weights',
    path.join(dir, 'vit_tiny.safetensors'),
    '--config',
    config,
    '--input',
    input,
  ];
  const r = await run([...base, '--attack', 'pgd', '--eps', '8/255', '--steps', '3', '--out', out, '--json', json]);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /clean accuracy\s+100\.00%/);
  const written = lk.readSafetensors(out).tensors;
  const api = A.pgd(model, lk.tensor(x.data, x.shape), Array.from(y), { eps: 8 / 255, steps: 3, seed: 0 });
  t.deepEqual(written.get('x_adv').data, api.xAdv.data);
  const report = JSON.parse(fs.readFileSync(json, 'utf8'));
  t.is(report.summary.robustAccuracy, lk.summarize(api).robustAccuracy);
  t.is(report.settings.eps, 8 / 255);
  // FAB-T and Square L2 through the command, as the API gives them.
  for (const [argv, api] of [
    [
      ['--attack', 'fab-t', '--steps', '2', '--eps', '8/255'],
      (xx) => A.fabT(model, xx, Array.from(y), { eps: 8 / 255, steps: 2 }),
    ],
    [
      ['--attack', 'square', '--norm', 'l2', '--queries', '4'],
      (xx) => A.square(model, xx, Array.from(y), { eps: 0.5, norm: 'l2', queries: 4 }),
    ],
  ]) {
    const file = path.join(tmp, `${argv[1]}.safetensors`);
    const e = await run([...base, ...argv, '--out', file]);
    t.is(e.code, 0, e.err);
    t.deepEqual(
      lk.readSafetensors(file).tensors.get('x_adv').data,
      api(lk.tensor(x.data, x.shape)).xAdv.data,
      argv.join(' '),
    );
  }
  for (const [argv, msg] of [
    [['--attack', 'pgdd'], /--attack must be one of/],
    [['--eps', '-4/255'], /--eps must be a non-negative number or fraction/],
    [['--attack', 'fgsm', '--steps', '3'], /--steps does not apply to --attack fgsm/],
    [['--attack', 'fab-t', '--queries', '3'], /--queries does not apply to --attack fab-t/],
    [['--surrogate', 'vit_ti16'], /--surrogate and --surrogate-weights go together/],
  ]) {
    const e = await run([...base, ...argv]);
    t.is(e.code, 2);
    t.regex(e.err, msg);
    t.is(e.err.trim().split('\n').length, 1);
  }
  const missing = await run([
    'attack',
    '--model',
    meta.model,
    '--weights',
    path.join(dir, 'vit_tiny.safetensors'),
    '--config',
    config,
    '--input',
    path.join(tmp, 'nope.safetensors'),
  ]);
  t.is(missing.code, 2, 'a missing input file is a usage error');
  t.is(missing.err.trim().split('\n').length, 1);
});

test('attackCurve: one attack run per eps or step count, as the attacks give alone; lkvit analyze attack-curve plots it', async (t) => {
  const { model, x, y } = linearModel({ N: 6, seed: 21, scale: 0.05 });
  const data = lk.tensorDataset(x, y);
  const r = await lk.analyses.attackCurve(model, data, { attack: 'fgsm', values: [0, 0.01, 0.05], batchSize: 4 });
  t.is(r.points.length, 3);
  t.is(r.points[0].accuracy, r.clean);
  for (const p of r.points) t.is(p.accuracy, lk.summarize(A.fgsm(model, x, y, { eps: p.value })).robustAccuracy);
  const steps = await lk.analyses.attackCurve(model, data, {
    attack: 'pgd',
    sweep: 'steps',
    values: [1, 3],
    options: { eps: 0.02, randomStart: false },
  });
  t.is(
    steps.points[1].accuracy,
    lk.summarize(A.pgd(model, x, y, { eps: 0.02, steps: 3, randomStart: false })).robustAccuracy,
  );
  await t.throwsAsync(
    lk.analyses.attackCurve(model, data, { attack: 'pgd', sweep: 'steps', values: [1.5], options: { eps: 0.1 } }),
    { message: /steps values must be integers/ },
  );
  const svg = lk.analyses.plotAttackCurve([
    { label: 'linear', result: r },
    { label: 'again', result: r },
  ]);
  t.regex(svg, /FGSM attack/);
  t.regex(svg, /Perturbation budget eps/);
});
