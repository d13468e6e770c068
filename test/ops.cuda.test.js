// The op table (test/cases/*.js) once more, with every input a device tensor on the emulated CUDA
// backend: tensor(..., { device: 'cuda' }) leaves, the public ops dispatching to the CUDA addon,
// backward() on the device, results read back with toArray(). Forward and gradients are compared
// with the same float64 references and tolerances as the CPU rows (test/ops.test.js). Rows too
// large for the emulation (~10 M CUDA threads per CPU second) are listed as skipped in their title.
// LKVIT_CUDA_TEST_REAL=1 (bench/gpu/run.sh on a GPU) runs every row on the real addon instead.
'use strict';
const REAL = process.env.LKVIT_CUDA_TEST_REAL === '1';
if (REAL) delete process.env.LKVIT_CUDA_EMULATED;
else process.env.LKVIT_CUDA_EMULATED = '1';
const BACKEND = REAL ? 'cuda' : 'cuda-emulated';
const fs = require('fs');
const path = require('path');
const test = require('ava');
const { lk, rng, assertClose } = require('./helpers');
const { buildEmulated } = require('../native/cuda/build-emulated');

const dir = path.join(__dirname, 'cases');
const rows = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.js'))
  .sort()
  .flatMap((f) => require(path.join(dir, f)).map((row) => ({ ...row, family: f.replace(/\.js$/, '') })));

// The emulation's budget per row: input plus reference-output elements.
const MAX_ELEMENTS = REAL ? Infinity : Number(process.env.LKVIT_CUDA_TABLE_MAX || 400000);

function hashSeed(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

test.before(async () => {
  if (!REAL) await buildEmulated();
  else if (lk.cuda.info().backend !== 'cuda')
    throw new Error(`LKVIT_CUDA_TEST_REAL=1 but CUDA is not available: ${lk.cuda.info().reason}`);
});

for (const row of rows) {
  const probe = row.make(rng(hashSeed(row.name)));
  const elements = Object.values(probe).reduce((s, v) => s + (v && v.data ? v.data.length : 0), 0);
  const big = elements > MAX_ELEMENTS;
  const skip = row.refOnly
    ? ' (skipped: checks the reference only, runs no op)'
    : big
      ? ` (skipped: ${elements} input elements, above the emulation budget ${MAX_ELEMENTS})`
      : '';
  test.serial(`${BACKEND} ${row.family}: ${row.name}${skip}`, (t) => {
    if (skip) return t.pass();
    const r = rng(hashSeed(row.name));
    const a = row.make(r);
    const grads = row.grad || [];
    const tens = {};
    for (const k of Object.keys(a))
      tens[k] =
        a[k] && a[k].data
          ? lk.tensor(Float32Array.from(a[k].data), a[k].shape, { device: 'cuda', requiresGrad: grads.includes(k) })
          : a[k];
    const out = row.run(lk, tens);
    t.is(out.device, 'cuda', 'the output stays on the device');
    const want = row.ref(a);
    t.deepEqual([...out.shape], want.shape, 'output shape');
    const tol = row.tol ?? 1e-4;
    assertClose(t, out.toArray(), want.data, tol, 'forward');
    if (!grads.length) return;
    const g = r.array(want.shape).data;
    out.backward(Float32Array.from(g));
    const wantG = row.refGrad(a, g);
    for (const k of grads) {
      t.truthy(tens[k].grad, `gradient of ${k} exists`);
      t.is(tens[k].grad.device, 'cuda', `gradient of ${k} on the device`);
      assertClose(t, tens[k].grad.toArray(), wantG[k], tol, `grad ${k}`);
    }
  });
}

test('device tensors: to() round trip, gradients through to(), dispose, mixing devices is an error', (t) => {
  const x = lk.tensor([1, -2, 3, -4], [2, 2], { requiresGrad: true });
  const d = x.to('cuda');
  t.is(d.device, 'cuda');
  t.deepEqual([...d.toArray()], [1, -2, 3, -4]);
  t.throws(() => d.data, {
    message: /is on cuda: \.data is host memory; read it with \.toArray\(\) or move it with \.to\('cpu'\)/,
  });
  const y = lk.ops.relu(d).to('cpu');
  t.is(y.device, 'cpu');
  lk.ops.sum(y).backward();
  t.deepEqual([...x.grad.data], [1, 0, 1, 0], 'the gradient came back through both copies');
  t.throws(() => lk.ops.add(d, x), {
    instanceOf: TypeError,
    message: /^add: all tensors must be on one device, got argument 1 on cuda and argument 2 on cpu/,
  });
  t.throws(() => lk.ops.matmul(x, d), {
    message: /^matmul: all tensors must be on one device, got argument 1 on cpu and argument 2 on cuda/,
  });
  t.throws(() => x.to('gpu'), { instanceOf: RangeError, message: /^to: device must be 'cpu' or 'cuda', got 'gpu'/ });
  const before = lk.cuda.memoryStats().allocated;
  const e = lk.zeros([1000], { device: 'cuda' });
  const grew = lk.cuda.memoryStats().allocated - before;
  if (REAL) t.true(grew >= 4000 && grew <= 4096, `the allocator counts the new array, rounded to 512 bytes: ${grew}`);
  else t.is(grew, 4000, 'the allocator counts the new array (exact sizes under emulation)');
  e.dispose();
  t.is(lk.cuda.memoryStats().allocated, before, 'dispose returned it');
  t.throws(() => lk.ops.relu(e), { message: /was disposed/ });
  const again = lk.zeros([1000], { device: 'cuda' });
  t.true(lk.cuda.memoryStats().cachedBlocks >= 0);
  t.deepEqual([...again.toArray()].slice(0, 3), [0, 0, 0], 'a reused block is filled as asked');
});

test('the caching allocator reuses freed blocks without new device allocations', (t) => {
  const cu = lk.cuda.nativeCuda();
  const a = new cu.DeviceArray(12345);
  a.dispose();
  const allocs = cu.memoryStats().deviceAllocs;
  const b = new cu.DeviceArray(12345);
  t.is(cu.memoryStats().deviceAllocs, allocs, 'served from the cache');
  if (!REAL) t.true(Number.isNaN(b.download()[0]), 'the emulation poisons a reused block with NaN again');
  b.dispose();
  lk.cuda.emptyCache();
  t.is(cu.memoryStats().cachedBlocks, 0);
  t.throws(() => new cu.DeviceArray(-1), { message: /DeviceArray: length must be an integer in \[0, 2147483647\]/ });
  t.throws(() => b.download(), { message: /disposed/ });
  t.throws(() => a.upload(new Float32Array(1)), { message: /disposed/ });
  const c = new cu.DeviceArray(4);
  t.throws(() => c.upload(new Float32Array(5)), { message: /src holds 5 elements, more than the 4/ });
  t.throws(() => c.upload([1, 2]), { message: /src must be a Float32Array or an Int32Array/ });
  t.throws(() => cu.fgsmStep(c, new Float32Array(4), 0.1, 0, 1, new cu.DeviceArray(3)), {
    message: /lkvit native: fgsmStep: out must hold 4 elements, got 3/,
  });
});
