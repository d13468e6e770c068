// The adversarial-patch attack: the patch stays in its square (every other pixel bit for bit), in
// [0, 1], is seeded, raises the loss of a small ViT, and one step on a linear model matches a float64
// reference written here; runAttack and `lkvit attack --attack patch`.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const helpers = require('./helpers');
const { rng } = helpers;
const { runCli } = require('./cli_run');

const A = lk.attacks;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-patch-'));

// The shared linear model with this file's sizes (3 samples of 3x8x8, 4 classes) and inputs in [0.05, 0.95].
const linearModel = (o = {}) =>
  helpers.linearModel({ N: 3, side: 8, K: 4, seed: 5, scale: 0.5, lo: 0.05, hi: 0.95, ...o });

// The changed pixels of each sample: their bounding box [x0, y0, x1, y1] (inclusive) over all channels.
function changedBox(x, xAdv, n) {
  const [, C, H, W] = x.shape;
  let box = null;
  for (let c = 0; c < C; c++)
    for (let r = 0; r < H; r++)
      for (let q = 0; q < W; q++) {
        const i = ((n * C + c) * H + r) * W + q;
        if (Object.is(x.data[i], xAdv.data[i])) continue;
        box = box ? [Math.min(box[0], q), Math.min(box[1], r), Math.max(box[2], q), Math.max(box[3], r)] : [q, r, q, r];
      }
  return box;
}

function ce64(logits, K, n, label) {
  const z = Array.from(logits.subarray(n * K, (n + 1) * K));
  const m = Math.max(...z);
  return m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) - z[label];
}

test('patch at a given location: only its P x P square changes (bit for bit elsewhere), values in [0, 1]', (t) => {
  const { model, x, y, N, side } = linearModel();
  const r = A.patch(model, x, y, { patchSize: 3, steps: 4, alpha: 0.1, location: [4, 2], seed: 2 });
  for (let i = 0; i < x.size; i++) t.true(r.xAdv.data[i] >= 0 && r.xAdv.data[i] <= 1);
  for (let n = 0; n < N; n++) {
    const box = changedBox(x, r.xAdv, n);
    t.truthy(box, `sample ${n} unchanged`);
    t.true(box[0] >= 4 && box[1] >= 2 && box[2] <= 6 && box[3] <= 4, `sample ${n}: box ${box}`);
  }
  t.is(side, 8);
  t.true(
    r.linf.every((v) => v > 0.1),
    'a random start moves the patch far from the image',
  );
});

test('random locations: one square per image, drawn from the seed (same seed, same bits; another seed, other places)', (t) => {
  const { model, x, y, N } = linearModel({ N: 6, side: 12 });
  const o = { patchSize: 4, steps: 2, alpha: 0.05, seed: 9 };
  const a = A.patch(model, x, y, o),
    b = A.patch(model, x, y, o),
    c = A.patch(model, x, y, { ...o, seed: 10 });
  t.deepEqual(a.xAdv.data, b.xAdv.data);
  t.notDeepEqual(a.xAdv.data, c.xAdv.data);
  const corners = new Set();
  for (let n = 0; n < N; n++) {
    const box = changedBox(x, a.xAdv, n);
    t.true(box[2] - box[0] < 4 && box[3] - box[1] < 4, `sample ${n}: box ${box} wider than the patch`);
    corners.add(`${box[0]},${box[1]}`);
  }
  t.true(corners.size > 1, 'every image got the same place');
  // align 4 on a 12-pixel image: corners at 0, 4 or 8 only.
  const al = A.patch(model, x, y, { ...o, align: 4, init: 'random', steps: 0 });
  for (let n = 0; n < N; n++) {
    const box = changedBox(x, al.xAdv, n);
    t.is(box[0] % 4, 0);
    t.is(box[1] % 4, 0);
  }
});

test('one step from the image on a linear model matches a float64 reference: clip(x + alpha sign(grad CE)) in the square', (t) => {
  const { model, x, y, W, b, K, D, N, side } = linearModel({ N: 2, seed: 11 });
  const P = 3,
    px = 1,
    py = 4,
    alpha = 0.07;
  const r = A.patch(model, x, y, { patchSize: P, steps: 1, alpha, location: [px, py], init: 'image' });
  for (let n = 0; n < N; n++) {
    const xs = Array.from(x.data.subarray(n * D, (n + 1) * D));
    const z = Array.from({ length: K }, (_, k) => b[k] + xs.reduce((s, v, i) => s + W[k * D + i] * v, 0));
    const m = Math.max(...z),
      e = z.map((v) => Math.exp(v - m)),
      S = e.reduce((s, v) => s + v, 0);
    const g = Array.from({ length: D }, (_, i) =>
      z.reduce((s, _v, k) => s + W[k * D + i] * (e[k] / S - (k === y[n] ? 1 : 0)), 0),
    );
    for (let i = 0; i < D; i++) {
      const q = i % side,
        row = Math.floor(i / side) % side;
      const inside = q >= px && q < px + P && row >= py && row < py + P;
      const want = inside ? Math.fround(Math.min(1, Math.max(0, xs[i] + alpha * Math.sign(g[i])))) : xs[i];
      t.is(r.xAdv.data[n * D + i], want, `sample ${n} pixel ${i}`);
    }
  }
});

test('the patch raises the loss of a small ViT over its random start', (t) => {
  const model = lk.createModel('vit_ti16', {
    imageSize: 16,
    patchSize: 4,
    embedDim: 16,
    depth: 1,
    numHeads: 2,
    numClasses: 5,
  });
  const r = rng(3);
  const x = lk.tensor(
    Float32Array.from({ length: 4 * 3 * 16 * 16 }, () => r.uniform(0, 1)),
    [4, 3, 16, 16],
  );
  const y = Array.from(lk.argmax(lk.noGrad(() => model.forward(x))));
  const o = { patchSize: 6, alpha: 0.05, seed: 4 };
  const loss = (res) => {
    const logits = lk.noGrad(() => model.forward(res.xAdv)).data;
    return y.map((label, n) => ce64(logits, 5, n, label));
  };
  const start = loss(A.patch(model, x, y, { ...o, steps: 0 }));
  const after = loss(A.patch(model, x, y, { ...o, steps: 10 }));
  for (let n = 0; n < 4; n++) t.true(after[n] > start[n] + 1e-3, `sample ${n}: ${start[n]} -> ${after[n]}`);
});

test('patch: bad options fail naming the option', (t) => {
  const { model, x, y } = linearModel();
  t.throws(() => A.patch(model, x, y, {}), { message: /option 'patchSize' is required/ });
  t.throws(() => A.patch(model, x, y, { patchSize: 9 }), { message: /patchSize/ });
  t.throws(() => A.patch(model, x, y, { patchSize: 3, eps: 0.1 }), { message: /option 'eps' does not apply/ });
  t.throws(() => A.patch(model, x, y, { patchSize: 3, location: [6, 0] }), { message: /location\[0\] \(x\)/ });
  t.throws(() => A.patch(model, x, y, { patchSize: 3, location: 'center' }), { message: /location must be \[x, y\]/ });
  t.throws(() => A.patch(model, x, y, { patchSize: 3, init: 'zeros' }), {
    message: /init must be 'random' or 'image'/,
  });
  t.throws(() => A.patch(model, x, y, { patchSize: 3, steps: 1.5 }), { message: /steps/ });
});

const run = runCli;

test("runAttack and lkvit attack --attack patch give the API's images; patch flags are checked", async (t) => {
  const model = lk.createModel('vit_ti16', {
    imageSize: 16,
    patchSize: 4,
    embedDim: 16,
    depth: 1,
    numHeads: 2,
    numClasses: 5,
  });
  const weights = path.join(tmp, 'vit.safetensors');
  lk.saveWeights(model, weights);
  const r = rng(8);
  const x = lk.tensor(
    Float32Array.from({ length: 3 * 3 * 16 * 16 }, () => r.uniform(0, 1)),
    [3, 3, 16, 16],
  );
  const y = Array.from(lk.argmax(lk.noGrad(() => model.forward(x))));
  const input = path.join(tmp, 'data.safetensors'),
    out = path.join(tmp, 'adv.safetensors');
  lk.writeSafetensors(input, {
    x: { shape: x.shape, data: x.data },
    y: { shape: [y.length], data: Float32Array.from(y) },
  });
  const base = ['attack', '--weights', weights, '--input', input, '--attack', 'patch'];
  const c = await run([
    ...base,
    '--patch-size',
    '5',
    '--steps',
    '3',
    '--alpha',
    '4/255',
    '--location',
    '2,7',
    '--out',
    out,
  ]);
  t.is(c.code, 0, c.err);
  const api = A.patch(model, x, y, { patchSize: 5, steps: 3, alpha: 4 / 255, location: [2, 7], seed: 0 });
  t.deepEqual(lk.readSafetensors(out).tensors.get('x_adv').data, api.xAdv.data);
  const ra = await A.runAttack(model, lk.tensorDataset(x, y), {
    attack: 'patch',
    options: { patchSize: 5, steps: 3, alpha: 4 / 255, location: [2, 7] },
    batchSize: 3,
  });
  t.deepEqual(ra.xAdv.data, api.xAdv.data);
  for (const [argv, msg] of [
    [[], /--attack patch needs --patch-size P/],
    [['--patch-size', '4', '--eps', '8/255'], /--eps does not apply to --attack patch/],
    [['--patch-size', '4', '--location', '3'], /--location must be x,y/],
    [
      ['--patch-size', '4', '--location', '20,0'],
      /--location 20,0 puts the 4x4 patch outside the 16x16 images \(x <= 12, y <= 12\)/,
    ],
    [['--patch-size', '17'], /--patch-size 17 is larger than the 16x16 images/],
  ]) {
    const e = await run([...base, ...argv]);
    t.is(e.code, 2, `${argv.join(' ')}: ${e.err}`);
    t.regex(e.err, msg);
  }
  const pgd = await run(['attack', '--weights', weights, '--input', input, '--attack', 'pgd', '--patch-size', '4']);
  t.is(pgd.code, 2);
  t.regex(pgd.err, /--patch-size and --location apply to --attack patch only/);
});
