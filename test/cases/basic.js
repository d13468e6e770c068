'use strict';
const R = require('../reference/basic');

module.exports = [
  {
    name: 'add broadcast [2,3,4]+[3,1]',
    make: (r) => ({ a: r.array([2, 3, 4]), b: r.array([3, 1]) }),
    run: (lk, t) => lk.ops.add(t.a, t.b),
    ref: (a) => R.broadcast(a.a, a.b, (x, y) => x + y),
    refGrad: (a, g) => R.broadcastGrad(a.a, a.b, g, (x, y) => [1, 1]),
    grad: ['a', 'b'],
    fd: true,
  },
  {
    name: 'mul broadcast [2,1,5]*[3,5]',
    make: (r) => ({ a: r.array([2, 1, 5]), b: r.array([3, 5]) }),
    run: (lk, t) => lk.ops.mul(t.a, t.b),
    ref: (a) => R.broadcast(a.a, a.b, (x, y) => x * y),
    refGrad: (a, g) => R.broadcastGrad(a.a, a.b, g, (x, y) => [y, x]),
    grad: ['a', 'b'],
    fd: true,
  },
  {
    name: 'mean over dim 1 of [3,7,5]',
    make: (r) => ({ x: r.array([3, 7, 5]) }),
    run: (lk, t) => lk.ops.mean(t.x, 1),
    ref: (a) => R.reduceDim(a.x, 1, 1 / 7),
    refGrad: (a, g) => ({ x: R.reduceDimGrad(a.x, 1, 1 / 7, g) }),
    grad: ['x'],
    fd: true,
  },
  {
    name: 'permute [2,3,4] -> (2,0,1)',
    make: (r) => ({ x: r.array([2, 3, 4]) }),
    run: (lk, t) => lk.ops.permute(t.x, [2, 0, 1]),
    ref: (a) => R.permute(a.x, [2, 0, 1]),
    refGrad: (a, g) => ({ x: R.permuteGrad(a.x, [2, 0, 1], g) }),
    grad: ['x'],
  },
  {
    name: 'slice dim 2 [1:4] of [2,3,6]',
    make: (r) => ({ x: r.array([2, 3, 6]) }),
    run: (lk, t) => lk.ops.slice(t.x, 2, 1, 4),
    ref: (a) => R.slice(a.x, 2, 1, 4),
    refGrad: (a, g) => ({ x: R.sliceGrad(a.x, 2, 1, 4, g) }),
    grad: ['x'],
  },
];
