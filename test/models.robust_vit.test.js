// The models of the robust-ViT work: DeiT-S (timm's VisionTransformer with ImageNet mean/std) and
// XCiT-S12 (timm's xcit.py). Their parity with PyTorch definitions written to timm's code
// (bench/torch_models.py, test/fixtures/make_model_fixtures.py) runs in test/models.test.js; here:
// timm's keys, full-size parameter counts, any image size, and the L2 normalisation XCA composes
// from LayerNorm against a float64 reference.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const { l2NormalizeLastDim } = require('../lib/models/xcit');
const { withoutInit } = require('../lib/nn');
const { relErr, loadModelFixture: load } = require('./helpers');

// Eval logits and input gradients of deit_tiny, xcit_tiny and xcit_p8_tiny, and XCiT's train-mode
// logits, are rows of test/models.test.js (FAMILIES); these are XCiT's own checks.

test('xcit: timm key names, and every parameter matters (perturbing any one moves the logits)', (t) => {
  const { f, model } = load('xcit_tiny');
  const keys = [...model.stateDict().keys()];
  for (const k of [
    'patch_embed.proj.0.0.weight',
    'patch_embed.proj.6.1.running_var',
    'pos_embed.token_projection.weight',
    'blocks.1.attn.temperature',
    'blocks.0.local_mp.conv2.weight',
    'blocks.0.local_mp.bn.running_mean',
    'blocks.0.gamma3',
    'cls_attn_blocks.1.attn.q.bias',
    'cls_attn_blocks.0.gamma2',
    'cls_token',
    'norm.weight',
    'head.bias',
  ])
    t.true(keys.includes(k), k);
  const base = lk.noGrad(() => model.forward(f.x())).data.slice();
  for (const [k, p] of model.namedParameters()) {
    if (!/temperature|gamma|cls_token|token_projection\.bias/.test(k)) continue;
    const saved = p.data.slice();
    for (let i = 0; i < p.data.length; i++) p.data[i] *= 1.5;
    const moved = relErr(lk.noGrad(() => model.forward(f.x())).data, base);
    p.data.set(saved);
    t.true(moved > 1e-4, `${k} does not change the logits`);
  }
});

test("deit_s16 and xcit_s12 build at full size with timm's parameter counts (22.05 M, 26.25 M) and ImageNet normalisation", (t) => {
  const counts = {};
  for (const name of ['deit_s16', 'xcit_s12']) {
    const model = withoutInit(() => lk.createModel(name));
    counts[name] = model.namedParameters().reduce((n, [, p]) => n + p.size, 0);
    t.deepEqual(model.mean, lk.IMAGENET_MEAN);
    t.deepEqual(model.std, lk.IMAGENET_STD);
  }
  // Exact counts of the PyTorch definitions (bench/torch_models.py); timm lists 22.05 M and 26.25 M.
  t.deepEqual(counts, { deit_s16: 22050664, xcit_s12: 26253304 });
  const listed = Object.fromEntries(lk.listModels().map((m) => [m.name, m.weights]));
  t.regex(listed.deit_s16, /deit_small_patch16_224\.fb_in1k/);
  t.regex(listed.xcit_s12, /xcit_small_12_p16_224\.fb_in1k/);
});

test('xcit: works at any image size (non-square grids too) and records its blocks; skipping one changes the logits', (t) => {
  const { model } = load('xcit_p8_tiny');
  const x = lk.tensor(
    Float32Array.from({ length: 3 * 40 * 24 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2),
    [1, 3, 40, 24],
  );
  const r = lk.noGrad(() => model.run(x, { features: true }));
  t.deepEqual(r.logits.shape, [1, 10]);
  t.deepEqual([...r.features.keys()], ['blocks.0', 'cls_attn_blocks.0']);
  t.deepEqual(r.features.get('blocks.0').shape, [1, 15, 16]); // 5 x 3 tokens
  t.deepEqual(r.features.get('cls_attn_blocks.0').shape, [1, 16, 16]);
  const skipped = lk.noGrad(() => model.run(x, { features: true, skip: ['blocks.0'] }));
  t.notDeepEqual(Array.from(skipped.logits.data), Array.from(r.logits.data));
});

test('xcit: a saved model loads back by its recorded name to the same logits', (t) => {
  const { f, model } = load('xcit_tiny');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-xcit-')), 'w.safetensors');
  lk.saveWeights(model, file);
  const again = lk.loadModel(file).model;
  t.is(again.modelName, 'xcit_s12');
  t.deepEqual(
    Array.from(lk.noGrad(() => again.forward(f.x())).data),
    Array.from(lk.noGrad(() => model.forward(f.x())).data),
  );
});

test('xcit: the official facebookresearch/xcit layout (pos_embeder, fused class-attention qkv) loads to the same logits', (t) => {
  const { f } = load('xcit_tiny');
  const state = lk.loadStateDict(path.join(__dirname, 'fixtures', 'models', 'xcit_tiny.safetensors'));
  const official = new Map();
  for (const [k, e] of state) {
    const m = /^(cls_attn_blocks\.\d+\.attn\.)([qkv])\.(weight|bias)$/.exec(k);
    if (!m) official.set(k.replace(/^pos_embed\./, 'pos_embeder.'), e);
    else if (m[2] === 'q') {
      const parts = ['q', 'k', 'v'].map((n) => state.get(`${m[1]}${n}.${m[3]}`));
      const data = new Float32Array(3 * e.data.length);
      parts.forEach((p, i) => data.set(p.data, i * e.data.length));
      official.set(`${m[1]}qkv.${m[3]}`, { shape: [3 * e.shape[0], ...e.shape.slice(1)], data });
    }
  }
  t.true(official.has('pos_embeder.token_projection.weight') && official.has('cls_attn_blocks.1.attn.qkv.bias'));
  const model = lk.createModel(f.model, f.options);
  t.deepEqual(model.loadStateDict(official), { missing: [], unexpected: [], mismatched: [] });
  const y = lk.noGrad(() => model.forward(f.x()));
  t.true(relErr(y.data, f.get('logits').data) <= 1e-4, `rel err ${relErr(y.data, f.get('logits').data)}`);
  // A fused qkv that does not split in three is reported, not silently cut.
  official.set('cls_attn_blocks.0.attn.qkv.bias', { shape: [95], data: new Float32Array(95) });
  const err = t.throws(() => lk.createModel(f.model, f.options).loadStateDict(official), {
    instanceOf: lk.StateDictError,
  });
  t.regex(err.message, /cls_attn_blocks\.0\.attn\.qkv\.bias/);
});

test('l2NormalizeLastDim: F.normalize (x / max(|x|, 1e-12)) and its gradient against float64, on hostile rows', (t) => {
  const T = 7;
  const rows = [
    [1, 2, 3, 4, 5, 6, 7],
    [0, 0, 0, 0, 0, 0, 0], // normalize gives zeros, with a finite gradient
    [1e-20, 0, 0, 0, 0, 0, 0], // below the 1e-12 floor: x / 1e-12
    [3e4, -4e4, 0, 0, 0, 0, 1e-3],
    [-1, 1, -1, 1, -1, 1, -1],
    [5, 5, 5, 5, 5, 5, 5], // constant rows: a LayerNorm of x alone would give zeros here
  ];
  const x = lk.tensor(Float32Array.from(rows.flat()), [2, 3, T]);
  x.requiresGrad = true;
  const w = rows.map((_, i) => Array.from({ length: T }, (_, j) => Math.sin(3 * i + j)));
  const y = l2NormalizeLastDim(x);
  lk.ops.sum(lk.ops.mul(y, lk.tensor(Float32Array.from(w.flat()), [2, 3, T]))).backward();
  const want = [],
    grad = [];
  rows.forEach((r, i) => {
    const xs = Float32Array.from(r);
    const norm = Math.sqrt(xs.reduce((s, v) => s + v * v, 0));
    const d = Math.max(norm, 1e-12);
    const n = Array.from(xs, (v) => v / d);
    want.push(...n);
    // d/dx of w . x/|x| = (w - n (n . w)) / |x| above the floor; w / 1e-12 below it.
    const nw = n.reduce((s, v, j) => s + v * w[i][j], 0);
    grad.push(...w[i].map((wj, j) => (norm > 1e-12 ? (wj - n[j] * nw) / norm : wj / 1e-12)));
  });
  const rowErr = (got, ref, i) =>
    relErr(got.slice(i * T, (i + 1) * T), Float64Array.from(ref.slice(i * T, (i + 1) * T)));
  rows.forEach((r, i) => {
    if (i === 1) {
      t.deepEqual(Array.from(y.data.slice(T, 2 * T)), new Array(T).fill(0));
      t.true(Array.from(x.grad.data.slice(T, 2 * T)).every(Number.isFinite));
      return;
    }
    t.true(rowErr(y.data, want, i) <= 1e-5, `row ${i} value ${rowErr(y.data, want, i)}`);
    t.true(rowErr(x.grad.data, grad, i) <= 1e-4, `row ${i} grad ${rowErr(x.grad.data, grad, i)}`);
  });
});

test('xcit: a bad configuration is refused with the option and what was expected', (t) => {
  t.throws(() => lk.createModel('xcit_s12', { patchSize: 4 }), { message: /patchSize must be 16 or 8/ });
  t.throws(() => lk.createModel('xcit_s12', { embedDim: 36, numHeads: 6 }), {
    message: /embedDim 36 must be a multiple of 8/,
  });
  t.throws(() => lk.createModel('xcit_s12', { embedDim: 64, numHeads: 3 }), { message: /multiple of numHeads 3/ });
  t.throws(() => lk.createModel('xcit_s12', { clsAttnLayers: 0 }), {
    message: /clsAttnLayers must be a positive integer/,
  });
  t.throws(() => lk.createModel('xcit_s12', { imageSize: 224 }), {
    message: /unknown option\(s\) imageSize for xcit_s12/,
  });
  t.throws(() => lk.createModel('xcit_s12', { depth: 1e6, embedDim: 1e5 }), { message: /more than the 2147483648/ });
  t.throws(() => lk.createModel('deit_s16', { patchSize: 15 }), {
    message: /imageSize 224 must be a multiple of patchSize 15/,
  });
});
