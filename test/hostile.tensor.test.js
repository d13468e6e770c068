// The tensor layer under hostile inputs (issue 19): constructors refuse data that does not match
// the shape, every op checks the size of what it would allocate before allocating it (RangeError
// naming the op and the argument, never Node's own "Invalid typed array length"), empty results
// come back at once, and NaN goes through the activations as in PyTorch (checked against the
// float64 references of test/reference/).
'use strict';
const test = require('ava');
const { lk, rng } = require('./helpers');
const R = require('./reference/nn');

const { ops } = lk;
const NODE_INTERNAL =
  /Invalid typed array length|size out of range|Array buffer allocation failed|Invalid array length/;

// fn must throw `type` with a message matching `message` within `ms`, and not one of Node's own.
function refuses(t, fn, type, message, ms = 2000) {
  const t0 = Date.now();
  const e = t.throws(fn, { instanceOf: type, message });
  if (e) t.notRegex(e.message, NODE_INTERNAL);
  t.true(Date.now() - t0 < ms, `took ${Date.now() - t0} ms`);
}
function quick(t, fn, ms = 1000) {
  const t0 = Date.now();
  const r = fn();
  t.true(Date.now() - t0 < ms, `took ${Date.now() - t0} ms`);
  return r;
}
const detach = (a) => structuredClone(a.buffer, { transfer: [a.buffer] });

test('Tensor and tensor() refuse data that does not match the shape', (t) => {
  refuses(
    t,
    () => new lk.Tensor(new Float32Array(4), [10, 10]),
    RangeError,
    /^Tensor: shape \[10, 10\] needs 100 values, data has 4$/,
  );
  refuses(t, () => new lk.Tensor([1, 2], [2]), TypeError, /^Tensor: data must be a Float32Array, got Array/);
  refuses(t, () => new lk.Tensor(new Float64Array(2), [2]), TypeError, /data must be a Float32Array, got Float64Array/);
  refuses(t, () => new lk.Tensor(new Float32Array(2), 2), TypeError, /^Tensor: shape must be an array/);
  for (const bad of [[-1], [1.5], [NaN], ['2'], [Infinity]])
    refuses(
      t,
      () => lk.tensor(new Float32Array(2), bad),
      TypeError,
      /^tensor: shape must be an array of non-negative integers/,
    );
  refuses(t, () => lk.tensor(['a', 'b', 'c'], [3]), TypeError, /^tensor: data\[0\] must be a number, got string/);
  refuses(t, () => lk.tensor([1, 2, null]), TypeError, /data\[2\] must be a number, got null/);
  refuses(
    t,
    () =>
      lk.tensor([
        [1, 2],
        [3, 4],
      ]),
    TypeError,
    /data\[0\] must be a number, got Array \(nested arrays are not read/,
  );
  refuses(
    t,
    () => lk.tensor('abc'),
    TypeError,
    /^tensor: data must be a Float32Array or an array of numbers, got string/,
  );
  // Explicit NaN numbers are data, not a mistake.
  t.true(Number.isNaN(lk.tensor([NaN, 1]).data[0]));
});

test('a detached buffer is named as such, at construction and in any op later', (t) => {
  const a = new Float32Array(16384);
  detach(a);
  refuses(
    t,
    () => new lk.Tensor(a, [16384]),
    RangeError,
    /needs 16384 values, data has none \(an empty or detached buffer/,
  );
  const x = lk.tensor(new Float32Array(16384), [128, 128]);
  detach(x.data);
  refuses(
    t,
    () => ops.relu(x),
    RangeError,
    /^relu: x has shape \[128, 128\] \(16384 values\) but its data has none \(an empty or detached/,
  );
  refuses(t, () => ops.matmul(x, x), RangeError, /^matmul: a has shape \[128, 128\]/);
  const y = lk.tensor(new Float32Array(6), [2, 3]);
  y.data = new Float32Array(2);
  refuses(t, () => ops.add(y, y), RangeError, /^add: a has shape \[2, 3\] \(6 values\) but its data has 2/);
});

test('shapes past 2^31 - 1 elements are refused with the limit, zeros aside too', (t) => {
  refuses(
    t,
    () => lk.zeros([2 ** 20, 2 ** 20]),
    RangeError,
    /^zeros: shape \[1048576, 1048576\] would have 2\^40 elements \(limit 2\^31 - 1 per tensor\)/,
  );
  refuses(t, () => lk.full([2 ** 31], 1), RangeError, /^full: shape \[2147483648\] would have 2\^31 elements/);
  refuses(t, () => lk.full([2], 'a'), TypeError, /^full: value must be a number, got string/);
  refuses(
    t,
    () => lk.tensor(new Float32Array(0), [2 ** 31, 0]),
    RangeError,
    /dims other than 0 that multiply to 2\^31/,
  );
  refuses(t, () => ops.reshape(lk.zeros([0]), [2 ** 40, 0]), RangeError, /^reshape: shape \[1099511627776, 0\]/);
  t.is(lk.zeros([2 ** 31 - 1, 0]).size, 0);
});

test('every op checks its output size first and names the argument that made it too large', (t) => {
  const one = lk.zeros([1, 1, 1, 1]);
  refuses(
    t,
    () => ops.pad2d(one, 2 ** 20),
    RangeError,
    /^pad2d: output \[1, 1, 2097153, 2097153\] would have \d+ elements \(limit 2\^31 - 1 per tensor\), from padding \[1048576, 1048576, 1048576, 1048576\]/,
  );
  refuses(
    t,
    () => ops.conv2d(one, one, { padding: 2 ** 31 }),
    RangeError,
    /^conv2d: padding must be in \[0, 2147483647\], got 2147483648/,
  );
  refuses(
    t,
    () => ops.conv2d(one, one, { padding: 2 ** 30 }),
    RangeError,
    /^conv2d: output \[1, 1, 2147483649, 2147483649\] .* with padding \[1073741824, 1073741824\]/,
  );
  refuses(
    t,
    () => ops.conv2d(one, one, { dilation: 2 ** 40 }),
    RangeError,
    /^conv2d: dilation must be in \[1, 2147483647\]/,
  );
  refuses(
    t,
    () => ops.depthwiseConv2d(one, one, { padding: 2 ** 20 }),
    RangeError,
    /^depthwiseConv2d: output \[1, 1, 2097153, 2097153\] .* padding \[1048576, 1048576\]/,
  );
  refuses(
    t,
    () => ops.avgPool2d(one, { kernelSize: [2 ** 16, 2 ** 16] }),
    RangeError,
    /^avgPool2d: kernelSize \[65536, 65536\] would cover 4294967296 values/,
  );
  const col = lk.zeros([2 ** 16, 1]),
    row = lk.zeros([1, 2 ** 16]);
  refuses(
    t,
    () => ops.add(col, row),
    RangeError,
    /^add: output \[65536, 65536\] would have 2\^32 elements .* from broadcasting a \[65536, 1\] with b \[1, 65536\]/,
  );
  refuses(t, () => ops.mul(col, row), RangeError, /^mul: output/);
  refuses(
    t,
    () => ops.matmul(col, row),
    RangeError,
    /^matmul: output \[65536, 65536\] would have 2\^32 elements .* a \[65536, 1\] times b \[1, 65536\]/,
  );
  refuses(
    t,
    () => ops.linear(col, lk.zeros([2 ** 16, 1])),
    RangeError,
    /^linear: output \[65536, 65536\] .* weight \[65536, 1\]/,
  );
  const q = lk.zeros([1, 1, 2 ** 16, 1]);
  refuses(
    t,
    () => ops.attention(q, q, q, { returnProbs: true }),
    RangeError,
    /^attention: probs \[1, 1, 65536, 65536\] would have 2\^32 elements/,
  );
  const half = lk.tensor(new Float32Array(0), [2 ** 30, 0]);
  refuses(
    t,
    () => ops.cat([half, half, half], 0),
    RangeError,
    /^cat: output \[3221225472, 0\] would have dims other than 0 .* from 3 tensors along dim 0/,
  );
  refuses(
    t,
    () => ops.groupNorm(lk.zeros([2, 0, 3]), 2 ** 40),
    RangeError,
    /^groupNorm: numGroups must be in \[1, 1\], got 1099511627776/,
  );
});

test('ops on empty tensors return at once, without a loop over the other dims', (t) => {
  // matmul with a batch of 2^31 - 1 empty products took 22 s.
  const a = lk.tensor(new Float32Array(0), [2 ** 31 - 1, 0, 1], { requiresGrad: true });
  const b = lk.tensor(new Float32Array(0), [2 ** 31 - 1, 1, 0], { requiresGrad: true });
  const y = quick(t, () => ops.matmul(a, b));
  t.deepEqual([...y.shape], [2 ** 31 - 1, 0, 0]);
  quick(t, () => y.backward(new Float32Array(0)));
  t.deepEqual([...a.grad.shape], [...a.shape]);
  t.deepEqual([...b.grad.shape], [...b.shape]);
  // K = 0: a sum over nothing is 0, and so are the gradients.
  const z = ops.matmul(lk.full([2, 3, 0], 1), lk.full([2, 0, 4], 1));
  t.deepEqual([...z.data], new Array(24).fill(0));
  // linear, slice, cat, sum and pad2d with 2^31 - 1 rows of nothing.
  const x = lk.tensor(new Float32Array(0), [2 ** 31 - 1, 0]);
  t.deepEqual([...quick(t, () => ops.linear(x, lk.zeros([0, 0]), lk.zeros([0]))).shape], [2 ** 31 - 1, 0]);
  t.deepEqual([...quick(t, () => ops.slice(x, 1, 0, 0)).shape], [2 ** 31 - 1, 0]);
  t.deepEqual([...quick(t, () => ops.cat([x, x], 1)).shape], [2 ** 31 - 1, 0]);
  t.deepEqual(
    [...quick(t, () => ops.sum(lk.tensor(new Float32Array(0), [2 ** 31 - 1, 1, 0]), 1)).shape],
    [2 ** 31 - 1, 0],
  );
  t.deepEqual(
    [...quick(t, () => ops.pad2d(lk.tensor(new Float32Array(0), [2 ** 31 - 1, 0, 0]), 0)).shape],
    [2 ** 31 - 1, 0, 0],
  );
  t.deepEqual(
    [...quick(t, () => ops.softmax(lk.tensor(new Float32Array(0), [2 ** 31 - 1, 0]), 1)).shape],
    [2 ** 31 - 1, 0],
  );
  // pad2d of empty planes still pads: [2, 3, 0, 0] -> [2, 3, 2, 2] of the value.
  const p = ops.pad2d(lk.zeros([2, 3, 0, 0]), 1, 5);
  t.deepEqual([...p.shape], [2, 3, 2, 2]);
  t.deepEqual([...p.data], new Array(24).fill(5));
});

// ---- NaN through activations, softmax and max pooling, against the float64 references --------

// Same NaN positions, the rest within tol (relative to the largest finite reference value).
function sameWithNaN(t, got, want, what, tol = 1e-5) {
  t.is(got.length, want.length, `${what}: length`);
  let scale = 0;
  for (const w of want) if (Number.isFinite(w)) scale = Math.max(scale, Math.abs(w));
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]) || Number.isNaN(got[i])) {
      if (!(Number.isNaN(want[i]) && Number.isNaN(got[i])))
        return t.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
    } else if (!(Math.abs(got[i] - want[i]) <= tol * Math.max(scale, 1e-30)) && got[i] !== want[i]) {
      return t.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
    }
  }
  t.pass(what);
}

// Random values with NaN at a few places (in each row of the last dim: some rows, not all).
function withNaN(shape, seed) {
  const r = rng(seed);
  const a = r.array(shape, -3, 3);
  for (let i = 0; i < a.data.length; i += 7) a.data[i] = NaN;
  return a;
}

const NAN_CASES = [
  { name: 'relu', shape: [5, 9], run: (x) => ops.relu(x), ref: (a) => R.relu(a), grad: (a, g) => R.reluGrad(a, g) },
  { name: 'gelu', shape: [5, 9], run: (x) => ops.gelu(x), ref: (a) => R.gelu(a), grad: (a, g) => R.geluGrad(a, g) },
  {
    name: 'softmax',
    shape: [6, 5],
    run: (x) => ops.softmax(x, 1),
    ref: (a) => R.softmax(a, 1, false),
    grad: (a, g) => R.softmaxGrad(a, 1, false, g),
  },
  {
    name: 'logSoftmax',
    shape: [6, 5],
    run: (x) => ops.logSoftmax(x, 1),
    ref: (a) => R.softmax(a, 1, true),
    grad: (a, g) => R.softmaxGrad(a, 1, true, g),
  },
  {
    name: 'maxPool2d',
    shape: [1, 2, 6, 6],
    run: (x) => ops.maxPool2d(x, { kernelSize: 2 }),
    ref: (a) => R.maxPool2d(a, [2, 2], [2, 2], [0, 0]),
    grad: (a, g) => R.maxPool2dGrad(a, [2, 2], [2, 2], [0, 0], g),
  },
];

for (const c of NAN_CASES) {
  test(`${c.name} propagates NaN like PyTorch (forward and backward against the float64 reference)`, (t) => {
    const a = withNaN(c.shape, 19);
    const x = lk.tensor(Float32Array.from(a.data), c.shape, { requiresGrad: true });
    const y = c.run(x);
    const want = c.ref(a);
    t.true(want.data.some(Number.isNaN), 'the reference propagates NaN');
    sameWithNaN(t, y.data, want.data, 'forward');
    const g = rng(7).array([...y.shape], 0.5, 1.5).data;
    y.backward(Float32Array.from(g));
    sameWithNaN(t, x.grad.data, c.grad(a, g), 'backward');
  });
}

test('relu: NaN in, NaN out; its gradient at NaN is 0 (PyTorch: g * (y > 0))', (t) => {
  const x = lk.tensor([NaN, -1, 0, 2, -0, Infinity, -Infinity], [7], { requiresGrad: true });
  const y = ops.relu(x);
  t.true(Number.isNaN(y.data[0]));
  t.deepEqual([...y.data.subarray(1)], [0, 0, 2, 0, Infinity, 0]);
  y.backward(new Float32Array(7).fill(3));
  t.deepEqual([...x.grad.data], [0, 0, 0, 3, 0, 3, 0]);
});
