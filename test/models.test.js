// Model parity: every family's small configuration, with random weights, against logits, input
// gradients and train-mode logits that PyTorch computed (test/fixtures/make_model_fixtures.py),
// loaded through the same loaders users use. Plus the analysis hooks, strict loading and saving.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('ava');
const lk = require('..');
const { relErr, modelFixture: fixture, loadModelFixture: load, MODEL_FIXTURES: dir } = require('./helpers');

const TOL = 1e-4;

// deit/xcit: the robust-ViT models (their own checks: test/models.robust_vit.test.js).
const FAMILIES = [
  'replknet_tiny',
  'replknet_xl_tiny',
  'replknet_3b_tiny',
  'vit_tiny',
  'vit_tiny48',
  'convnext_tiny_k7',
  'convnext_tiny_k13',
  'resnet_tiny',
  'bit_tiny',
  'deit_tiny',
  'xcit_tiny',
  'xcit_p8_tiny',
];

for (const name of FAMILIES) {
  test(`${name}: eval logits and input gradient match PyTorch`, (t) => {
    const { f, model, report } = load(name);
    t.deepEqual(report, { missing: [], unexpected: [], mismatched: [] });
    const y = lk.noGrad(() => model.forward(f.x()));
    t.deepEqual(y.shape, f.get('logits').shape);
    t.true(relErr(y.data, f.get('logits').data) <= TOL, `logits rel err ${relErr(y.data, f.get('logits').data)}`);
    // The gradient an attack step uses: d(sum of cross-entropy) / d(input in [0, 1]).
    const x = f.x();
    x.requiresGrad = true;
    lk.ops.crossEntropy(model.forward(x), Array.from(f.get('labels').data), { reduction: 'sum' }).backward();
    t.true(
      relErr(x.grad.data, f.get('grad_x').data) <= TOL,
      `grad rel err ${relErr(x.grad.data, f.get('grad_x').data)}`,
    );
    t.true(
      model.namedParameters().every(([, p]) => p.grad === null || p.grad === undefined),
      'no weight gradient computed',
    );
  });
}

for (const name of ['replknet_tiny', 'replknet_xl_tiny', 'resnet_tiny', 'xcit_tiny', 'xcit_p8_tiny']) {
  test(`${name}: train-mode logits (batch statistics) match PyTorch and update the running stats`, (t) => {
    const { f, model } = load(name);
    const before = [...model.stateDict()].find(([k]) => k.endsWith('running_mean'))[1].data.slice();
    model.train();
    const y = lk.noGrad(() => model.forward(f.x()));
    t.true(relErr(y.data, f.get('logits_train').data) <= TOL, `rel err ${relErr(y.data, f.get('logits_train').data)}`);
    const after = [...model.stateDict()].find(([k]) => k.endsWith('running_mean'))[1].data;
    t.notDeepEqual(Array.from(after), Array.from(before));
  });
}

test('replknet: reparam() gives the same logits, matches PyTorch merge_kernel, and loads merged checkpoints', (t) => {
  const { f, model } = load('replknet_tiny');
  const plain = lk.noGrad(() => model.forward(f.x()));
  model.reparam();
  t.true(model.isReparameterized);
  const merged = lk.noGrad(() => model.forward(f.x()));
  t.true(relErr(merged.data, plain.data) <= 1e-5, `reparam vs plain ${relErr(merged.data, plain.data)}`);
  t.true(relErr(merged.data, f.get('logits_reparam').data) <= TOL);
  const keys = [...model.stateDict().keys()];
  t.true(keys.includes('stages.2.blocks.0.large_kernel.lkb_reparam.weight'));
  t.false(keys.some((k) => k.includes('lkb_origin') || k.includes('small_conv')));
  // The official merged checkpoint layout loads into a fresh model.
  const fromFile = load('replknet_tiny', 'replknet_tiny.reparam.safetensors').model;
  t.true(fromFile.isReparameterized);
  const y = lk.noGrad(() => fromFile.forward(f.x()));
  t.true(relErr(y.data, f.get('logits').data) <= TOL);
});

test('a torch.save .pth checkpoint ({model: ..., module. prefixes}) loads and gives the same logits', (t) => {
  const { f, model } = load('resnet_tiny', 'resnet_tiny.pth');
  const y = lk.noGrad(() => model.forward(f.x()));
  t.true(relErr(y.data, f.get('logits').data) <= TOL);
});

test('strict loading lists every missing, unexpected and mismatched key in one error; non-strict loads the rest', (t) => {
  const f = fixture('resnet_tiny');
  const state = lk.loadStateDict(path.join(dir, 'resnet_tiny.safetensors'));
  state.delete('layer1.0.conv1.weight');
  state.delete('fc.bias');
  state.set('extra.weight', { shape: [2], data: new Float32Array(2), dtype: 'F32' });
  state.set('bn1.weight', { shape: [3], data: new Float32Array(3), dtype: 'F32' });
  const model = lk.createModel(f.model, f.options);
  const err = t.throws(() => model.loadStateDict(state), { instanceOf: lk.StateDictError });
  t.regex(err.message, /2 missing.*1 unexpected.*1 mismatched/s);
  t.regex(err.message, /layer1\.0\.conv1\.weight/);
  t.regex(err.message, /fc\.bias/);
  t.regex(err.message, /extra\.weight/);
  t.regex(err.message, /bn1\.weight \(model \[8\], file \[3\]\)/);
  t.deepEqual(err.report.missing.sort(), ['fc.bias', 'layer1.0.conv1.weight']);
  const conv1Before = model.conv1.weight.data.slice();
  t.deepEqual(Array.from(model.conv1.weight.data), Array.from(conv1Before), 'a failed strict load changes nothing');
  const report = model.loadStateDict(state, { strict: false });
  t.deepEqual(report.unexpected, ['extra.weight']);
  t.deepEqual(Array.from(model.conv1.weight.data), Array.from(state.get('conv1.weight').data));
});

test('saveWeights writes a safetensors file that loads back to the same logits', (t) => {
  const { f, model } = load('convnext_tiny_k7');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-')), 'w.safetensors');
  lk.saveWeights(model, file);
  const again = lk.loadModel(f.model, file, f.options).model;
  const a = lk.noGrad(() => model.forward(f.x())),
    b = lk.noGrad(() => again.forward(f.x()));
  t.deepEqual(Array.from(b.data), Array.from(a.data));
});

test('hooks: block outputs, skipped blocks, attention maps and depthwise kernels', (t) => {
  const { f, model } = load('replknet_tiny');
  const names = model.blockNames();
  t.deepEqual(names.slice(0, 4), ['stem', 'stages.0.blocks.0', 'stages.0.blocks.1', 'transitions.0']);
  const r = lk.noGrad(() => model.run(f.x(), { features: true }));
  t.deepEqual([...r.features.keys()], names);
  t.deepEqual(r.features.get('stem').shape, [2, 8, 16, 16]);
  // Skipping a residual block is the identity on its input: the next block sees the previous output.
  const skip = 'stages.2.blocks.1';
  const s = lk.noGrad(() => model.run(f.x(), { features: [skip, 'stages.2.blocks.0'], skip: [skip] }));
  t.deepEqual(Array.from(s.features.get(skip).data), Array.from(s.features.get('stages.2.blocks.0').data));
  t.true(relErr(s.logits.data, r.logits.data) > 1e-3, 'skipping a block changes the logits');
  t.throws(() => model.run(f.x(), { skip: ['transitions.0'] }), {
    instanceOf: RangeError,
    message: /skip names unknown block/,
  });
  const kernels = model.depthwiseKernels();
  t.deepEqual(kernels.get('stages.0.blocks.0.large_kernel.lkb_origin.conv.weight').shape, [8, 1, 31, 31]);
  t.deepEqual(kernels.get('stages.3.blocks.0.large_kernel.small_conv.conv.weight').shape, [32, 1, 5, 5]);

  const vit = load('vit_tiny48').model;
  const v = lk.noGrad(() => vit.run(fixture('vit_tiny48').x(), { attention: [1] }));
  t.deepEqual([...v.attention.keys()], [1]);
  const probs = v.attention.get(1);
  t.deepEqual(probs.shape, [2, 2, 10, 10]);
  for (let row = 0; row < 40; row++) {
    let sum = 0;
    for (let j = 0; j < 10; j++) sum += probs.data[row * 10 + j];
    t.true(Math.abs(sum - 1) < 1e-5);
  }
});

test('models reject bad inputs and options with clear errors', (t) => {
  const { model } = load('vit_tiny');
  t.throws(() => model.forward(lk.zeros([1, 3, 48, 48])), { instanceOf: RangeError, message: /takes 32x32 images/ });
  t.throws(() => model.forward(lk.zeros([1, 1, 32, 32])), {
    instanceOf: RangeError,
    message: /x must have shape \[N, 3, H, W\]/,
  });
  t.throws(() => lk.createModel('replknet99'), {
    instanceOf: RangeError,
    message: /unknown model 'replknet99'; known models: replknet31b/,
  });
  t.throws(() => lk.createModel('convnext_tiny', { kernelSize: 8 }), {
    instanceOf: RangeError,
    message: /kernelSize must be an odd integer/,
  });
  t.throws(() => lk.createModel('resnet50', { kernelSizes: [3] }), {
    instanceOf: RangeError,
    message: /unknown option\(s\) kernelSizes/,
  });
  t.throws(() => lk.createModel('replknet31b', { smallKernel: 5, kernelSizes: [3, 3, 3, 3] }), {
    instanceOf: RangeError,
    message: /smallKernel 5 must not exceed/,
  });
});

test('architectures: parameter counts of the full-size models match the published ones', (t) => {
  // Published counts (millions): RepLKNet-31B 79, ViT-B/16 86.6, ResNet-50 25.6, ConvNeXt-T 28.6.
  const count = (name) => lk.nn.withoutInit(() => lk.createModel(name)).numParameters();
  t.is(count('resnet50'), 25557032);
  t.is(count('vit_b16'), 86567656);
  t.is(count('convnext_tiny'), 28589128);
  t.true(Math.abs(count('replknet31b') / 1e6 - 79) < 1.5);
});

test('eval mode folds BN into convs for frozen weights only, and weightsChanged() drops the folded copy', (t) => {
  const { f, model } = load('replknet_tiny');
  const before = lk.noGrad(() => model.forward(f.x()));
  // Edited in place: the folded weights are stale until weightsChanged().
  const w = model.stem.items[0].conv.weight;
  const keep = w.data.slice();
  w.data.fill(0);
  t.deepEqual(Array.from(lk.noGrad(() => model.forward(f.x())).data), Array.from(before.data));
  const zeroed = lk.noGrad(() => model.weightsChanged().forward(f.x()));
  t.true(relErr(zeroed.data, before.data) > 1e-3);
  w.data.set(keep);
  model.weightsChanged();
  // With trainable weights the unfolded path runs, so weight gradients reach the conv and the BN.
  model.setRequiresGrad(true);
  const y = model.forward(f.x());
  t.true(relErr(y.data, before.data) <= 1e-5);
  lk.ops.crossEntropy(y, [1, 2]).backward();
  t.truthy(w.grad);
  t.truthy(model.stem.items[0].bn.weight.grad);
  t.true(w.grad.data.some((v) => v !== 0));
});
