// The tensor and autograd layer itself: construction, errors, grad accumulation, noGrad,
// threads and SIMD-path selection.
'use strict';
const test = require('ava');
const { execFileSync } = require('child_process');
const path = require('path');
const lk = require('..');
const { ops } = lk;

test('tensor() wraps a Float32Array without copying', (t) => {
  const d = new Float32Array([1, 2, 3, 4, 5, 6]);
  const x = lk.tensor(d, [2, 3]);
  t.is(x.data, d);
  t.deepEqual([...x.shape], [2, 3]);
  t.is(x.size, 6);
});

test('tensor() rejects bad data and shapes with clear errors', (t) => {
  t.throws(() => lk.tensor('abc', [3]), { instanceOf: TypeError, message: /data must be a Float32Array/ });
  t.throws(() => lk.tensor(new Float32Array(6), [4, 2]), {
    instanceOf: RangeError,
    message: /shape \[4, 2\] needs 8 values, data has 6/,
  });
  t.throws(() => lk.tensor(new Float32Array(6), [2, -3]), {
    instanceOf: TypeError,
    message: /shape must be an array of non-negative integers/,
  });
  t.throws(() => lk.tensor(new Float32Array(6), [2, 1.5]), { instanceOf: TypeError });
});

test('backward needs gradOutput for non-scalars and a graph that requires grad', (t) => {
  const x = lk.tensor(new Float32Array([1, 2, 3]), [3], { requiresGrad: true });
  const y = ops.scale(x, 2);
  t.throws(() => y.backward(), { instanceOf: RangeError, message: /gradOutput is required/ });
  t.throws(() => y.backward(new Float32Array(2)), { instanceOf: RangeError, message: /must hold 3 values/ });
  const z = ops.scale(lk.tensor(new Float32Array(3), [3]), 2);
  t.throws(() => ops.sum(z).backward(), { instanceOf: TypeError, message: /does not require grad/ });
});

test('gradients accumulate across backward calls and flow through shared inputs', (t) => {
  const x = lk.tensor(new Float32Array([1, -2, 3]), [3], { requiresGrad: true });
  // y = sum(x*x + 3x): dy/dx = 2x + 3
  ops.sum(ops.add(ops.mul(x, x), ops.scale(x, 3))).backward();
  t.deepEqual([...x.grad.data], [5, -1, 9]);
  ops.sum(x).backward();
  t.deepEqual([...x.grad.data], [6, 0, 10]);
});

test('noGrad records no graph', (t) => {
  const x = lk.tensor(new Float32Array([1, 2]), [2], { requiresGrad: true });
  const y = lk.noGrad(() => ops.scale(x, 2));
  t.false(y.requiresGrad);
  t.true(y.isLeaf);
  t.true(lk.isGradEnabled());
  t.throws(() => lk.noGrad(() => Promise.resolve(1)), { instanceOf: TypeError, message: /synchronous/ });
});

test('reshape infers -1 and rejects impossible shapes', (t) => {
  const x = lk.tensor(new Float32Array(12), [3, 4]);
  t.deepEqual([...ops.reshape(x, [2, -1, 3]).shape], [2, 2, 3]);
  t.throws(() => ops.reshape(x, [5, -1]), { instanceOf: RangeError, message: /cannot infer -1/ });
  t.throws(() => ops.reshape(x, [-1, -1]), { instanceOf: TypeError, message: /at most one -1/ });
  t.throws(() => ops.add(x, lk.tensor(new Float32Array(5), [5])), {
    instanceOf: RangeError,
    message: /cannot be broadcast/,
  });
});

test('thread count: API and LKVIT_NUM_THREADS', (t) => {
  const before = lk.getNumThreads();
  lk.setNumThreads(1);
  t.is(lk.getNumThreads(), 1);
  lk.setNumThreads(0);
  t.is(lk.getNumThreads(), before);
  t.throws(() => lk.setNumThreads(-1), { instanceOf: RangeError, message: /setNumThreads: n must be an integer/ });
  const root = path.join(__dirname, '..');
  const n = execFileSync(process.execPath, ['-e', "process.stdout.write(String(require('.').getNumThreads()))"], {
    cwd: root,
    env: { ...process.env, LKVIT_NUM_THREADS: '3' },
  }).toString();
  t.is(n, '3');
});

test('SIMD path: setIsa and LKVIT_ISA select a supported path', (t) => {
  const { best } = lk.getIsa();
  lk.setIsa('generic');
  t.is(lk.getIsa().active, 'generic');
  lk.setIsa(best);
  t.throws(() => lk.setIsa('sse9'), {
    instanceOf: RangeError,
    message: /isa must be one of 'generic', 'avx2' or 'avx512'/,
  });
  const root = path.join(__dirname, '..');
  const active = execFileSync(process.execPath, ['-e', "process.stdout.write(require('.').getIsa().active)"], {
    cwd: root,
    env: { ...process.env, LKVIT_ISA: 'generic' },
  }).toString();
  t.is(active, 'generic');
});

test('Tensor methods: sum, mean, reshape, transpose, slice', (t) => {
  const x = lk.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], { requiresGrad: true });
  t.is(x.sum().item(), 21);
  t.deepEqual([...x.mean(1).data], [2, 5]);
  t.deepEqual([...x.transpose(0, 1).data], [1, 4, 2, 5, 3, 6]);
  t.deepEqual([...x.reshape([3, 2]).shape], [3, 2]);
  t.deepEqual([...x.slice(1, 1, 3).data], [2, 3, 5, 6]);
  x.slice(1, 1, 3).sum().backward();
  t.deepEqual([...x.grad.data], [0, 1, 1, 0, 1, 1]);
});

test("backward never writes into the caller's gradOutput or shares it with .grad", (t) => {
  const x = lk.tensor(new Float32Array([1, 2, 3, 4]), [2, 2], { requiresGrad: true });
  const g = new Float32Array([1, 1, 1, 1]);
  x.reshape([4]).backward(g); // reshape passes the gradient straight through
  t.not(x.grad.data, g);
  x.reshape([4]).backward(g);
  t.deepEqual([...x.grad.data], [2, 2, 2, 2]);
  t.deepEqual([...g], [1, 1, 1, 1]);
  // A tensor used twice through pass-through ops: accumulation copies before adding.
  const z = lk.tensor(new Float32Array([1, 2]), [2], { requiresGrad: true });
  ops.cat([z.reshape([2]), z.reshape([1, 2]).reshape([2])], 0).backward(new Float32Array([1, 2, 3, 4]));
  t.deepEqual([...z.grad.data], [4, 6]);
});
