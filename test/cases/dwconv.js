'use strict';
const R = require('../reference/dwconv');

const pair = (v) => (Array.isArray(v) ? v : [v, v]);

// One row per geometry; every row checks the forward pass and the x, weight (and bias) gradients.
// Stride 1 takes the SIMD paths (planar for <= 3x3 kernels on wide rows, blocked otherwise;
// padding > K-1 sends the input gradient to the reference loops), stride 2 the reference loops.
function row({ N, C, H, W, K, stride = 1, padding = 0, bias = false, fd = false, note = '' }) {
  const [KH, KW] = pair(K);
  const s = pair(stride),
    p = pair(padding);
  const opts = { stride, padding };
  return {
    name: `depthwiseConv2d [${N},${C},${H},${W}] k${KH}x${KW} s${s.join('x')} p${p.join('x')}${bias ? ' bias' : ''}${note}`,
    make: (r) => ({
      x: r.array([N, C, H, W]),
      weight: r.array([C, 1, KH, KW]),
      ...(bias ? { bias: r.array([C]) } : {}),
    }),
    run: (lk, t) => lk.ops.depthwiseConv2d(t.x, t.weight, { ...opts, ...(bias ? { bias: t.bias } : {}) }),
    ref: (a) => R.forward(a.x, a.weight, a.bias || null, s, p),
    refGrad: (a, g) => R.backward(a.x, a.weight, a.bias || null, s, p, g),
    grad: bias ? ['x', 'weight', 'bias'] : ['x', 'weight'],
    isa: true,
    fd,
  };
}

module.exports = [
  // Tiny rows whose reference backward is also checked by finite differences.
  row({ N: 1, C: 2, H: 5, W: 4, K: 3, padding: 1, bias: true, fd: true }),
  row({ N: 1, C: 3, H: 4, W: 5, K: 2, stride: 2, padding: 1, fd: true }),
  row({ N: 2, C: 2, H: 6, W: 5, K: [3, 2], padding: [2, 0], bias: true, fd: true }),
  // Kernel sizes, odd maps, C not a multiple of the vector width, N = 2.
  row({ N: 2, C: 19, H: 13, W: 17, K: 1, bias: true }),
  row({ N: 2, C: 19, H: 13, W: 17, K: 3, padding: 1, bias: true }),
  row({ N: 1, C: 21, H: 13, W: 17, K: 5, padding: 2 }),
  row({ N: 2, C: 17, H: 15, W: 13, K: 7, padding: 3, bias: true }),
  row({ N: 1, C: 18, H: 16, W: 16, K: 13, padding: 6 }),
  row({ N: 1, C: 20, H: 20, W: 24, K: 27, padding: 13, bias: true }),
  row({ N: 1, C: 17, H: 20, W: 24, K: 29, padding: 14 }),
  row({ N: 2, C: 33, H: 21, W: 19, K: 31, padding: 15, bias: true }),
  row({ N: 1, C: 16, H: 20, W: 24, K: 51, padding: 25, bias: true }),
  row({ N: 3, C: 9, H: 10, W: 12, K: 31, padding: 15, note: ' (map smaller than kernel)' }),
  row({ N: 1, C: 40, H: 7, W: 7, K: 13, padding: 6, bias: true, note: ' (tiny map)' }),
  // Even kernels, padding smaller and larger than K // 2, rectangular kernels.
  row({ N: 2, C: 5, H: 11, W: 9, K: 4, padding: 1, bias: true }),
  row({ N: 1, C: 7, H: 12, W: 10, K: 6, padding: 3 }),
  row({ N: 1, C: 5, H: 36, W: 40, K: 31, padding: 0, bias: true }),
  row({ N: 1, C: 6, H: 14, W: 15, K: 13, padding: 9 }),
  row({ N: 2, C: 3, H: 9, W: 8, K: 3, padding: 4, note: ' (padding > K-1)' }),
  row({ N: 1, C: 4, H: 6, W: 7, K: 1, padding: 1, bias: true }),
  row({ N: 1, C: 10, H: 13, W: 11, K: [7, 3], padding: [3, 1] }),
  row({ N: 1, C: 9, H: 12, W: 16, K: [5, 9], padding: [1, 6], bias: true }),
  // Small kernels on wide rows take the planar (NCHW) path, also for the input gradient.
  row({ N: 2, C: 3, H: 9, W: 40, K: 3, padding: 1, bias: true, note: ' (planar)' }),
  row({ N: 1, C: 2, H: 6, W: 37, K: [1, 3], padding: [0, 2], note: ' (planar)' }),
  // Row-streaming planar kernels (3x3, 5x5, 7x7 on wide rows), narrow and wide column chunks,
  // padding below, at and above K // 2.
  row({ N: 2, C: 3, H: 7, W: 34, K: 3, padding: 0, note: ' (stream, 2-vector chunks)' }),
  row({ N: 1, C: 3, H: 11, W: 40, K: 5, padding: 2, bias: true, note: ' (stream)' }),
  row({ N: 1, C: 2, H: 9, W: 50, K: 5, padding: 4, note: ' (stream, padding > K//2)' }),
  row({ N: 2, C: 2, H: 10, W: 36, K: 7, padding: 1, bias: true, note: ' (stream)' }),
  row({ N: 1, C: 3, H: 5, W: 70, K: 7, padding: 3, note: ' (stream, map shorter than 2 K)' }),
  row({ N: 1, C: 2, H: 12, W: 33, K: 9, padding: 4, bias: true, note: ' (stream)' }),
  row({ N: 1, C: 2, H: 8, W: 20, K: 5, padding: 2, note: ' (stream on AVX2 and generic rows)' }),
  // Stride 2.
  row({ N: 2, C: 19, H: 13, W: 17, K: 3, stride: 2, padding: 1, bias: true }),
  row({ N: 1, C: 11, H: 16, W: 15, K: 7, stride: 2, padding: 3 }),
  row({ N: 1, C: 6, H: 14, W: 13, K: 5, stride: [2, 1], padding: [2, 0], bias: true }),
];
