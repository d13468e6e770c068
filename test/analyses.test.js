// The analyses against independent references: a naive float64 DFT, hand-made saliencies and
// kernels, and float64 recomputations from the model's own hooks (features, attention, skips).
'use strict';
const path = require('path');
const test = require('ava');
const lk = require('..');
const A = require('../lib/suites/analyses');
const { tensorDataset } = require('../lib/io/dataset');
const { rng } = require('./helpers');

const fixtures = path.join(__dirname, 'fixtures', 'models');
function fixtureModel(name) {
  const meta = lk.readSafetensors(path.join(fixtures, `${name}.io.safetensors`)).metadata;
  return lk.loadModel(meta.model, path.join(fixtures, `${name}.safetensors`), JSON.parse(meta.config)).model;
}

function images(n, side, seed = 1) {
  const r = rng(seed);
  return lk.tensor(
    Float32Array.from({ length: n * 3 * side * side }, () => r.next()),
    [n, 3, side, side],
  );
}

// Naive float64 DFT of a real H x W image: {re, im} at every (ky, kx).
function naiveDft(v, H, W) {
  const re = new Float64Array(H * W),
    im = new Float64Array(H * W);
  for (let ky = 0; ky < H; ky++)
    for (let kx = 0; kx < W; kx++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const a = -2 * Math.PI * ((ky * y) / H + (kx * x) / W);
          re[ky * W + kx] += v[y * W + x] * Math.cos(a);
          im[ky * W + kx] += v[y * W + x] * Math.sin(a);
        }
  return { re, im };
}
const freq = (k, n) => (k < n / 2 ? k : k - n); // signed frequency (n even here)

test('dft2 matches a naive DFT and inverts itself', (t) => {
  const H = 6,
    W = 5,
    r = rng(3);
  const v = Float64Array.from({ length: H * W }, () => r.uniform());
  const a = A.dft2({ re: v.slice(), im: new Float64Array(H * W), height: H, width: W });
  const want = naiveDft(v, H, W);
  for (let i = 0; i < H * W; i++) {
    t.true(Math.abs(a.re[i] - want.re[i]) < 1e-12 && Math.abs(a.im[i] - want.im[i]) < 1e-12);
  }
  const back = A.dft2(a, true);
  for (let i = 0; i < H * W; i++) t.true(Math.abs(back.re[i] - v[i]) < 1e-12 && Math.abs(back.im[i]) < 1e-12);
});

test('band noise has its spectrum only in its square annulus and the requested RMS', (t) => {
  const H = 16,
    W = 12;
  const bands = [
    [0, 0.1],
    [0.3, 0.4],
    [0.9, 1.0],
  ];
  const masks = bands.map(([lo, hi]) => A.bandMask(H, W, lo, hi));
  const noises = A.bandNoise(H, W, masks, { std: 0.1 }, 7, 0, 0);
  bands.forEach(([lo, hi], b) => {
    const v = noises[b];
    const rms = Math.sqrt(v.reduce((s, e) => s + e * e, 0) / v.length);
    t.true(Math.abs(rms - 0.1) < 1e-12, `band ${lo}: rms ${rms}`);
    const s = naiveDft(v, H, W);
    let inside = 0,
      outside = 0;
    for (let ky = 0; ky < H; ky++)
      for (let kx = 0; kx < W; kx++) {
        const r = Math.max(Math.abs(freq(ky, H)) / (H / 2), Math.abs(freq(kx, W)) / (W / 2));
        const e = s.re[ky * W + kx] ** 2 + s.im[ky * W + kx] ** 2;
        if (r >= lo - 1e-9 && (r < hi - 1e-9 || (hi === 1 && r <= 1))) inside += e;
        else outside += e;
      }
    t.true(inside > 0);
    t.true(outside / inside < 1e-20, `band ${lo}: energy outside ${outside} vs inside ${inside}`);
  });
  // The same seed keys give the same noise; another sample index another one.
  t.deepEqual(A.bandNoise(H, W, masks, { std: 0.1 }, 7, 0, 0)[1], noises[1]);
  t.notDeepEqual(A.bandNoise(H, W, masks, { std: 0.1 }, 7, 1, 0)[1], noises[1]);
  // The L2 option scales to the norm.
  const l2 = A.bandNoise(H, W, masks, { l2: 2 }, 7, 0, 0)[0];
  t.true(Math.abs(Math.hypot(...l2) - 2) < 1e-12);
});

test('Fourier basis images are unit norm and hold a single frequency pair', (t) => {
  const H = 8,
    W = 8;
  for (const [fy, fx] of [
    [0, 0],
    [1, 2],
    [-3, 1],
    [4, 0],
    [2, -4],
  ]) {
    const u = A.fourierBasis(H, W, fy, fx);
    t.true(Math.abs(Math.hypot(...u) - 1) < 1e-12);
    const s = naiveDft(u, H, W);
    const mod = (k, n) => ((k % n) + n) % n;
    const allowed = new Set([mod(fy, H) * W + mod(fx, W), mod(-fy, H) * W + mod(-fx, W)]);
    for (let i = 0; i < H * W; i++) {
      const e = Math.hypot(s.re[i], s.im[i]);
      if (allowed.has(i)) t.true(e > 0.1, `(${fy}, ${fx}) bin ${i}`);
      else t.true(e < 1e-10, `(${fy}, ${fx}) leaks into bin ${i}: ${e}`);
    }
  }
});

test('occlusion masks: salient and non-salient take the right patches of a hand-made saliency', (t) => {
  const s = [0.05, 0.5, 0.15, 0.3];
  const on = (m) => [...m.keys()].filter((i) => m[i]);
  t.deepEqual(on(A.occlusionMask('salient', 0.5, 4, { saliency: s })), [1]);
  t.deepEqual(on(A.occlusionMask('salient', 0.6, 4, { saliency: s })), [1, 3]);
  t.deepEqual(on(A.occlusionMask('salient', 0.8, 4, { saliency: s })), [1, 3]);
  t.deepEqual(on(A.occlusionMask('salient', 0.81, 4, { saliency: s })), [1, 2, 3]);
  t.deepEqual(on(A.occlusionMask('non-salient', 0.05, 4, { saliency: s })), [0]);
  t.deepEqual(on(A.occlusionMask('non-salient', 0.2, 4, { saliency: s })), [0, 2]);
  t.deepEqual(on(A.occlusionMask('non-salient', 0.5, 4, { saliency: s })), [0, 2, 3]);
  t.deepEqual(on(A.occlusionMask('salient', 0, 4, { saliency: s })), []);
  t.deepEqual(on(A.occlusionMask('salient', 1, 4, { saliency: s })), [0, 1, 2, 3]);
  // Random: round(r N) distinct patches, the same for the same seed.
  const m1 = A.occlusionMask('random', 0.3, 10, { random: A.Rng.keyed(5, 1) });
  t.is(on(m1).length, 3);
  t.deepEqual(A.occlusionMask('random', 0.3, 10, { random: A.Rng.keyed(5, 1) }), m1);
});

test('applyPatchMask zeroes exactly the dropped patches, partial edge patches included', (t) => {
  const x = lk.tensor(new Float32Array(2 * 3 * 5 * 5).fill(1), [2, 3, 5, 5]);
  const grid = A.patchGrid(5, 5, 2);
  t.deepEqual([grid.rows, grid.cols], [3, 3]);
  const mask = new Uint8Array(9);
  mask[1] = 1; // rows 0-1, cols 2-3
  mask[8] = 1; // row 4, col 4 (a 1x1 corner)
  A.applyPatchMask(x, 1, mask, grid);
  for (let n = 0; n < 2; n++)
    for (let c = 0; c < 3; c++)
      for (let r = 0; r < 5; r++)
        for (let q = 0; q < 5; q++) {
          const dropped = n === 1 && ((r < 2 && (q === 2 || q === 3)) || (r === 4 && q === 4));
          t.is(x.data[((n * 3 + c) * 5 + r) * 5 + q], dropped ? 0 : 1);
        }
});

test('saliencies: gradient magnitude and DINO CLS attention summed per patch match recomputations', (t) => {
  const vit = fixtureModel('vit_tiny48');
  const x = images(2, 48, 4);
  const y = Int32Array.from([3, -1]);
  const grid = A.patchGrid(48, 48, 8);
  // Gradient: recompute |d CE / dx| with the predicted class for the unlabelled sample.
  const xg = lk.tensor(x.data.slice(), x.shape, { requiresGrad: true });
  const logits = vit.forward(xg);
  const pred1 = logits.data.slice(10, 20).indexOf(Math.max(...logits.data.slice(10, 20)));
  lk.ops.crossEntropy(logits, [3, pred1], { reduction: 'sum' }).backward();
  const got = A.patchSums(A.gradientSaliency(vit, x, y), grid);
  for (let n = 0; n < 2; n++)
    for (let p = 0; p < 36; p++) {
      let want = 0;
      const r0 = Math.floor(p / 6) * 8,
        c0 = (p % 6) * 8;
      for (let c = 0; c < 3; c++)
        for (let r = r0; r < r0 + 8; r++)
          for (let q = c0; q < c0 + 8; q++) want += Math.abs(xg.grad.data[((n * 3 + c) * 48 + r) * 48 + q]);
      t.true(Math.abs(got[n][p] - want) <= 1e-6 * Math.max(1, want));
    }
  // Attention: the 3x3 ViT grid over 6x6 occlusion patches: each ViT patch covers 2x2 of them, a quarter each.
  const probs = lk.noGrad(() => vit.run(x, { attention: [1] })).attention.get(1);
  const att = A.patchSums(A.attentionSaliency(vit, x), grid);
  for (let n = 0; n < 2; n++)
    for (let p = 0; p < 36; p++) {
      const token = 1 + Math.floor(Math.floor(p / 6) / 2) * 3 + Math.floor((p % 6) / 2);
      const want = (probs.data[n * 2 * 10 * 10 + token] + probs.data[(n * 2 + 1) * 10 * 10 + token]) / 2 / 4;
      t.true(Math.abs(att[n][p] - want) < 1e-6);
    }
});

test('occlusion: ratio 0 keeps clean accuracy, the same seed the same result, and each ratio matches a recomputation', async (t) => {
  const vit = fixtureModel('vit_tiny');
  const x = images(6, 32, 2);
  const y = [0, 1, 2, 3, 4, 5];
  const ds = tensorDataset(x, y);
  const opts = { ratios: [0, 0.25, 0.75], patchSize: 8, seed: 3, batchSize: 4 };
  const r = await A.occlusion(vit, ds, opts);
  t.deepEqual(await A.occlusion(vit, ds, { ...opts, batchSize: 6 }), r, 'independent of the batch size');
  t.is(r.points[0].accuracy, r.clean);
  t.is(r.points[0].patchFraction, 0);
  t.is(r.points[1].patchFraction, 4 / 16);
  const acc = (xs) => {
    const l = lk.noGrad(() => vit.forward(xs));
    let c = 0;
    for (let n = 0; n < 6; n++) {
      const row = Array.from(l.data.slice(n * 10, n * 10 + 10));
      c += row.indexOf(Math.max(...row)) === y[n] ? 1 : 0;
    }
    return c / 6;
  };
  t.is(r.clean, acc(x));
  // Salient with gradient saliency: recompute the masked accuracy from the exposed pieces.
  const s = await A.occlusion(vit, ds, { ...opts, mode: 'salient' });
  const grid = A.patchGrid(32, 32, 8);
  const sal = A.patchSums(A.gradientSaliency(vit, x, Int32Array.from(y)), grid);
  const masked = lk.tensor(x.data.slice(), x.shape);
  for (let n = 0; n < 6; n++)
    A.applyPatchMask(masked, n, A.occlusionMask('salient', 0.75, 16, { saliency: sal[n] }), grid);
  t.is(s.points[2].accuracy, acc(masked));
  t.is(s.points[2].drop, s.clean - s.points[2].accuracy);
  await t.throwsAsync(A.occlusion(vit, ds, { mode: 'middle' }), {
    instanceOf: RangeError,
    message: /mode must be one of/,
  });
  await t.throwsAsync(A.occlusion(vit, ds, { ratios: [1.5] }), { instanceOf: RangeError, message: /ratios\[0\]/ });
  await t.throwsAsync(A.occlusion(vit, ds, { saliency: {} }), { instanceOf: TypeError, message: /saliency/ });
});

test('frequency noise and the Fourier heat map: shapes, symmetry, drops and reproducibility', async (t) => {
  const vit = fixtureModel('vit_tiny');
  const ds = tensorDataset(images(4, 32, 5), [1, 2, 3, 4]);
  const r = await A.frequencyNoise(vit, ds, { bands: [0, 0.5], noise: { std: 0.3 }, seed: 1 });
  t.deepEqual(
    r.bands.map((b) => [b.lo, b.hi]),
    [
      [0, 0.1],
      [0.5, 0.6],
    ],
  );
  r.bands.forEach((b) => t.is(b.drop, r.clean - b.accuracy));
  t.deepEqual(await A.frequencyNoise(vit, ds, { bands: [0, 0.5], noise: { std: 0.3 }, seed: 1, batchSize: 1 }), r);
  const h = await A.fourierHeatmap(vit, ds, { radius: 2, stride: 2, eps: 8 });
  t.deepEqual(h.frequencies, [-2, 0, 2]);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) t.is(h.error[i][j], h.error[2 - i][2 - j]);
  t.true(h.error.flat().every((e) => e >= 0 && e <= 1));
  await t.throwsAsync(A.frequencyNoise(vit, ds, { noise: { std: 0.1, l2: 1 } }), {
    instanceOf: TypeError,
    message: /noise must be/,
  });
  await t.throwsAsync(A.fourierHeatmap(vit, ds, { radius: 17 }), {
    instanceOf: RangeError,
    message: /radius must be at most 16/,
  });
});

test('lesion: n distinct skippable blocks per trial, accuracies equal model.run with those skips', async (t) => {
  const model = fixtureModel('replknet_3b_tiny');
  const blocks = model.skippableBlocks();
  const sets = A.lesionSkipSets(blocks, 3, 10, 0);
  sets.forEach((group, i) =>
    group.forEach((skip) => {
      t.is(new Set(skip).size, i + 1);
      t.true(skip.every((b) => blocks.includes(b)));
    }),
  );
  t.true(new Set(sets[1].map((s) => s.join())).size > 1, 'trials draw different sets');
  const x = images(3, 32, 6),
    y = [1, 5, 7];
  const r = await A.lesion(model, tensorDataset(x, y), { maxBlocks: 2, trials: 3, batchSize: 2 });
  t.is(r.totalBlocks, blocks.length);
  const acc = (skip) => {
    const l = lk.noGrad(() => model.run(x, { skip }).logits);
    let c = 0;
    for (let n = 0; n < 3; n++) {
      const row = Array.from(l.data.slice(n * 10, n * 10 + 10));
      c += row.indexOf(Math.max(...row)) === y[n] ? 1 : 0;
    }
    return c / 3;
  };
  t.is(r.clean, acc([]));
  for (const p of r.points) {
    t.is(p.fraction, p.blocks / blocks.length);
    for (const trial of p.trials) t.is(trial.accuracy, acc(trial.skip));
    const accs = p.trials.map((q) => q.accuracy);
    t.is(p.min, Math.min(...accs));
    t.is(p.max, Math.max(...accs));
  }
  await t.throwsAsync(A.lesion(model, tensorDataset(x, y), { maxBlocks: 99 }), {
    instanceOf: RangeError,
    message: /maxBlocks must be at most/,
  });
});

test('kernel distance: centre-only 0, corner-only 1, a uniform 3x3 by hand; layers as the model holds them', (t) => {
  const w = new Float32Array(3 * 9);
  w[4] = 2; // channel 0: centre only
  w[9 + 8] = -1; // channel 1: a corner only
  for (let i = 0; i < 9; i++) w[18 + i] = 0.5; // channel 2: uniform
  const uniform = (4 * 1 + 4 * Math.SQRT2) / 9 / Math.SQRT2;
  const d = A.kernelDistances(lk.tensor(w, [3, 1, 3, 3]));
  t.is(d[0], 0);
  t.true(Math.abs(d[1] - uniform) < 1e-12);
  t.true(Math.abs(d[2] - 1) < 1e-12);
  const model = fixtureModel('replknet_tiny');
  const r = A.kernelDistance(model, { kernels: /lkb_origin/ });
  t.true(r.layers.length > 0 && r.layers.every((l) => l.key.includes('lkb_origin')));
  // float64 recomputation of one layer.
  const key = 'stages.0.blocks.0.large_kernel.lkb_origin.conv.weight';
  const k = model.depthwiseKernels().get(key);
  const [C, , K] = k.shape,
    R = (K - 1) / 2;
  const want = [];
  for (let c = 0; c < C; c++) {
    let num = 0,
      den = 0;
    for (let i = 0; i < K; i++)
      for (let j = 0; j < K; j++) {
        const a = Math.abs(k.data[(c * K + i) * K + j]);
        num += a * Math.hypot(i - R, j - R);
        den += a;
      }
    want.push(num / den / (R * Math.SQRT2));
  }
  want.sort((a, b) => a - b);
  const got = r.layers.find((l) => l.key === key).distances;
  want.forEach((v, i) => t.true(Math.abs(got[i] - v) < 1e-12));
  model.reparam();
  const large = A.kernelDistance(model, { kernels: /large_kernel/ }).layers;
  t.true(large.length > 0 && large.every((l) => l.key.includes('lkb_reparam')), 'after reparam() the merged kernels');
  t.throws(() => A.kernelDistance(model, { kernels: ['nope.weight'] }), {
    instanceOf: RangeError,
    message: /unknown depthwise kernel/,
  });
});

function varianceRef(f) {
  const [N] = f.shape;
  const spatial = f.shape.length === 4;
  const C = spatial ? f.shape[1] : f.shape[2],
    S = spatial ? f.shape[2] * f.shape[3] : f.shape[1];
  let total = 0;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const v = [];
      for (let s = 0; s < S; s++) v.push(spatial ? f.data[(n * C + c) * S + s] : f.data[(n * S + s) * C + c]);
      const m = v.reduce((a, b) => a + b, 0) / S;
      total += v.reduce((a, b) => a + (b - m) ** 2, 0) / S;
    }
  return total / (N * C);
}

test('feature variance matches a float64 recomputation from model.run features (conv maps and ViT tokens)', async (t) => {
  for (const name of ['replknet_3b_tiny', 'vit_tiny']) {
    const model = fixtureModel(name);
    const x = images(3, 32, 8);
    const r = await A.featureVariance(model, tensorDataset(x, [0, 0, 0]), { batchSize: 2 });
    const features = lk.noGrad(() => model.run(x, { features: true })).features;
    t.deepEqual(
      r.layers.map((l) => l.block),
      model.blockNames(),
    );
    r.layers.forEach((l, i) => {
      const want = varianceRef(features.get(l.block));
      t.true(Math.abs(l.variance - want) <= 1e-9 * Math.max(1, want), `${name} ${l.block}: ${l.variance} vs ${want}`);
      t.is(l.depth, i / (r.layers.length - 1));
      t.true(Math.abs(l.relative - l.variance / r.layers[0].variance) < 1e-12);
    });
  }
});

// One 3x3 convolution as the feature block: its receptive field is the 3x3 around the centre.
class OneConv extends lk.ImageClassifier {
  constructor(weight) {
    super(2, [0, 0, 0], [0.5, 0.25, 1], 9);
    this.weight = weight;
  }
  blockNames() {
    return ['conv'];
  }
  forwardNormalized(x, ctx) {
    const y = ctx.block('conv', x, (v) => lk.ops.conv2d(v, this.weight, { padding: 1 }));
    return lk.ops.reshape(lk.ops.slice(lk.ops.globalAvgPool2d(y), 1, 0, 2), [x.shape[0], 2]);
  }
}

test('ERF: zero outside a 3x3 conv receptive field, the hand-computed gradient inside, area ratios as analyze_erf', async (t) => {
  const r = rng(9);
  const w = Float32Array.from({ length: 2 * 3 * 9 }, () => r.uniform(-1, 1));
  const model = new OneConv(lk.tensor(w, [2, 3, 3, 3]));
  const x = images(3, 9, 10);
  const res = await A.erf(model, tensorDataset(x, [0, 1, 0]), { batchSize: 2 });
  t.is(res.block, 'conv');
  // d relu(out[o, 4, 4]) / d normalised input[c, 4 + dy, 4 + dx] = w[o, c, 1 + dy, 1 + dx] where out > 0.
  const want = new Float64Array(81);
  for (let n = 0; n < 3; n++) {
    const out = lk.noGrad(() => model.run(lk.ops.slice(x, 0, n, n + 1), { features: true })).features.get('conv');
    for (let c = 0; c < 3; c++)
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          let g = 0;
          for (let o = 0; o < 2; o++) if (out.data[o * 81 + 40] > 0) g += w[((o * 3 + c) * 3 + 1 + dy) * 3 + 1 + dx];
          want[(4 + dy) * 9 + 4 + dx] += Math.max(0, g) / 3;
        }
  }
  for (let i = 0; i < 81; i++) {
    const row = Math.floor(i / 9),
      col = i % 9;
    if (Math.abs(row - 4) > 1 || Math.abs(col - 4) > 1)
      t.is(res.raw[i], 0, `outside the receptive field at ${row},${col}`);
    t.true(Math.abs(res.raw[i] - want[i]) < 1e-5, `pixel ${row},${col}: ${res.raw[i]} vs ${want[i]}`);
  }
  const top = Math.max(...want.map((v) => Math.log10(1 + v)));
  res.map.forEach((v, i) => t.true(Math.abs(v - Math.log10(1 + want[i]) / top) < 1e-5));
  // analyze_erf's get_rectangle by hand on a 7x7 map: total 10, the centre 3x3 holds 4, the 5x5 holds 8.
  const m = new Array(49).fill(0);
  m[24] = 2;
  m[16] = 2;
  m[8] = 4;
  m[0] = 2;
  t.deepEqual(A.erfAreaRatio(m, 7, 7, 0.3), { threshold: 0.3, side: 3, ratio: (3 / 7) * (3 / 7) });
  t.deepEqual(A.erfAreaRatio(m, 7, 7, 0.5), { threshold: 0.5, side: 5, ratio: (5 / 7) * (5 / 7) });
  t.deepEqual(A.erfAreaRatio(m, 7, 7, 0.9), { threshold: 0.9, side: null, ratio: null });
  await t.throwsAsync(A.erf(fixtureModel('vit_tiny'), tensorDataset(images(1, 32), [0])), {
    instanceOf: RangeError,
    message: /no block with a spatial/,
  });
});

test('analyses reject bad arguments with errors that name them', async (t) => {
  const vit = fixtureModel('vit_tiny');
  const ds = tensorDataset(images(1, 32), [0]);
  await t.throwsAsync(A.occlusion({}, ds), { instanceOf: TypeError, message: /model must be an ImageClassifier/ });
  await t.throwsAsync(A.lesion(vit, [1, 2]), { instanceOf: TypeError, message: /data must be a LabeledDataset/ });
  await t.throwsAsync(A.featureVariance(vit, ds, { batchSize: 0 }), {
    instanceOf: RangeError,
    message: /batchSize must be an integer >= 1/,
  });
  await t.throwsAsync(A.frequencyNoise(vit, ds, { colour: 'pink' }), {
    instanceOf: RangeError,
    message: /unknown option\(s\) colour/,
  });
  t.throws(() => A.kernelDistance(vit), { instanceOf: RangeError, message: /no depthwise kernels/ });
});
