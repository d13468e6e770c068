// Bad arguments to depthwiseConv2d: the TypeScript layer names the problem; the raw addon,
// called directly with wrong lengths, throws instead of touching memory out of bounds.
'use strict';
const path = require('path');
const test = require('ava');
const lk = require('..');

const x = lk.zeros([2, 4, 8, 8]);
const w = lk.zeros([4, 1, 3, 3]);
const conv = (...args) => lk.ops.depthwiseConv2d(...args);

test('dwconv: x and weight must be tensors of rank 4', (t) => {
  t.throws(() => conv([1, 2], w), {
    instanceOf: TypeError,
    message: /depthwiseConv2d: x must be a Tensor, got \[1, 2\]/,
  });
  t.throws(() => conv(x, null), {
    instanceOf: TypeError,
    message: /depthwiseConv2d: weight must be a Tensor, got null/,
  });
  t.throws(() => conv(lk.zeros([4, 8, 8]), w), {
    instanceOf: RangeError,
    message: /x must be 4-D \[N, C, H, W\], got shape \[4, 8, 8\]/,
  });
  t.throws(() => conv(x, lk.zeros([4, 3, 3])), {
    instanceOf: RangeError,
    message: /weight must be 4-D \[C, 1, KH, KW\]/,
  });
});

test('dwconv: weight must match the channels of x', (t) => {
  t.throws(() => conv(x, lk.zeros([3, 1, 3, 3])), {
    instanceOf: RangeError,
    message: 'depthwiseConv2d: weight must have shape [C, 1, KH, KW] with C = 4 (channels of x), got [3, 1, 3, 3]',
  });
  t.throws(() => conv(x, lk.zeros([4, 2, 3, 3])), {
    instanceOf: RangeError,
    message: /with C = 4 \(channels of x\), got \[4, 2, 3, 3\]/,
  });
});

test('dwconv: kernel size is limited to 1..63', (t) => {
  t.throws(() => conv(lk.zeros([1, 1, 70, 70]), lk.zeros([1, 1, 64, 3])), {
    instanceOf: RangeError,
    message: /kernel size KH, KW must be in \[1, 63\], got weight \[1, 1, 64, 3\]/,
  });
  t.throws(() => conv(x, lk.zeros([4, 1, 0, 3])), {
    instanceOf: RangeError,
    message: /kernel size KH, KW must be in \[1, 63\]/,
  });
});

test('dwconv: empty x is refused', (t) => {
  t.throws(() => conv(lk.zeros([0, 4, 8, 8]), w), {
    instanceOf: RangeError,
    message: /x must have no empty dimension, got \[0, 4, 8, 8\]/,
  });
});

test('dwconv: bias must be a [C] tensor', (t) => {
  t.throws(() => conv(x, w, { bias: [1, 2, 3, 4] }), {
    instanceOf: TypeError,
    message: /depthwiseConv2d: bias must be a Tensor/,
  });
  t.throws(() => conv(x, w, { bias: lk.zeros([5]) }), {
    instanceOf: RangeError,
    message: /bias must have shape \[C\] with C = 4 \(channels of x\), got \[5\]/,
  });
});

test('dwconv: stride and padding values', (t) => {
  t.throws(() => conv(x, w, { stride: 3 }), {
    instanceOf: RangeError,
    message: /depthwiseConv2d: stride must be in \[1, 2\], got 3/,
  });
  t.throws(() => conv(x, w, { stride: 1.5 }), { instanceOf: TypeError, message: /stride must be an integer, got 1.5/ });
  t.throws(() => conv(x, w, { stride: [1, 0] }), {
    instanceOf: RangeError,
    message: /stride\[1\] must be in \[1, 2\], got 0/,
  });
  t.throws(() => conv(x, w, { stride: [1, 1, 1] }), {
    instanceOf: TypeError,
    message: /stride must be an integer or a pair/,
  });
  t.throws(() => conv(x, w, { padding: -1 }), {
    instanceOf: RangeError,
    message: /padding must be in \[0, \d+\], got -1/,
  });
  t.throws(() => conv(x, w, { padding: '1' }), {
    instanceOf: TypeError,
    message: /padding must be an integer, got '1'/,
  });
});

test('dwconv: an empty output is a RangeError', (t) => {
  t.throws(() => conv(lk.zeros([1, 1, 4, 4]), lk.zeros([1, 1, 7, 7]), { padding: 1 }), {
    instanceOf: RangeError,
    message: /the output would be empty: input 4x4 with padding \[1, 1\] is smaller than the kernel 7x7/,
  });
});

test('dwconv: options are checked', (t) => {
  t.throws(() => conv(x, w, { pad: 1 }), {
    instanceOf: TypeError,
    message: /unknown option 'pad' \(expected one of: bias, stride, padding\)/,
  });
  t.throws(() => conv(x, w, 1), { instanceOf: TypeError, message: /depthwiseConv2d: options must be an object/ });
});

test('dwconv: the raw addon refuses short arrays and bad geometry instead of crashing', (t) => {
  const addon = require('node-gyp-build')(path.join(__dirname, '..'));
  const geom = [2, 4, 8, 8, 3, 3, 1, 1, 1, 1]; // N C H W KH KW sh sw ph pw -> y [2, 4, 8, 8]
  const xs = new Float32Array(512),
    ws = new Float32Array(36),
    ys = new Float32Array(512);
  const short = new Float32Array(10);
  t.notThrows(() => addon.dwconv2dForward(xs, ws, null, ys, ...geom));
  t.throws(() => addon.dwconv2dForward(short, ws, null, ys, ...geom), {
    instanceOf: RangeError,
    message: /x must hold 512 floats, got 10/,
  });
  t.throws(() => addon.dwconv2dForward(xs, short, null, ys, ...geom), {
    instanceOf: RangeError,
    message: /weight must hold 36 floats/,
  });
  t.throws(() => addon.dwconv2dForward(xs, ws, short, ys, ...geom), {
    instanceOf: RangeError,
    message: /bias must hold 4 floats/,
  });
  t.throws(() => addon.dwconv2dForward(xs, ws, null, short, ...geom), {
    instanceOf: RangeError,
    message: /y must hold 512 floats/,
  });
  t.throws(() => addon.dwconv2dForward(xs, ws, null, [0], ...geom), {
    instanceOf: TypeError,
    message: /y must be a Float32Array/,
  });
  t.throws(() => addon.dwconv2dBackwardInput(short, ws, xs, ...geom), {
    instanceOf: RangeError,
    message: /gradY must hold 512 floats/,
  });
  t.throws(() => addon.dwconv2dBackwardInput(ys, ws, short, ...geom), {
    instanceOf: RangeError,
    message: /gradX must hold 512 floats/,
  });
  t.throws(() => addon.dwconv2dBackwardWeight(ys, short, ws, ...geom), {
    instanceOf: RangeError,
    message: /x must hold 512 floats/,
  });
  t.throws(() => addon.dwconv2dBackwardWeight(ys, xs, short, ...geom), {
    instanceOf: RangeError,
    message: /gradWeight must hold 36 floats/,
  });
  // Geometry: kernel too large for the padded input, bad stride, missing arguments.
  t.throws(() => addon.dwconv2dForward(xs, ws, null, ys, 2, 4, 8, 8, 3, 3, 1, 1, 1), {
    instanceOf: TypeError,
    message: /padW must be a number/,
  });
  t.throws(() => addon.dwconv2dForward(xs, ws, null, ys, 2, 4, 8, 8, 3, 3, 3, 1, 1, 1), {
    instanceOf: RangeError,
    message: /strideH must be an integer in \[1, 2\]/,
  });
  t.throws(() => addon.dwconv2dForward(xs, new Float32Array(4 * 81), null, ys, 2, 4, 8, 8, 9, 9, 1, 1, 0, 0), {
    instanceOf: RangeError,
    message: /padded input \(8x8\) is smaller than the kernel \(9x9\)/,
  });
  t.throws(() => addon.dwconv2dForward(xs, ws, null, ys, 2, 4, 8, 8, 64, 3, 1, 1, 1, 1), {
    instanceOf: RangeError,
    message: /KH must be an integer in \[1, 63\]/,
  });
});

test('dwconv: gradients are computed only for inputs that need them', (t) => {
  const xi = lk.tensor(new Float32Array(2 * 4 * 8 * 8).fill(1), [2, 4, 8, 8], { requiresGrad: true });
  const wi = lk.tensor(new Float32Array(36).fill(1), [4, 1, 3, 3]);
  const b = lk.zeros([4], { requiresGrad: true });
  const y = conv(xi, wi, { padding: 1, bias: b });
  y.backward(new Float32Array(y.size).fill(1));
  t.truthy(xi.grad);
  t.is(wi.grad, null);
  t.is(b.grad.data[0], 2 * 8 * 8);
});
