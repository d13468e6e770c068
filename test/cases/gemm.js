// matmul / linear rows. Sizes are odd on purpose (1, 7, 33, 65, 129, K > 384) so every GEMM
// edge path runs: partial register tiles in M and N, several K blocks, several N blocks, several
// packed-A blocks, both transposes (through the backward passes), threaded and not.
'use strict';
const R = require('../reference/gemm');

function matmulRow(aShape, bShape, extra = {}) {
  return {
    name: `matmul ${JSON.stringify(aShape)} x ${JSON.stringify(bShape)}`,
    make: (r) => ({ a: r.array(aShape), b: r.array(bShape) }),
    run: (lk, t) => lk.ops.matmul(t.a, t.b),
    ref: (a) => R.matmul(a.a, a.b),
    refGrad: (a, g) => R.matmulGrad(a.a, a.b, g),
    grad: ['a', 'b'],
    isa: true,
    ...extra,
  };
}

function linearRow(xShape, wShape, withBias, extra = {}) {
  return {
    name: `linear x ${JSON.stringify(xShape)} weight ${JSON.stringify(wShape)}${withBias ? ' + bias' : ''}`,
    make: (r) => ({ x: r.array(xShape), weight: r.array(wShape), ...(withBias ? { bias: r.array([wShape[0]]) } : {}) }),
    run: (lk, t) => lk.ops.linear(t.x, t.weight, t.bias),
    ref: (a) => R.linear(a.x, a.weight, a.bias),
    refGrad: (a, g) => R.linearGrad(a.x, a.weight, a.bias, g),
    grad: withBias ? ['x', 'weight', 'bias'] : ['x', 'weight'],
    isa: true,
    ...extra,
  };
}

module.exports = [
  // GEMM edges through matmul (forward N x N; backward N x T and T x N)
  matmulRow([3, 4], [4, 2], { fd: true }),
  matmulRow([1, 1], [1, 1]),
  matmulRow([65, 129], [129, 33]),
  matmulRow([129, 7], [7, 65]),
  matmulRow([1, 33], [33, 129]),
  matmulRow([33, 65], [65, 1]),
  matmulRow([7, 400], [400, 33]), // two K blocks
  matmulRow([129, 400], [400, 65]), // threaded, two K blocks
  matmulRow([33, 65], [65, 801]), // several N blocks, ragged last block
  matmulRow([2100, 1000], [1000, 1]), // packed A split in two row blocks
  // One N block (N <= 384): A panels packed where they are used, rows split over the threads, a
  // ragged last panel (71 = 5 * 14 + 1), K blocks of 334 (not a multiple of the vector width);
  // the gradient of b runs the same path with A transposed
  matmulRow([71, 1000], [1000, 49]),
  matmulRow([15, 17], [17, 5]), // K below one vector, too small for threads
  // batched
  matmulRow([2, 3, 7, 33], [2, 3, 33, 65]),
  matmulRow([2, 2, 3], [2, 3, 4], { fd: true }),
  matmulRow([4, 65, 129], [4, 129, 33]), // large enough for one threaded GEMM per product
  matmulRow([2, 65, 33], [33, 7]), // b shared across the batch
  // linear (forward uses op(B) = W^T)
  linearRow([2, 3], [4, 3], true, { fd: true }),
  linearRow([2, 5, 129], [33, 129], true),
  linearRow([7], [65, 7], false),
  linearRow([3, 65, 400], [129, 400], true),
];
