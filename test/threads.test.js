// Results must not depend on how many threads the pool has: every kernel splits work so that
// each output element is summed in the same order whatever the split (no cross-thread reductions
// whose order varies). Bit-identical, not merely close.
'use strict';
const test = require('ava');
const lk = require('..');
const { ops } = lk;
const { rng, toTensor } = require('./helpers');

function runAll(make) {
  const out = [];
  for (const threads of [1, 2, 3, 5]) {
    lk.setNumThreads(threads);
    out.push(make());
  }
  lk.setNumThreads(0);
  return out;
}

function assertSameBits(t, results, what) {
  for (let i = 1; i < results.length; i++)
    for (const [k, a] of Object.entries(results[0])) {
      const b = results[i][k];
      let same = a.length === b.length;
      for (let j = 0; same && j < a.length; j++) same = Object.is(a[j], b[j]);
      t.true(same, `${what}: ${k} differs between 1 thread and ${[1, 2, 3, 5][i]} threads`);
    }
}

const cases = [
  ['depthwiseConv2d 31x31 (blocked)', [2, 20, 24, 24], [20, 1, 31, 31], { padding: 15 }],
  ['depthwiseConv2d 3x3 (streaming)', [2, 5, 9, 40], [5, 1, 3, 3], { padding: 1 }],
  ['depthwiseConv2d 5x5 stride 2 (reference)', [1, 6, 13, 11], [6, 1, 5, 5], { padding: 2, stride: 2 }],
];
for (const [name, xs, ws, opts] of cases) {
  test(`${name}: forward and gradients identical for 1, 2, 3, 5 threads`, (t) => {
    const r = rng(7);
    const xa = r.array(xs),
      wa = r.array(ws);
    const results = runAll(() => {
      const x = toTensor(xa, true),
        w = toTensor(wa, true);
      const y = ops.depthwiseConv2d(x, w, opts);
      y.backward(Float32Array.from(y.data, (v, i) => Math.sin(i)));
      return { y: y.data, gx: x.grad.data, gw: w.grad.data };
    });
    assertSameBits(t, results, name);
  });
}

test('matmul, linear and conv2d: identical for 1, 2, 3, 5 threads', (t) => {
  const r = rng(11);
  const a = r.array([300, 257]),
    b = r.array([257, 190]);
  const xa = r.array([2, 8, 19, 23]),
    wa = r.array([12, 8, 3, 3]);
  const results = runAll(() => {
    const A = toTensor(a, true),
      B = toTensor(b, true);
    const C = ops.matmul(A, B);
    C.backward(Float32Array.from(C.data, (v, i) => Math.cos(i)));
    const x = toTensor(xa, true),
      w = toTensor(wa, true);
    const y = ops.conv2d(x, w, { padding: 1 });
    y.backward(Float32Array.from(y.data, (v, i) => Math.cos(i)));
    return { C: C.data, gA: A.grad.data, gB: B.grad.data, y: y.data, gx: x.grad.data, gw: w.grad.data };
  });
  assertSameBits(t, results, 'gemm/conv');
});
