// Bad inputs to matmul / linear / conv2d and to the raw gemm / conv2d exports: every one must throw
// a clear error (class and message), never crash or touch memory out of bounds.
'use strict';
const path = require('path');
const test = require('ava');
const { lk } = require('./helpers');

const z = (...shape) => lk.zeros(shape);

test('matmul rejects non-tensors and mismatched shapes', (t) => {
  t.throws(() => lk.ops.matmul([1, 2], z(2, 2)), { instanceOf: TypeError, message: /matmul: a must be a Tensor/ });
  t.throws(() => lk.ops.matmul(z(3), z(3, 2)), {
    instanceOf: RangeError,
    message: /matmul: a must have at least 2 dims/,
  });
  t.throws(() => lk.ops.matmul(z(2, 3), z(4, 2)), {
    instanceOf: RangeError,
    message: /matmul: b must have shape \[\.\.\., K, N\] with K = 3 .* got \[4, 2\]/,
  });
  t.throws(() => lk.ops.matmul(z(2, 2, 3), z(3, 3, 4)), {
    instanceOf: RangeError,
    message: /matmul: b must be 2-D \[K, N\] or have the batch dims of a \[2\], got \[3, 3, 4\]/,
  });
});

test('linear rejects mismatched weight and bias', (t) => {
  t.throws(() => lk.ops.linear(z(2, 3), 'w'), { instanceOf: TypeError, message: /linear: weight must be a Tensor/ });
  t.throws(() => lk.ops.linear(z(2, 3), z(4, 5)), {
    instanceOf: RangeError,
    message: /linear: weight must have shape \[out, in\] with in = 3 .* got \[4, 5\]/,
  });
  t.throws(() => lk.ops.linear(z(2, 3), z(4, 3), z(5)), {
    instanceOf: RangeError,
    message: /linear: bias must have shape \[4\] .* got \[5\]/,
  });
});

test('conv2d rejects bad shapes', (t) => {
  t.throws(() => lk.ops.conv2d(z(1, 8, 5, 5, 1), z(4, 8, 3, 3)), {
    instanceOf: RangeError,
    message: /conv2d: x must be 4-D \[N, Cin, H, W\]/,
  });
  t.throws(() => lk.ops.conv2d(z(1, 8, 5, 5), z(4, 8, 3, 3), { groups: 2 }), {
    instanceOf: RangeError,
    message:
      /conv2d: weight must have shape \[Cout, Cin\/groups, KH, KW\] = \[\*, 4, \*, \*\] for x with 8 channels and groups = 2, got \[4, 8, 3, 3\]/,
  });
  t.throws(() => lk.ops.conv2d(z(1, 6, 5, 5), z(4, 2, 3, 3), { groups: 4 }), {
    instanceOf: RangeError,
    message: /conv2d: groups = 4 must divide the 6 channels of x/,
  });
  t.throws(() => lk.ops.conv2d(z(1, 8, 5, 5), z(6, 2, 3, 3), { groups: 4 }), {
    instanceOf: RangeError,
    message: /conv2d: groups = 4 must divide Cout = 6/,
  });
  t.throws(() => lk.ops.conv2d(z(1, 3, 5, 5), z(4, 3, 7, 7)), {
    instanceOf: RangeError,
    message: /conv2d: output size would be \[1, 4, -1, -1\]/,
  });
  t.throws(() => lk.ops.conv2d(z(1, 3, 5, 5), z(4, 3, 3, 3), { bias: z(3) }), {
    instanceOf: RangeError,
    message: /conv2d: bias must have shape \[4\] .* got \[3\]/,
  });
});

test('conv2d rejects bad options', (t) => {
  const x = z(1, 3, 5, 5),
    w = z(4, 3, 3, 3);
  t.throws(() => lk.ops.conv2d(x, w, { stride: 0 }), {
    instanceOf: RangeError,
    message: /conv2d: stride must be in \[1, /,
  });
  t.throws(() => lk.ops.conv2d(x, w, { padding: -1 }), {
    instanceOf: RangeError,
    message: /conv2d: padding must be in \[0, /,
  });
  t.throws(() => lk.ops.conv2d(x, w, { stride: '2' }), {
    instanceOf: TypeError,
    message: /conv2d: stride must be an integer/,
  });
  t.throws(() => lk.ops.conv2d(x, w, { padding: [1, 2, 3] }), {
    instanceOf: TypeError,
    message: /conv2d: padding must be an integer or a pair/,
  });
  t.throws(() => lk.ops.conv2d(x, w, { groups: 1.5 }), {
    instanceOf: TypeError,
    message: /conv2d: groups must be an integer/,
  });
  t.throws(() => lk.ops.conv2d(x, w, { dilation: 0 }), {
    instanceOf: RangeError,
    message: /conv2d: dilation must be in \[1, /,
  });
  t.throws(() => lk.ops.conv2d(x, w, { pad: 1 }), { instanceOf: TypeError, message: /conv2d: unknown option 'pad'/ });
  t.throws(() => lk.ops.conv2d(x, w, { bias: [1, 2, 3, 4] }), {
    instanceOf: TypeError,
    message: /conv2d: bias must be a Tensor/,
  });
  t.throws(() => lk.ops.conv2d(x, w, 3), { instanceOf: TypeError, message: /conv2d: options must be an object/ });
});

test('raw addon: too-short arrays and bad dimensions throw instead of crashing', (t) => {
  const addon = require('node-gyp-build')(path.join(__dirname, '..'));
  const f = (n) => new Float32Array(n);
  // gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
  t.throws(() => addon.gemm(false, false, 4, 4, 4, 1, f(15), 4, f(16), 4, 0, f(16), 4), {
    instanceOf: RangeError,
    message: /A must hold at least 16 floats, got 15/,
  });
  t.throws(() => addon.gemm(false, true, 4, 5, 3, 1, f(12), 3, f(14), 3, 0, f(20), 5), {
    instanceOf: RangeError,
    message: /B must hold at least 15 floats/,
  });
  t.throws(() => addon.gemm(false, false, 4, 4, 4, 1, f(16), 4, f(16), 4, 0, f(15), 4), {
    instanceOf: RangeError,
    message: /C must hold at least 16 floats/,
  });
  t.throws(() => addon.gemm(false, false, 4, 4, 4, 1, f(16), 3, f(16), 4, 0, f(16), 4), {
    instanceOf: RangeError,
    message: /A: leading dimension 3 < 4 columns/,
  });
  t.throws(() => addon.gemm(false, false, -1, 4, 4, 1, f(16), 4, f(16), 4, 0, f(16), 4), {
    instanceOf: RangeError,
    message: /M must be an integer/,
  });
  t.throws(() => addon.gemm(false, false, 4, 4, 4, 1, [1, 2], 4, f(16), 4, 0, f(16), 4), {
    instanceOf: TypeError,
    message: /A must be a Float32Array/,
  });
  // gemmBatched(transA, transB, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC)
  t.throws(() => addon.gemmBatched(false, false, 3, 2, 2, 2, 1, f(12), 2, 4, f(4), 2, 0, 0, f(11), 2, 4), {
    instanceOf: RangeError,
    message: /C must hold at least 12 floats/,
  });
  t.throws(() => addon.gemmBatched(false, false, 3, 2, 2, 2, 1, f(12), 2, 4, f(4), 2, 0, 0, f(12), 2, 2), {
    instanceOf: RangeError,
    message: /strideC must be >= 4/,
  });
  // conv2d*(arrays..., n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
  const dims = [1, 2, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1];
  t.throws(() => addon.conv2dForward(f(49), f(72), null, f(100), ...dims), {
    instanceOf: RangeError,
    message: /x must hold 50 floats, got 49/,
  });
  t.throws(() => addon.conv2dForward(f(50), f(72), f(3), f(100), ...dims), {
    instanceOf: RangeError,
    message: /bias must hold 4 floats/,
  });
  t.throws(() => addon.conv2dForward(f(50), f(72), null, f(99), ...dims), {
    instanceOf: RangeError,
    message: /y must hold 100 floats/,
  });
  t.throws(() => addon.conv2dBackwardInput(f(100), f(71), f(50), ...dims), {
    instanceOf: RangeError,
    message: /weight must hold 72 floats/,
  });
  t.throws(() => addon.conv2dBackwardWeight(f(100), f(50), f(7), ...dims), {
    instanceOf: RangeError,
    message: /gradWeight must hold 72 floats/,
  });
  t.throws(() => addon.conv2dBackwardBias(f(99), f(4), 1, 4, 5, 5), {
    instanceOf: RangeError,
    message: /gradY must hold 100 floats/,
  });
  const badGroups = dims.slice(0, 13).concat([3]);
  t.throws(() => addon.conv2dForward(f(50), f(72), null, f(100), ...badGroups), {
    instanceOf: RangeError,
    message: /groups \(3\) must divide cin/,
  });
  const tooBig = [1, 2, 5, 5, 4, 9, 9, 1, 1, 1, 1, 1, 1, 1];
  t.throws(() => addon.conv2dForward(f(50), f(648), null, f(4), ...tooBig), {
    instanceOf: RangeError,
    message: /output size < 1/,
  });
  t.throws(() => addon.conv2dForward(f(50), f(72), null, f(100), ...dims.slice(0, 13)), {
    instanceOf: TypeError,
    message: /groups must be a number/,
  });
});

test('linear and conv2d compute only the gradients that are needed', (t) => {
  const x = lk.tensor(new Float32Array(2 * 3 * 4 * 4).fill(1), [2, 3, 4, 4], { requiresGrad: true });
  const w = lk.tensor(new Float32Array(5 * 3 * 3 * 3).fill(0.5), [5, 3, 3, 3]);
  const y = lk.ops.conv2d(x, w, { padding: 1 });
  lk.ops.sum(y).backward();
  t.truthy(x.grad);
  t.is(w.grad, null);
  // centre pixel: all 3*3*3 taps in bounds, 5 output channels
  t.is(x.grad.data[1 * 4 + 1], 5 * 9 * 0.5);
});

test('matmul and linear accept empty dimensions (K = 0 gives zeros)', (t) => {
  const a = lk.tensor(new Float32Array(0), [3, 0], { requiresGrad: true });
  const b = lk.tensor(new Float32Array(0), [0, 4], { requiresGrad: true });
  const y = lk.ops.matmul(a, b);
  t.deepEqual([...y.shape], [3, 4]);
  t.true(y.data.every((v) => v === 0));
  y.backward(new Float32Array(12).fill(1));
  t.deepEqual([...a.grad.shape], [3, 0]);
  t.deepEqual([...lk.ops.linear(lk.zeros([0, 3]), lk.zeros([4, 3]), lk.zeros([4])).shape], [0, 4]);
});
