'use strict';
const R = require('../reference/steps');

const arr = (values, shape) => ({ data: Float64Array.from(values, Math.fround), shape });
// Expected values written out by hand: the op and the reference must both give them.
const hand = (values, shape) => () => ({ data: Float64Array.from(values), shape });

// x0 in [0, 1], x = x0 plus noise up to `spread`, grad with a few exact zeros.
function perturbed(r, shape, spread) {
  const x0 = r.array(shape, 0, 1);
  const x = { data: x0.data.map((v) => Math.fround(v + (r.next() * 2 - 1) * spread)), shape };
  const g = r.array(shape);
  for (let i = 0; i < g.data.length; i += 7) g.data[i] = 0;
  return { x, x0, g };
}

module.exports = [
  // ---- hand-checkable
  {
    name: 'fgsmStep by hand: sign(0) = 0, clamping at min and max',
    make: () => ({ x: arr([0.5, 0.99, 0.01, 0.3, 0.7], [1, 5]), g: arr([2, 1, -1, 0, -0.5], [1, 5]) }),
    run: (lk, t) => lk.ops.fgsmStep(t.x, t.g, { eps: 0.05 }),
    ref: hand([0.55, 1, 0, 0.3, 0.65], [1, 5]),
  },
  {
    name: 'fgsmStep by hand: custom range [-1, 2]',
    make: () => ({ x: arr([1.9, -0.95, 0], [3]), g: arr([1, -3, 0], [3]) }),
    run: (lk, t) => lk.ops.fgsmStep(t.x, t.g, { eps: 0.25, min: -1, max: 2 }),
    ref: hand([2, -1, 0], [3]),
  },
  {
    name: 'pgdStep linf by hand: ball around x0, sign(0) = 0, clamp',
    make: () => ({
      x: arr([0.5, 0.58, 0.5, 0.98, 0.3], [1, 5]),
      x0: arr([0.5, 0.5, 0.5, 0.95, 0.3], [1, 5]),
      g: arr([1, 1, -1, 1, 0], [1, 5]),
    }),
    run: (lk, t) => lk.ops.pgdStep(t.x, t.g, { x0: t.x0, eps: 0.1, alpha: 0.04 }),
    // 0.54; 0.62 -> clipped to 0.6; 0.46; 1.02 -> ball 1.05 -> clamp 1; no step.
    ref: hand([0.54, 0.6, 0.46, 1, 0.3], [1, 5]),
  },
  {
    // eps = 0.5, alpha = 0.5, x0 = (0.5, 0.5) for every sample:
    //  A: g = (3, 4) from x0: delta (0.3, 0.4), exactly on the ball -> (0.8, 0.9)
    //  B: from (0.9, 0.5), g = (2, 0): delta (0.9, 0) beyond the ball -> (0.5, 0) -> (1, 0.5)
    //  C: zero gradient inside the ball: stays at (0.2, 0.5)
    //  D: zero gradient beyond the ball, from (1, 1): delta (0.5, 0.5) scaled by 1/sqrt(2)
    //  E: beyond the ball and clamped: from (0.1, 0.5), g = (-1, 0): delta (-0.9, 0) -> (-0.5, 0) -> 0 clamps to 0
    name: 'pgdStep l2 by hand: on / beyond the ball, zero gradient, clamp',
    make: () => ({
      x: arr([0.5, 0.5, 0.9, 0.5, 0.2, 0.5, 1, 1, 0.1, 0.5], [5, 2]),
      x0: arr(new Array(10).fill(0.5), [5, 2]),
      g: arr([3, 4, 2, 0, 0, 0, 0, 0, -1, 0], [5, 2]),
    }),
    run: (lk, t) => lk.ops.pgdStep(t.x, t.g, { x0: t.x0, eps: 0.5, alpha: 0.5, norm: 'l2' }),
    ref: hand([0.8, 0.9, 1, 0.5, 0.2, 0.5, 0.5 + 0.5 / Math.SQRT2, 0.5 + 0.5 / Math.SQRT2, 0, 0.5], [5, 2]),
  },
  // The reference itself agrees with the hand values above.
  {
    name: 'pgdStep l2 reference on the hand case',
    make: () => ({
      x: arr([0.5, 0.5, 0.9, 0.5, 0.2, 0.5, 1, 1, 0.1, 0.5], [5, 2]),
      x0: arr(new Array(10).fill(0.5), [5, 2]),
      g: arr([3, 4, 2, 0, 0, 0, 0, 0, -1, 0], [5, 2]),
    }),
    run: (lk) =>
      lk.tensor(
        Float32Array.from([0.8, 0.9, 1, 0.5, 0.2, 0.5, 0.5 + 0.5 / Math.SQRT2, 0.5 + 0.5 / Math.SQRT2, 0, 0.5]),
        [5, 2],
      ),
    ref: (a) => R.pgdL2(a.x, a.g, a.x0, 0.5, 0.5),
    tol: 1e-6,
    refOnly: true, // checks the reference against hand-computed values; runs no op
  },

  // ---- random, per sample
  {
    name: 'fgsmStep random [3,2,5,5] eps 8/255',
    make: (r) => {
      const { x, g } = perturbed(r, [3, 2, 5, 5], 0);
      return { x, g };
    },
    run: (lk, t) => lk.ops.fgsmStep(t.x, t.g, { eps: 8 / 255 }),
    ref: (a) => R.fgsm(a.x, a.g, 8 / 255),
  },
  {
    name: 'pgdStep linf random [4,3,6,6] eps 8/255 alpha 2/255',
    make: (r) => perturbed(r, [4, 3, 6, 6], 8 / 255),
    run: (lk, t) => lk.ops.pgdStep(t.x, t.g, { x0: t.x0, eps: 8 / 255, alpha: 2 / 255 }),
    ref: (a) => R.pgdLinf(a.x, a.g, a.x0, 8 / 255, 2 / 255),
  },
  {
    name: 'pgdStep linf random, range [-2, 2] [2,50]',
    make: (r) => perturbed(r, [2, 50], 0.2),
    run: (lk, t) => lk.ops.pgdStep(t.x, t.g, { x0: t.x0, eps: 0.1, alpha: 0.05, norm: 'linf', min: -2, max: 2 }),
    ref: (a) => R.pgdLinf(a.x, a.g, a.x0, 0.1, 0.05, -2, 2),
  },
  {
    // New deltas of 0.90 to 1.03 against eps = 1: samples 0, 3, 5 are projected, 1, 2, 4 are not.
    name: 'pgdStep l2 random [6,3,8,8] eps 1 alpha 0.5',
    make: (r) => {
      const a = perturbed(r, [6, 3, 8, 8], 0.15);
      // Shrink the start offset on half of the values to bring the deltas near the radius.
      for (let i = 0; i < a.x.data.length; i++)
        if (i % 6 < 3) a.x.data[i] = a.x0.data[i] + Math.fround((a.x.data[i] - a.x0.data[i]) / 4);
      const D = 3 * 8 * 8;
      a.g.data.fill(0, 2 * D, 3 * D); // sample 2: zero gradient
      return a;
    },
    run: (lk, t) => lk.ops.pgdStep(t.x, t.g, { x0: t.x0, eps: 1, alpha: 0.5, norm: 'l2' }),
    ref: (a) => R.pgdL2(a.x, a.g, a.x0, 1, 0.5),
  },
  {
    // New deltas 4.826 and 4.803 against eps = 4.815: the first sample is projected, not the second.
    name: 'pgdStep l2 random, large samples split across threads [2,3,96,96]',
    make: (r) => perturbed(r, [2, 3, 96, 96], 0.05),
    run: (lk, t) => lk.ops.pgdStep(t.x, t.g, { x0: t.x0, eps: 4.815, alpha: 0.25, norm: 'l2', min: -1, max: 2 }),
    ref: (a) => R.pgdL2(a.x, a.g, a.x0, 4.815, 0.25, -1, 2),
  },
];
