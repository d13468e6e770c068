// Model parity on the emulated CUDA backend: every family's small configuration moved with
// model.to('cuda') against the logits, input gradients and train-mode logits PyTorch computed
// (test/fixtures/models, the fixtures test/models.test.js uses on the CPU). Inputs are given both
// ways: a CPU batch (copied in, logits copied back) and a device batch (everything stays there).
// LKVIT_CUDA_TEST_REAL=1 (bench/gpu/run.sh on a GPU) runs them on the real addon instead.
'use strict';
const REAL = process.env.LKVIT_CUDA_TEST_REAL === '1';
if (REAL) delete process.env.LKVIT_CUDA_EMULATED;
else process.env.LKVIT_CUDA_EMULATED = '1';
const BACKEND = REAL ? 'cuda' : 'cuda-emulated';
const test = require('ava');
const lk = require('..');
const { relErr, loadModelFixture: load } = require('./helpers');
const { buildEmulated } = require('../native/cuda/build-emulated');

const TOL = 1e-4;
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

test.before(async () => {
  if (!REAL) await buildEmulated();
  else if (lk.cuda.info().backend !== 'cuda')
    throw new Error(`LKVIT_CUDA_TEST_REAL=1 but CUDA is not available: ${lk.cuda.info().reason}`);
});

for (const name of FAMILIES) {
  test.serial(`${name} on ${BACKEND}: eval logits and input gradient match PyTorch`, (t) => {
    const { f, model } = load(name);
    model.to('cuda');
    t.is(model.device, 'cuda');
    t.true(
      model.namedParameters().every(([, p]) => p.device === 'cuda'),
      'every parameter moved',
    );
    // A CPU batch: copied in, logits back on the CPU.
    const y = lk.noGrad(() => model.forward(f.x()));
    t.is(y.device, 'cpu');
    t.true(relErr(y.data, f.get('logits').data) <= TOL, `logits rel err ${relErr(y.data, f.get('logits').data)}`);
    // A device batch with the gradient an attack step uses, computed on the device.
    const x = f.x().to('cuda');
    x.requiresGrad = true;
    const logits = model.forward(x);
    t.is(logits.device, 'cuda');
    lk.ops.crossEntropy(logits, Array.from(f.get('labels').data), { reduction: 'sum' }).backward();
    t.is(x.grad.device, 'cuda');
    const g = x.grad.toArray();
    t.true(relErr(g, f.get('grad_x').data) <= TOL, `grad rel err ${relErr(g, f.get('grad_x').data)}`);
  });
}

for (const name of ['replknet_tiny', 'resnet_tiny', 'xcit_tiny']) {
  test.serial(`${name} on ${BACKEND}: train-mode logits match PyTorch and update the running stats`, (t) => {
    const { f, model } = load(name);
    const stat = () => [...model.stateDict()].find(([k]) => k.endsWith('running_mean'))[1];
    const before = stat().toArray().slice();
    const tracked = [...model.stateDict()].find(([k]) => k.endsWith('num_batches_tracked'))[1];
    const count = tracked.data[0];
    model.to('cuda').train();
    const y = lk.noGrad(() => model.forward(f.x()));
    t.true(relErr(y.data, f.get('logits_train').data) <= TOL, `rel err ${relErr(y.data, f.get('logits_train').data)}`);
    t.notDeepEqual(Array.from(stat().toArray()), Array.from(before));
    t.is(tracked.toArray()[0], count + 1, 'num_batches_tracked counted on the device');
    model.to('cpu');
    t.is(stat().device, 'cpu');
    t.is(tracked.data[0], count + 1);
  });
}
