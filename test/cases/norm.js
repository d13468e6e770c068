// Normalisation rows: BatchNorm (training with running statistics, inference), LayerNorm,
// LayerNorm2d, GroupNorm and weight standardisation.
'use strict';
const R = require('../reference/norm');

// Inputs for a normalisation row: x plus per-channel weight / bias.
const withAffine = (r, shape, C) => ({ x: r.array(shape), w: r.array([C], 0.5, 1.5), b: r.array([C]) });
// Running statistics (variance positive).
const running = (r, C) => ({ rm: r.array([C], -0.5, 0.5), rv: r.array([C], 0.5, 2) });

// BatchNorm in training mode with running stats: the row's output is y followed by the updated
// running mean and variance, so the in-place update is compared with the reference too.
function batchNormTrainingRow(name, shape, opts, extra = {}) {
  const C = shape[1];
  const n = shape.reduce((p, q) => p * q, 1);
  return {
    name,
    make: (r) => ({ ...withAffine(r, shape, C), ...running(r, C) }),
    run: (lk, t) => {
      const y = lk.ops.batchNorm2d(t.x, {
        weight: t.w,
        bias: t.b,
        runningMean: t.rm,
        runningVar: t.rv,
        training: true,
        ...opts,
      });
      return lk.ops.cat([lk.ops.reshape(y, [-1]), t.rm, t.rv], 0);
    },
    ref: (a) => {
      const o = R.batchNorm(a.x, {
        weight: a.w,
        bias: a.b,
        runningMean: a.rm,
        runningVar: a.rv,
        training: true,
        ...opts,
      });
      return { data: Float64Array.from([...o.data, ...o.runningMean, ...o.runningVar]), shape: [n + 2 * C] };
    },
    refGrad: (a, g) => {
      const gr = R.batchNormGrad(a.x, { weight: a.w, training: true, ...opts }, g.subarray(0, n));
      return { x: gr.x, w: gr.weight, b: gr.bias };
    },
    grad: ['x', 'w', 'b'],
    ...extra,
  };
}

function affineRow(name, shape, C, run, ref, refGrad, extra = {}) {
  return {
    name,
    make: (r) => withAffine(r, shape, C),
    run,
    ref,
    refGrad: (a, g) => {
      const gr = refGrad(a, g);
      return { x: gr.x, w: gr.weight, b: gr.bias };
    },
    grad: ['x', 'w', 'b'],
    ...extra,
  };
}

function groupNormRow(shape, G, extra = {}) {
  return affineRow(
    `groupNorm ${G} groups [${shape}]`,
    shape,
    shape[1],
    (lk, t) => lk.ops.groupNorm(t.x, G, t.w, t.b),
    (a) => R.groupNorm(a.x, G, a.w, a.b),
    (a, g) => R.groupNormGrad(a.x, G, a.w, 1e-5, g),
    extra,
  );
}

module.exports = [
  // ---- BatchNorm
  {
    name: 'batchNorm2d inference [2,3,4,5] with affine',
    make: (r) => ({ ...withAffine(r, [2, 3, 4, 5], 3), ...running(r, 3) }),
    run: (lk, t) => lk.ops.batchNorm2d(t.x, { weight: t.w, bias: t.b, runningMean: t.rm, runningVar: t.rv }),
    ref: (a) => R.batchNorm(a.x, { weight: a.w, bias: a.b, runningMean: a.rm, runningVar: a.rv }),
    refGrad: (a, g) => {
      const gr = R.batchNormGrad(a.x, { weight: a.w, runningMean: a.rm, runningVar: a.rv }, g);
      return { x: gr.x, w: gr.weight, b: gr.bias };
    },
    grad: ['x', 'w', 'b'],
    fd: true,
  },
  {
    name: 'batchNorm2d inference no affine, eps 1e-3 [3,4,3,3]',
    make: (r) => ({ x: r.array([3, 4, 3, 3]), ...running(r, 4) }),
    run: (lk, t) => lk.ops.batchNorm2d(t.x, { runningMean: t.rm, runningVar: t.rv, eps: 1e-3 }),
    ref: (a) => R.batchNorm(a.x, { runningMean: a.rm, runningVar: a.rv, eps: 1e-3 }),
    refGrad: (a, g) => ({ x: R.batchNormGrad(a.x, { runningMean: a.rm, runningVar: a.rv, eps: 1e-3 }, g).x }),
    grad: ['x'],
  },
  {
    name: 'batchNorm2d training [2,2,2,3] (fd)',
    make: (r) => withAffine(r, [2, 2, 2, 3], 2),
    run: (lk, t) => lk.ops.batchNorm2d(t.x, { weight: t.w, bias: t.b, training: true }),
    ref: (a) => R.batchNorm(a.x, { weight: a.w, bias: a.b, training: true }),
    refGrad: (a, g) => {
      const gr = R.batchNormGrad(a.x, { weight: a.w, training: true }, g);
      return { x: gr.x, w: gr.weight, b: gr.bias };
    },
    grad: ['x', 'w', 'b'],
    fd: true,
  },
  // (No fd on these: the concatenated running stats depend on x but are not differentiated.)
  batchNormTrainingRow('batchNorm2d training + running-stat update [2,2,2,3]', [2, 2, 2, 3], {}),
  batchNormTrainingRow('batchNorm2d training momentum 0.3 eps 1e-3 [4,5,6,7]', [4, 5, 6, 7], {
    momentum: 0.3,
    eps: 1e-3,
  }),
  {
    name: 'batchNorm2d training, no affine / running stats, offset data [3,6,5,5]',
    make: (r) => ({ x: r.array([3, 6, 5, 5], 9, 11) }),
    run: (lk, t) => lk.ops.batchNorm2d(t.x, { training: true }),
    ref: (a) => R.batchNorm(a.x, { training: true }),
    refGrad: (a, g) => ({ x: R.batchNormGrad(a.x, { training: true }, g).x }),
    grad: ['x'],
  },
  {
    name: 'batchNorm2d training, input gradient only (weight without grad) [2,3,4,4]',
    make: (r) => withAffine(r, [2, 3, 4, 4], 3),
    run: (lk, t) => lk.ops.batchNorm2d(t.x, { weight: t.w, bias: t.b, training: true }),
    ref: (a) => R.batchNorm(a.x, { weight: a.w, bias: a.b, training: true }),
    refGrad: (a, g) => ({ x: R.batchNormGrad(a.x, { weight: a.w, training: true }, g).x }),
    grad: ['x'],
  },

  // ---- LayerNorm (last dim) and LayerNorm2d (channels first)
  affineRow(
    'layerNorm [2,5] (fd)',
    [2, 5],
    5,
    (lk, t) => lk.ops.layerNorm(t.x, t.w, t.b),
    (a) => R.layerNorm(a.x, a.w, a.b),
    (a, g) => R.layerNormGrad(a.x, a.w, 1e-5, g),
    { fd: true },
  ),
  affineRow(
    'layerNorm [3,4,40] eps 1e-6',
    [3, 4, 40],
    40,
    (lk, t) => lk.ops.layerNorm(t.x, t.w, t.b, { eps: 1e-6 }),
    (a) => R.layerNorm(a.x, a.w, a.b, 1e-6),
    (a, g) => R.layerNormGrad(a.x, a.w, 1e-6, g),
  ),
  {
    name: 'layerNorm without affine, offset data [7,33]',
    make: (r) => ({ x: r.array([7, 33], 99, 101) }),
    run: (lk, t) => lk.ops.layerNorm(t.x),
    ref: (a) => R.layerNorm(a.x, null, null),
    refGrad: (a, g) => ({ x: R.layerNormGrad(a.x, null, 1e-5, g).x }),
    grad: ['x'],
  },
  affineRow(
    'layerNorm2d [1,3,2,3] (fd)',
    [1, 3, 2, 3],
    3,
    (lk, t) => lk.ops.layerNorm2d(t.x, t.w, t.b),
    (a) => R.layerNorm2d(a.x, a.w, a.b),
    (a, g) => R.layerNorm2dGrad(a.x, a.w, 1e-6, g),
    { fd: true },
  ),
  affineRow(
    'layerNorm2d [2,6,9,9] (pixels span two tiles)',
    [2, 6, 9, 9],
    6,
    (lk, t) => lk.ops.layerNorm2d(t.x, t.w, t.b),
    (a) => R.layerNorm2d(a.x, a.w, a.b),
    (a, g) => R.layerNorm2dGrad(a.x, a.w, 1e-6, g),
  ),
  {
    name: 'layerNorm2d without affine, input gradient only [2,5,3,4]',
    make: (r) => ({ x: r.array([2, 5, 3, 4]) }),
    run: (lk, t) => lk.ops.layerNorm2d(t.x, null, null, { eps: 1e-5 }),
    ref: (a) => R.layerNorm2d(a.x, null, null, 1e-5),
    refGrad: (a, g) => ({ x: R.layerNorm2dGrad(a.x, null, 1e-5, g).x }),
    grad: ['x'],
  },

  // ---- GroupNorm: 1 group, 2 groups, C groups; 4-D, 3-D and 2-D inputs
  groupNormRow([2, 4, 2, 2], 2, { fd: true }),
  groupNormRow([2, 6, 3, 5], 1),
  groupNormRow([2, 6, 3, 5], 2),
  groupNormRow([2, 6, 3, 5], 6),
  groupNormRow([3, 8, 10], 4),
  groupNormRow([4, 6], 3),
  // ---- weight standardisation
  {
    name: 'weightStandardize eps 1e-8 of [4,3,3,3]',
    make: (r) => ({ w: r.array([4, 3, 3, 3]) }),
    run: (lk, t) => lk.ops.weightStandardize(t.w, 1e-8),
    ref: (a) => R.weightStandardize(a.w, 1e-8),
    refGrad: (a, g) => ({ w: R.weightStandardizeGrad(a.w, 1e-8, g) }),
    grad: ['w'],
    fd: true,
  },
  {
    name: 'weightStandardize eps 1e-5 of [6,40,1,1]',
    make: (r) => ({ w: r.array([6, 40, 1, 1]) }),
    run: (lk, t) => lk.ops.weightStandardize(t.w, 1e-5),
    ref: (a) => R.weightStandardize(a.w, 1e-5),
    refGrad: (a, g) => ({ w: R.weightStandardizeGrad(a.w, 1e-5, g) }),
    grad: ['w'],
  },
];
