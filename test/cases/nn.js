'use strict';
const R = require('../reference/nn');

const labelsFor = (r, N, K) => Int32Array.from({ length: N }, () => r.int(0, K - 1));
const scaleArr = (a, s) => ({ data: a.data.map((v) => Math.fround(v * s)), shape: a.shape });

function softmaxRow(shape, dim, log, scale = 1, extra = {}) {
  const op = log ? 'logSoftmax' : 'softmax';
  return {
    name: `${op} dim ${dim} [${shape}]${scale !== 1 ? ` logits x${scale}` : ''}`,
    make: (r) => ({ x: scaleArr(r.array(shape), scale) }),
    run: (lk, t) => lk.ops[op](t.x, dim),
    ref: (a) => R.softmax(a.x, dim, log),
    refGrad: (a, g) => ({ x: R.softmaxGrad(a.x, dim, log, g) }),
    grad: ['x'],
    ...extra,
  };
}

function crossEntropyRow(N, K, reduction, s, scale = 1, extra = {}) {
  return {
    name: `crossEntropy ${reduction} [${N}, ${K}] smoothing ${s}${scale !== 1 ? ` logits x${scale}` : ''}`,
    make: (r) => ({ z: scaleArr(r.array([N, K]), scale), labels: labelsFor(r, N, K) }),
    run: (lk, t) => lk.ops.crossEntropy(t.z, t.labels, { reduction, labelSmoothing: s }),
    ref: (a) => R.crossEntropy(a.z, a.labels, reduction, s),
    refGrad: (a, g) => ({ z: R.crossEntropyGrad(a.z, a.labels, reduction, s, g) }),
    grad: ['z'],
    ...extra,
  };
}

// k, s, p: [h, w] pairs for the reference; opts as given to the op.
function poolRow(kind, shape, opts, k, s, p, extra = {}) {
  const Ref = kind === 'max' ? [R.maxPool2d, R.maxPool2dGrad] : [R.avgPool2d, R.avgPool2dGrad];
  return {
    name: `${kind}Pool2d [${shape}] ${JSON.stringify(opts)}`,
    make: (r) => ({ x: r.array(shape) }),
    run: (lk, t) => lk.ops[`${kind}Pool2d`](t.x, opts),
    ref: (a) => Ref[0](a.x, k, s, p),
    refGrad: (a, g) => ({ x: Ref[1](a.x, k, s, p, g) }),
    grad: ['x'],
    ...extra,
  };
}

module.exports = [
  // ---- activations
  {
    name: 'relu [3,50]',
    make: (r) => ({ x: r.array([3, 50]) }),
    run: (lk, t) => lk.ops.relu(t.x),
    ref: (a) => R.relu(a.x),
    refGrad: (a, g) => ({ x: R.reluGrad(a.x, g) }),
    grad: ['x'],
  },
  {
    name: 'gelu [2,7] (fd)',
    make: (r) => ({ x: r.array([2, 7], -4, 4) }),
    run: (lk, t) => lk.ops.gelu(t.x),
    ref: (a) => R.gelu(a.x),
    refGrad: (a, g) => ({ x: R.geluGrad(a.x, g) }),
    grad: ['x'],
    fd: true,
  },
  {
    name: 'gelu [4,300] over [-8, 8]',
    make: (r) => ({ x: r.array([4, 300], -8, 8) }),
    run: (lk, t) => lk.ops.gelu(t.x),
    ref: (a) => R.gelu(a.x),
    refGrad: (a, g) => ({ x: R.geluGrad(a.x, g) }),
    grad: ['x'],
  },

  {
    // Values of 1e-19 to 4e-3: checks the accuracy of the lower tail, where 1 + erf cancels.
    name: 'gelu lower tail [3,40] over [-9, -3]',
    make: (r) => ({ x: r.array([3, 40], -9, -3) }),
    run: (lk, t) => lk.ops.gelu(t.x),
    ref: (a) => R.gelu(a.x),
    refGrad: (a, g) => ({ x: R.geluGrad(a.x, g) }),
    grad: ['x'],
  },

  // ---- softmax / logSoftmax along the last dim and dim 1, large logits
  softmaxRow([3, 4], -1, false, 1, { fd: true }),
  softmaxRow([2, 3, 4], 1, true, 1, { fd: true }),
  softmaxRow([5, 37], -1, false),
  softmaxRow([5, 37], -1, true),
  softmaxRow([2, 5, 3, 4], 1, false),
  softmaxRow([2, 5, 3, 4], 1, true),
  softmaxRow([2, 3, 70], 1, false),
  softmaxRow([4, 20], -1, false, 1000),
  softmaxRow([4, 20], -1, true, 1000),
  softmaxRow([2, 6, 5], 1, true, 500),

  // ---- cross-entropy: each reduction, label smoothing, large logits
  crossEntropyRow(3, 4, 'mean', 0, 1, { fd: true }),
  crossEntropyRow(3, 5, 'none', 0.2, 1, { fd: true }),
  crossEntropyRow(8, 10, 'mean', 0),
  crossEntropyRow(8, 10, 'sum', 0),
  crossEntropyRow(8, 10, 'none', 0),
  crossEntropyRow(6, 100, 'mean', 0.1),
  crossEntropyRow(6, 100, 'sum', 0.1),
  crossEntropyRow(5, 12, 'mean', 0.1, 1000),

  // ---- pooling: odd sizes, padding, stride != kernel
  {
    name: 'globalAvgPool2d [2,3,5,7]',
    make: (r) => ({ x: r.array([2, 3, 5, 7]) }),
    run: (lk, t) => lk.ops.globalAvgPool2d(t.x),
    ref: (a) => R.globalAvgPool2d(a.x),
    refGrad: (a, g) => ({ x: R.globalAvgPool2dGrad(a.x, g) }),
    grad: ['x'],
    fd: true,
  },
  poolRow('max', [2, 3, 7, 9], { kernelSize: 3, stride: 2, padding: 1 }, [3, 3], [2, 2], [1, 1]),
  poolRow('max', [1, 2, 6, 7], { kernelSize: 2 }, [2, 2], [2, 2], [0, 0]),
  poolRow('max', [2, 2, 5, 8], { kernelSize: [3, 2], stride: [1, 3], padding: [1, 0] }, [3, 2], [1, 3], [1, 0]),
  poolRow('max', [1, 2, 3, 1], { kernelSize: 3, stride: 2, padding: 1 }, [3, 3], [2, 2], [1, 1]),
  poolRow('max', [1, 1, 2, 9], { kernelSize: [2, 4], stride: [1, 3], padding: [1, 2] }, [2, 4], [1, 3], [1, 2]),
  {
    // Many equal values: the gradient must go to the first maximum of each window.
    ...poolRow('max', [1, 2, 7, 7], { kernelSize: 3, stride: 2, padding: 1 }, [3, 3], [2, 2], [1, 1]),
    name: 'maxPool2d ties go to the first maximum [1,2,7,7]',
    make: (r) => ({ x: { data: Float64Array.from({ length: 98 }, () => r.int(0, 2)), shape: [1, 2, 7, 7] } }),
  },
  poolRow('avg', [2, 3, 7, 9], { kernelSize: 3, stride: 2, padding: 1 }, [3, 3], [2, 2], [1, 1], { fd: true }),
  poolRow('avg', [1, 2, 6, 7], { kernelSize: 2 }, [2, 2], [2, 2], [0, 0]),
  poolRow('avg', [2, 2, 7, 8], { kernelSize: [2, 3], stride: [3, 1], padding: [1, 1] }, [2, 3], [3, 1], [1, 1]),
];
