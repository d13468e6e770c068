// Bad inputs for the normalisation / activation / softmax / pooling ops and the attack steps:
// each must throw the right error class with a message naming the op and the argument. The
// raw addon must refuse too-short arrays instead of reading or writing past them.
'use strict';
const path = require('path');
const test = require('ava');
const lk = require('..');

const { ops } = lk;
const t4 = (shape, v = 0.5) => lk.full(shape, v);
const x4 = t4([2, 3, 4, 4]);
const vec = (n, v = 1) => lk.full([n], v);

test('batchNorm2d rejects bad shapes and options', (t) => {
  const run = { runningMean: vec(3, 0), runningVar: vec(3) };
  t.throws(() => ops.batchNorm2d([1, 2], run), { instanceOf: TypeError, message: /batchNorm2d: x must be a Tensor/ });
  t.throws(() => ops.batchNorm2d(t4([3, 4, 4]), run), {
    instanceOf: RangeError,
    message: /batchNorm2d: x must be 4-D \[N, C, H, W\], got shape \[3, 4, 4\]/,
  });
  t.throws(() => ops.batchNorm2d(x4, { ...run, weight: vec(4) }), {
    instanceOf: RangeError,
    message: /batchNorm2d: weight must have shape \[C\] with C = 3 \(channels of x\), got \[4\]/,
  });
  t.throws(() => ops.batchNorm2d(x4, { runningMean: vec(3), runningVar: t4([3, 1]) }), {
    instanceOf: RangeError,
    message: /runningVar must have shape \[C\]/,
  });
  t.throws(() => ops.batchNorm2d(x4), {
    instanceOf: TypeError,
    message: /batchNorm2d: runningMean and runningVar are required when training is false/,
  });
  t.throws(() => ops.batchNorm2d(x4, { runningMean: vec(3), training: true }), {
    instanceOf: TypeError,
    message: /must be given together/,
  });
  t.throws(() => ops.batchNorm2d(t4([1, 3, 1, 1]), { training: true }), {
    instanceOf: RangeError,
    message: /batchNorm2d: training needs more than one value per channel/,
  });
  t.throws(() => ops.batchNorm2d(x4, { ...run, eps: -1 }), {
    instanceOf: RangeError,
    message: /batchNorm2d: eps must be >= 0, got -1/,
  });
  t.throws(() => ops.batchNorm2d(x4, { ...run, momentum: 1.5 }), {
    instanceOf: RangeError,
    message: /batchNorm2d: momentum must be <= 1/,
  });
  t.throws(() => ops.batchNorm2d(x4, { ...run, training: 'yes' }), {
    instanceOf: TypeError,
    message: /batchNorm2d: training must be a boolean/,
  });
  t.throws(() => ops.batchNorm2d(x4, { ...run, affine: true }), {
    instanceOf: TypeError,
    message: /batchNorm2d: unknown option 'affine'/,
  });
});

test('layerNorm, layerNorm2d and groupNorm reject bad shapes and options', (t) => {
  t.throws(() => ops.layerNorm(t4([2, 5]), vec(4)), {
    instanceOf: RangeError,
    message: /layerNorm: weight must have shape \[C\] with C = 5 \(last dim of x\), got \[4\]/,
  });
  t.throws(() => ops.layerNorm(t4([2, 5]), null, 'b'), {
    instanceOf: TypeError,
    message: /layerNorm: bias must be a Tensor/,
  });
  t.throws(() => ops.layerNorm(t4([2, 5]), null, null, { eps: -1e-5 }), {
    instanceOf: RangeError,
    message: /layerNorm: eps must be >= 0/,
  });
  t.throws(() => ops.layerNorm(t4([2, 5]), null, null, { epsilon: 1 }), {
    instanceOf: TypeError,
    message: /layerNorm: unknown option 'epsilon'/,
  });
  t.throws(() => ops.layerNorm2d(t4([2, 5, 3])), {
    instanceOf: RangeError,
    message: /layerNorm2d: x must be 4-D \[N, C, H, W\]/,
  });
  t.throws(() => ops.layerNorm2d(x4, vec(3), vec(2)), {
    instanceOf: RangeError,
    message: /layerNorm2d: bias must have shape \[C\] with C = 3/,
  });
  t.throws(() => ops.groupNorm(x4, 2), {
    instanceOf: RangeError,
    message: /groupNorm: numGroups must divide the channels of x \(C = 3\), got 2/,
  });
  t.throws(() => ops.groupNorm(x4, 0), { instanceOf: RangeError, message: /groupNorm: numGroups must be in \[1, / });
  t.throws(() => ops.groupNorm(x4, 1.5), { instanceOf: TypeError, message: /groupNorm: numGroups must be an integer/ });
  t.throws(() => ops.groupNorm(t4([6]), 1), {
    instanceOf: RangeError,
    message: /groupNorm: x must have shape \[N, C, \.\.\.\]/,
  });
  t.throws(() => ops.groupNorm(x4, 3, vec(6)), {
    instanceOf: RangeError,
    message: /groupNorm: weight must have shape \[C\] with C = 3/,
  });
});

test('activations and softmax reject bad arguments', (t) => {
  t.throws(() => ops.relu(new Float32Array(3)), { instanceOf: TypeError, message: /relu: x must be a Tensor/ });
  t.throws(() => ops.gelu(null), { instanceOf: TypeError, message: /gelu: x must be a Tensor/ });
  t.throws(() => ops.softmax(t4([2, 3]), 2), {
    instanceOf: RangeError,
    message: /softmax: dim must be in \[-2, 1\], got 2/,
  });
  t.throws(() => ops.logSoftmax(t4([2, 3]), 0.5), {
    instanceOf: TypeError,
    message: /logSoftmax: dim must be an integer/,
  });
  t.throws(() => ops.softmax(lk.tensor([1], [])), {
    instanceOf: RangeError,
    message: /softmax: x must have at least 1 dimension/,
  });
});

test('crossEntropy rejects bad logits, labels and options', (t) => {
  const z = t4([3, 4]);
  t.throws(() => ops.crossEntropy(t4([3, 4, 1]), [0, 1, 2]), {
    instanceOf: RangeError,
    message: /crossEntropy: logits must be 2-D \[N, K\]/,
  });
  t.throws(() => ops.crossEntropy(z, [0, 4, 1]), {
    instanceOf: RangeError,
    message: /crossEntropy: labels\[1\] must be a class index in \[0, 4\), got 4/,
  });
  t.throws(() => ops.crossEntropy(z, Int32Array.of(0, 1, -1)), {
    instanceOf: RangeError,
    message: /crossEntropy: labels\[2\] must be a class index in \[0, 4\), got -1/,
  });
  t.throws(() => ops.crossEntropy(z, [0, 1.5, 1]), {
    instanceOf: RangeError,
    message: /labels\[1\] must be a class index/,
  });
  t.throws(() => ops.crossEntropy(z, [0, '1', 1]), {
    instanceOf: TypeError,
    message: /crossEntropy: labels\[1\] must be a number/,
  });
  t.throws(() => ops.crossEntropy(z, [0, 1]), {
    instanceOf: RangeError,
    message: /crossEntropy: labels must hold N = 3 class indices \(rows of logits\), got 2/,
  });
  t.throws(() => ops.crossEntropy(z, Float32Array.of(0, 1, 2)), {
    instanceOf: TypeError,
    message: /crossEntropy: labels must be an Int32Array or an array/,
  });
  t.throws(() => ops.crossEntropy(z, [0, 1, 2], { reduction: 'avg' }), {
    instanceOf: RangeError,
    message: /crossEntropy: reduction must be one of 'mean', 'sum' or 'none', got 'avg'/,
  });
  t.throws(() => ops.crossEntropy(z, [0, 1, 2], { labelSmoothing: 1.5 }), {
    instanceOf: RangeError,
    message: /crossEntropy: labelSmoothing must be <= 1/,
  });
  t.throws(() => ops.crossEntropy(z, [0, 1, 2], { smoothing: 0.1 }), {
    instanceOf: TypeError,
    message: /crossEntropy: unknown option 'smoothing'/,
  });
});

test('pooling rejects bad geometry', (t) => {
  t.throws(() => ops.maxPool2d(x4), {
    instanceOf: TypeError,
    message: /maxPool2d: options with kernelSize are required/,
  });
  t.throws(() => ops.maxPool2d(x4, { stride: 2 }), {
    instanceOf: TypeError,
    message: /maxPool2d: kernelSize is required/,
  });
  t.throws(() => ops.maxPool2d(x4, { kernelSize: 3, padding: 2 }), {
    instanceOf: RangeError,
    message: /maxPool2d: padding must be at most half of kernelSize/,
  });
  t.throws(() => ops.avgPool2d(x4, { kernelSize: 6 }), {
    instanceOf: RangeError,
    message: /avgPool2d: kernelSize \[6, 6\] does not fit x of shape \[2, 3, 4, 4\]/,
  });
  t.throws(() => ops.avgPool2d(x4, { kernelSize: 2, stride: 0 }), {
    instanceOf: RangeError,
    message: /avgPool2d: stride must be in \[1, /,
  });
  t.throws(() => ops.avgPool2d(x4, { kernelSize: [2, 2, 2] }), {
    instanceOf: TypeError,
    message: /avgPool2d: kernelSize must be an integer or a pair/,
  });
  t.throws(() => ops.maxPool2d(t4([3, 4, 4]), { kernelSize: 2 }), {
    instanceOf: RangeError,
    message: /maxPool2d: x must be 4-D/,
  });
  t.throws(() => ops.globalAvgPool2d(t4([3, 4])), {
    instanceOf: RangeError,
    message: /globalAvgPool2d: x must be 4-D/,
  });
});

test('attack steps reject bad arguments', (t) => {
  const x = t4([2, 3]),
    g = t4([2, 3]);
  t.throws(() => ops.fgsmStep(x, g, { eps: -0.1 }), {
    instanceOf: RangeError,
    message: /fgsmStep: eps must be >= 0, got -0.1/,
  });
  t.throws(() => ops.fgsmStep(x, g, { eps: Infinity }), {
    instanceOf: TypeError,
    message: /fgsmStep: eps must be a finite number/,
  });
  t.throws(() => ops.fgsmStep(x, g), { instanceOf: TypeError, message: /fgsmStep: options with eps are required/ });
  t.throws(() => ops.fgsmStep(x, g, {}), { instanceOf: TypeError, message: /fgsmStep: option 'eps' is required/ });
  t.throws(() => ops.fgsmStep(x, t4([3, 2]), { eps: 0.1 }), {
    instanceOf: RangeError,
    message: /fgsmStep: grad must have the shape of x \[2, 3\], got \[3, 2\]/,
  });
  t.throws(() => ops.fgsmStep(x, g, { eps: 0.1, min: 1, max: 0 }), {
    instanceOf: RangeError,
    message: /fgsmStep: min must be <= max, got min = 1, max = 0/,
  });
  t.throws(() => ops.fgsmStep(x, g, { eps: 0.1, step: 1 }), {
    instanceOf: TypeError,
    message: /fgsmStep: unknown option 'step'/,
  });
  const o = { x0: x, eps: 0.1, alpha: 0.01 };
  t.throws(() => ops.pgdStep(x, g, { ...o, norm: 'l1' }), {
    instanceOf: RangeError,
    message: /pgdStep: norm must be 'linf' or 'l2', got 'l1'/,
  });
  t.throws(() => ops.pgdStep(x, g, { ...o, norm: 2 }), {
    instanceOf: TypeError,
    message: /pgdStep: norm must be 'linf' or 'l2', got 2/,
  });
  t.throws(() => ops.pgdStep(x, g, { eps: 0.1, alpha: 0.01 }), {
    instanceOf: TypeError,
    message: /pgdStep: option 'x0' is required/,
  });
  t.throws(() => ops.pgdStep(x, g, { ...o, x0: t4([6]) }), {
    instanceOf: RangeError,
    message: /pgdStep: x0 must have the shape of x \[2, 3\], got \[6\]/,
  });
  t.throws(() => ops.pgdStep(x, g, { ...o, eps: -1 }), {
    instanceOf: RangeError,
    message: /pgdStep: eps must be >= 0/,
  });
  t.throws(() => ops.pgdStep(x, g, { ...o, alpha: -1 }), {
    instanceOf: RangeError,
    message: /pgdStep: alpha must be >= 0/,
  });
  t.throws(() => ops.pgdStep(x, g, { ...o, alpha: NaN }), {
    instanceOf: TypeError,
    message: /pgdStep: alpha must be a finite number/,
  });
  t.throws(() => ops.pgdStep(lk.tensor([1], []), lk.tensor([1], []), o), {
    instanceOf: RangeError,
    message: /pgdStep: x must have a sample dimension first/,
  });
});

test('the raw addon refuses too-short arrays and out-of-range indices', (t) => {
  const addon = require('node-gyp-build')(path.join(__dirname, '..'));
  const f = (n) => new Float32Array(n);
  const short = { instanceOf: RangeError, message: /lkvit native: .* must hold/ };
  // x [2, 3, 4] but y one float short.
  t.throws(() => addon.groupNormForward(f(24), 2, 3, 4, 1, null, null, 1e-5, f(23), f(2), f(2)), short);
  t.throws(
    () => addon.batchNorm2dForward(f(24), 2, 3, 4, f(2), null, true, 1e-5, 0.1, null, null, f(24), f(3), f(3)),
    short,
  );
  t.throws(() => addon.batchNorm2dBackward(f(24), f(24), 2, 3, 4, null, f(3), f(3), true, f(10), null, null), short);
  t.throws(() => addon.layerNorm2dForward(f(24), 2, 3, 4, null, null, 1e-6, f(24), f(8), f(7)), short);
  t.throws(() => addon.layerNorm2dBackward(f(24), f(20), 2, 3, 4, null, f(8), f(8), f(24), null, null), short);
  t.throws(() => addon.reluForward(f(10), f(9)), short);
  t.throws(() => addon.geluBackward(f(10), f(10), f(1)), short);
  t.throws(() => addon.softmaxForward(f(11), 3, 2, 2, false, f(12)), short);
  t.throws(() => addon.crossEntropyForward(f(11), Int32Array.of(0, 1, 2), 3, 4, 0, f(3), f(3)), short);
  t.throws(() => addon.crossEntropyBackward(f(12), Int32Array.of(0, 1), 3, 4, 0, f(3), f(3), f(12)), {
    instanceOf: RangeError,
    message: /labels must hold 3 integers/,
  });
  t.throws(() => addon.crossEntropyForward(f(12), Int32Array.of(0, 9, 2), 3, 4, 0, f(3), f(3)), {
    instanceOf: RangeError,
    message: /labels\[1\] = 9 is outside \[0, 4\)/,
  });
  t.throws(() => addon.globalAvgPool2dBackward(f(6), 6, 5, f(29)), short);
  t.throws(() => addon.maxPool2dForward(f(2 * 16), 2, 4, 4, 2, 2, 2, 2, 0, 0, f(8), new Int32Array(7)), short);
  t.throws(
    () => addon.maxPool2dBackward(f(8), Int32Array.of(0, 1, 2, 3, 4, 5, 6, 16), 2, 4, 4, 2, 2, 2, 2, 0, 0, f(32)),
    { instanceOf: RangeError, message: /argmax\[7\] = 16 is outside \[0, 16\)/ },
  );
  t.throws(() => addon.maxPool2dForward(f(32), 2, 4, 4, 2, 2, 2, 2, 2, 0, f(8), new Int32Array(8)), {
    instanceOf: RangeError,
    message: /ph must be an integer in \[0, 1\]/,
  });
  t.throws(() => addon.avgPool2dBackward(f(8), 2, 4, 4, 2, 2, 2, 2, 0, 0, f(31)), short);
  t.throws(() => addon.fgsmStep(f(10), f(9), 0.1, 0, 1, f(10)), short);
  t.throws(() => addon.pgdLinfStep(f(10), f(10), f(9), 0.1, 0.01, 0, 1, f(10)), short);
  t.throws(() => addon.pgdL2Step(f(10), f(10), f(10), 2, 0.1, 0.01, 0, 1, f(8)), short);
  t.throws(() => addon.pgdL2Step(f(10), f(10), f(10), 3, 0.1, 0.01, 0, 1, f(10)), {
    instanceOf: RangeError,
    message: /N must divide/,
  });
  t.throws(() => addon.reluForward([1, 2], f(2)), { instanceOf: TypeError, message: /x must be a Float32Array/ });
});

test('batchNorm2d gives no weight gradient when the weight does not require one', (t) => {
  const x = lk.tensor(
    Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)),
    [2, 3, 2, 2],
    { requiresGrad: true },
  );
  const w = vec(3);
  const y = ops.batchNorm2d(x, { weight: w, training: true });
  y.backward(new Float32Array(24).fill(1));
  t.truthy(x.grad);
  t.is(w.grad, null);
});
