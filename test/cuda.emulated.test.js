// The CUDA kernels (native/cuda/*.cu) run through the SIMT emulation against the same float64
// references and rows as the CPU op table (test/cases, test/reference), under several fiber-order
// seeds; the emulation itself must catch planted bugs. Builds build-cuda-emu/ with g++ if needed.
'use strict';
process.env.LKVIT_CUDA_EMULATED = '1';
const test = require('ava');
const fs = require('fs');
const path = require('path');
const { lk, rng, assertClose } = require('./helpers');
const { buildEmulated } = require('../native/cuda/build-emulated');
const DW = require('./reference/dwconv');
const GEMM = require('./reference/gemm');
const ATT = require('./reference/attention');

// Fiber-order seeds every row runs under (LKVIT_SIMT_SEEDS=1,2,3,... for a longer search).
const SEEDS = (process.env.LKVIT_SIMT_SEEDS || '1,977').split(',').map(Number);
let cu;

test.before(async (t) => {
  const b = await buildEmulated();
  t.log(`emulated addon: ${b.compiled} objects compiled in ${b.seconds.toFixed(1)} s`);
  cu = lk.cuda.nativeCuda();
});

function hashSeed(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

// Runs a table row's `run` against a recording stand-in for lk, so the rows' own op arguments
// (stride, padding, eps...) drive the CUDA calls: returns { op, args } of the op the row calls.
function captureCall(row, inputs) {
  let call = null;
  const ops = new Proxy(
    {},
    {
      get:
        (_, op) =>
        (...args) => ((call = { op, args }), { shape: [] }),
    },
  );
  const tensors = {};
  for (const [k, v] of Object.entries(inputs))
    tensors[k] = v && v.data ? { data: Float32Array.from(v.data), shape: v.shape } : v;
  try {
    row.run({ ops, tensor: () => null }, tensors);
  } catch {
    // A row that goes on using the op's result (e.g. cat) fails on the stand-in; the call is kept.
  }
  return call;
}

const bits = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const pair = (v) => (Array.isArray(v) ? v : [v ?? 0, v ?? 0]);
const rowsOf = (file, prefix) => require(`./cases/${file}`).filter((r) => r.name.startsWith(prefix));

// Each seed's results; the test asserts they are bit-identical (the kernels' reductions have a
// fixed order, so the fiber order must not change a bit).
function underSeeds(t, fn) {
  const results = SEEDS.map((seed) => {
    cu.simt.setSeed(seed);
    return fn();
  });
  for (let s = 1; s < results.length; s++)
    for (const k of Object.keys(results[0]))
      t.true(bits(results[s][k]).equals(bits(results[0][k])), `${k}: seed ${SEEDS[s]} differs from seed ${SEEDS[0]}`);
  return results[0];
}

// ---- depthwise conv: every row of test/cases/dwconv.js, plus the largest kernels

function dwconvOnDevice(x, w, b, [sh, sw], [ph, pw], g) {
  const [N, C, H, W] = x.shape,
    KH = w.shape[2],
    KW = w.shape[3];
  const OH = DW.outSize(H, KH, sh, ph),
    OW = DW.outSize(W, KW, sw, pw);
  const geo = [N, C, H, W, KH, KW, sh, sw, ph, pw];
  const f32 = (a) => Float32Array.from(a.data);
  const y = new Float32Array(N * C * OH * OW);
  cu.dwconv2dForward(f32(x), f32(w), b ? f32(b) : null, y, ...geo);
  const gy = Float32Array.from(g);
  const gx = new Float32Array(x.data.length),
    gw = new Float32Array(w.data.length),
    gb = new Float32Array(C);
  cu.dwconv2dBackwardInput(gy, f32(w), gx, ...geo);
  cu.dwconv2dBackwardWeight(gy, f32(x), gw, ...geo);
  cu.dwconv2dBackwardBias(gy, gb, ...geo);
  return { y, gx, gw, gb };
}

function checkDwconv(t, name, a, stride, padding, tol = 1e-4) {
  const r = rng(hashSeed(name) ^ 0x5eed);
  const want = DW.forward(a.x, a.weight, a.bias || null, stride, padding);
  const g = r.array(want.shape).data;
  const wantG = DW.backward(a.x, a.weight, a.bias || null, stride, padding, g);
  const got = underSeeds(t, () => dwconvOnDevice(a.x, a.weight, a.bias, stride, padding, g));
  assertClose(t, got.y, want.data, tol, 'forward');
  assertClose(t, got.gx, wantG.x, tol, 'grad x');
  assertClose(t, got.gw, wantG.weight, tol, 'grad weight');
  if (a.bias) assertClose(t, got.gb, wantG.bias, tol, 'grad bias');
}

for (const row of rowsOf('dwconv.js', 'depthwiseConv2d')) {
  test(`cuda-emulated dwconv: ${row.name}`, (t) => {
    const a = row.make(rng(hashSeed(row.name)));
    const call = captureCall(row, a);
    t.is(call.op, 'depthwiseConv2d');
    const opts = call.args[2] || {};
    checkDwconv(t, row.name, a, pair(opts.stride ?? 1), pair(opts.padding));
  });
}

// K = 63 needs more than 48 KiB of shared memory (the opt-in attribute path); stride 2 at 63 even more.
for (const [N, C, H, W, K, s, p] of [
  [1, 2, 12, 10, 63, 1, 31],
  [1, 2, 70, 66, 63, 2, 31],
  [2, 3, 40, 37, 62, 1, 30],
  [1, 3, 9, 70, 2, 2, 0],
]) {
  const name = `[${N},${C},${H},${W}] k${K} s${s} p${p}`;
  test(`cuda-emulated dwconv: ${name}`, (t) => {
    const r = rng(hashSeed(name));
    const a = { x: r.array([N, C, H, W]), weight: r.array([C, 1, K, K]), bias: r.array([C]) };
    checkDwconv(t, name, a, [s, s], [p, p]);
  });
}

// ---- attack steps: the rows of test/cases/steps.js, against the float64 reference and bit for bit
// against the CPU engine

function stepOnDevice(call, parts) {
  const [x, g, o] = call.args;
  const out = new Float32Array(x.data.length);
  const lo = o.min ?? 0,
    hi = o.max ?? 1;
  if (call.op === 'fgsmStep') cu.fgsmStep(x.data, g.data, o.eps, lo, hi, out);
  else if ((o.norm ?? 'linf') === 'linf') cu.pgdLinfStep(x.data, g.data, o.x0.data, o.eps, o.alpha, lo, hi, out);
  else cu.pgdL2Step(x.data, g.data, o.x0.data, x.shape[0], o.eps, o.alpha, lo, hi, out, parts);
  return out;
}

// The CPU engine's split of each sample for its L2 norms (native/cpu/steps.cc).
const cpuParts = (D) => Math.max(1, Math.min(Math.ceil(D / 16384), lk.getNumThreads()));

for (const row of rowsOf('steps.js', '')) {
  const a = row.make(rng(hashSeed(row.name)));
  const call = captureCall(row, a);
  if (!call) continue; // rows that check the reference itself call no op
  test(`cuda-emulated steps: ${row.name}`, (t) => {
    const D = call.args[0].data.length / call.args[0].shape[0];
    const got = underSeeds(t, () => ({ out: stepOnDevice(call, cpuParts(D)) }));
    assertClose(t, got.out, row.ref(a).data, row.tol ?? 1e-4, 'step');
    const tensors = {};
    for (const [k, v] of Object.entries(a)) tensors[k] = lk.tensor(Float32Array.from(v.data), v.shape);
    const cpu = row.run(lk, tensors).data;
    t.true(bits(got.out).equals(bits(cpu)), 'bit-identical to the CPU engine');
  });
}

test('cuda-emulated steps: pgd L2 bit-identical to the CPU engine for 1 to 4 threads (samples split in 1 to 4 pieces)', (t) => {
  const r = rng(42);
  const shape = [2, 3, 128, 129];
  const x0 = r.array(shape, 0, 1);
  const x = { data: x0.data.map((v) => Math.fround(v + (r.next() * 2 - 1) * 0.03)), shape };
  const g = r.array(shape);
  const D = x.data.length / 2;
  const keep = lk.getNumThreads();
  try {
    for (let threads = 1; threads <= 4; threads++) {
      lk.setNumThreads(threads);
      const T = (v) => lk.tensor(Float32Array.from(v.data), shape);
      const cpu = lk.ops.pgdStep(T(x), T(g), { x0: T(x0), eps: 3, alpha: 0.5, norm: 'l2' }).data;
      const out = new Float32Array(x.data.length);
      cu.pgdL2Step(
        Float32Array.from(x.data),
        Float32Array.from(g.data),
        Float32Array.from(x0.data),
        2,
        3,
        0.5,
        0,
        1,
        out,
        cpuParts(D),
      );
      t.true(bits(out).equals(bits(cpu)), `${threads} threads (${cpuParts(D)} pieces)`);
    }
  } finally {
    lk.setNumThreads(keep);
  }
});

// ---- SGEMM: the 2-D and batched matmul rows of test/cases/gemm.js (forward, and both gradients,
// which run the transposed forms), then leading dimensions and beta

// C [M, N] = op(A) op(B) with the given transposes, for row-major A [M, K] (or [K, M]) and B.
function gemm(ta, tb, M, N, K, A, B, alpha = 1, beta = 0, C = new Float32Array(M * N)) {
  cu.gemm(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
  return C;
}

for (const row of rowsOf('gemm.js', 'matmul')) {
  test(`cuda-emulated sgemm: ${row.name}`, (t) => {
    const r = rng(hashSeed(row.name));
    const a = row.make(r);
    const want = row.ref(a);
    const g = r.array(want.shape).data;
    const wantG = row.refGrad(a, g);
    const [M, K] = a.a.shape.slice(-2),
      N = a.b.shape[a.b.shape.length - 1];
    const batch = a.a.data.length / (M * K),
      sharedB = a.b.shape.length === 2;
    const A = Float32Array.from(a.a.data),
      B = Float32Array.from(a.b.data),
      G = Float32Array.from(g);
    const got = underSeeds(t, () => {
      const y = new Float32Array(batch * M * N),
        ga = new Float32Array(A.length),
        gb = new Float32Array(B.length);
      for (let i = 0; i < batch; i++) {
        const Ai = A.subarray(i * M * K, (i + 1) * M * K),
          Gi = G.subarray(i * M * N, (i + 1) * M * N);
        const bo = sharedB ? 0 : i * K * N,
          Bi = B.subarray(bo, bo + K * N);
        y.set(gemm(false, false, M, N, K, Ai, Bi), i * M * N);
        ga.set(gemm(false, true, M, K, N, Gi, Bi), i * M * K); // g B^T
        const gbi = gemm(true, false, K, N, M, Ai, Gi); // A^T g
        if (sharedB) for (let j = 0; j < gbi.length; j++) gb[j] = Math.fround(gb[j] + gbi[j]);
        else gb.set(gbi, bo);
      }
      return { y, ga, gb };
    });
    assertClose(t, got.y, want.data, 1e-4, 'forward');
    assertClose(t, got.ga, wantG.a, 1e-4, 'grad a');
    assertClose(t, got.gb, wantG.b, 1e-4, 'grad b');
  });
}

test('cuda-emulated sgemm: leading dimensions beyond the rows, alpha and beta', (t) => {
  const r = rng(7);
  const M = 70,
    N = 33,
    K = 65,
    lda = K + 3,
    ldb = N + 5,
    ldc = N + 2;
  const A = Float32Array.from(r.array([(M - 1) * lda + K]).data),
    B = Float32Array.from(r.array([(K - 1) * ldb + N]).data);
  const C = Float32Array.from(r.array([(M - 1) * ldc + N]).data);
  const dense = (X, rows, cols, ld) => ({
    data: Float64Array.from({ length: rows * cols }, (_, i) => X[Math.floor(i / cols) * ld + (i % cols)]),
    shape: [rows, cols],
  });
  const ab = GEMM.matmul(dense(A, M, K, lda), dense(B, K, N, ldb)).data;
  const want = new Float64Array(M * N),
    got = new Float64Array(M * N);
  for (let i = 0; i < M * N; i++) want[i] = 0.5 * ab[i] + 2 * C[Math.floor(i / N) * ldc + (i % N)];
  const out = Float32Array.from(C);
  cu.gemm(false, false, M, N, K, 0.5, A, lda, B, ldb, 2, out, ldc);
  for (let i = 0; i < M * N; i++) got[i] = out[Math.floor(i / N) * ldc + (i % N)];
  assertClose(t, got, want, 1e-4, 'C');
  // The padding between rows of C is never written.
  for (let i = 0; i < M - 1; i++) t.is(out[i * ldc + N], C[i * ldc + N]);
});

// ---- attention: the rows of test/cases/attention.js (forward, probabilities, each gradient)

for (const row of rowsOf('attention.js', '')) {
  test(`cuda-emulated attention: ${row.name}`, (t) => {
    const r = rng(hashSeed(row.name));
    const a = row.make(r);
    const call = captureCall(row, a);
    t.is(call.op, 'attention');
    const opts = call.args[3] || {};
    const [B, H, Tq, d] = a.q.shape,
      Tk = a.k.shape[2],
      dv = a.v.shape[3];
    const scale = opts.scale ?? 1 / Math.sqrt(d);
    const want = row.ref(a);
    const g = r.array(want.shape).data;
    const wantG = row.refGrad(a, g);
    const gradOut = Float32Array.from(opts.returnProbs ? ATT.firstColumns(g, B * H * Tq, dv, Tk) : g);
    const [q, k, v] = [a.q, a.k, a.v].map((x) => Float32Array.from(x.data));
    const dims = [B, H, Tq, Tk, d, dv, scale];
    const got = underSeeds(t, () => {
      const out = new Float32Array(B * H * Tq * dv),
        lse = new Float32Array(B * H * Tq);
      const probs = opts.returnProbs ? new Float32Array(B * H * Tq * Tk) : null;
      cu.attentionForward(...dims, q, k, v, out, lse, probs);
      const want = (name) => row.grad.includes(name);
      const gq = want('q') ? new Float32Array(q.length) : null,
        gk = want('k') ? new Float32Array(k.length) : null;
      const gv = want('v') ? new Float32Array(v.length) : null;
      cu.attentionBackward(...dims, q, k, v, out, lse, gradOut, gq, gk, gv);
      const r = { out, lse, ...(probs ? { probs } : {}) };
      for (const [name, arr] of [
        ['q', gq],
        ['k', gk],
        ['v', gv],
      ])
        if (arr) r[`g${name}`] = arr;
      return r;
    });
    const outShape = { data: got.out, shape: [B, H, Tq, dv] };
    const forward = opts.returnProbs
      ? ATT.concatLast(outShape, { data: got.probs, shape: [B, H, Tq, Tk] }).data
      : got.out;
    assertClose(t, forward, want.data, 1e-4, 'forward');
    for (const name of row.grad) assertClose(t, got[`g${name}`], wantG[name], 1e-4, `grad ${name}`);
  });
}

// ---- bad arguments: clear errors, nothing touched

test('cuda-emulated: bad arguments are clear errors', (t) => {
  const x = new Float32Array(2 * 3 * 5 * 5),
    w = new Float32Array(3 * 9),
    y = new Float32Array(2 * 3 * 5 * 5);
  t.throws(() => cu.dwconv2dForward(x.subarray(1), w, null, y, 2, 3, 5, 5, 3, 3, 1, 1, 1, 1), {
    message: /x must hold 150 floats, got 149/,
  });
  t.throws(() => cu.dwconv2dForward(x, w, null, y, 2, 3, 5, 5, 64, 3, 1, 1, 1, 1), {
    message: /KH must be an integer in \[1, 63\]/,
  });
  t.throws(() => cu.dwconv2dForward(x, w, null, y, 2, 3, 5, 5, 3, 3, 3, 1, 1, 1), {
    message: /strideH must be an integer in \[1, 2\]/,
  });
  t.throws(() => cu.pgdL2Step(x, x, x, 4, 1, 1, 0, 1, y, 1), { message: /N must divide/ });
  t.throws(
    () =>
      cu.gemm(false, false, 4, 4, 4, 1, new Float32Array(15), 4, new Float32Array(16), 4, 0, new Float32Array(16), 4),
    { message: /A must hold at least 16 floats/ },
  );
});

// ---- the kernel-author rules of native/cuda/lk_cuda.h, which let one source serve nvcc and g++

test('cuda kernel files: no <<< >>> launches, no raw __shared__, no inline PTX', (t) => {
  const dir = path.join(__dirname, '..', 'native', 'cuda');
  const files = [];
  const walk = (d) =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .forEach((e) =>
        e.isDirectory() ? walk(path.join(d, e.name)) : /\.(cu|h)$/.test(e.name) && files.push(path.join(d, e.name)),
      );
  walk(dir);
  t.true(files.length >= 10);
  for (const f of files) {
    if (f.endsWith('lk_cuda.h') || f.endsWith('simt.h')) continue; // where the macros are defined
    const code = fs.readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '');
    const name = path.relative(dir, f);
    t.false(/<<</.test(code), `${name}: launches go through lk_cuda::launch`);
    t.false(/__shared__/.test(code), `${name}: shared memory goes through LK_SHARED / LK_DYNAMIC_SHARED`);
    t.false(/\basm\s*(volatile\s*)?\(/.test(code), `${name}: no inline PTX`);
  }
});

// ---- the SIMT emulation catches planted bugs

const iota = (n) => Float32Array.from({ length: n }, (_, i) => i + 1);

test('simt: a missing __syncthreads gives a wrong result in most seeds; with it, every seed is right', (t) => {
  const input = iota(512);
  const want = Float32Array.from(input, (_, i) => input[i - (i % 128) + ((i + 1) % 128)]);
  let wrong = 0;
  for (let seed = 1; seed <= 20; seed++) {
    cu.simt.setSeed(seed);
    t.deepEqual(cu.simt.runPlanted('rotate', input), want, `with the barrier, seed ${seed}`);
    const racy = cu.simt.runPlanted('rotate-missing-barrier', input);
    if (!bits(racy).equals(bits(want))) wrong++;
  }
  t.true(wrong >= 18, `missing barrier seen in ${wrong} of 20 seeds`);
});

test('simt: a return before __syncthreads is barrier divergence', (t) => {
  t.throws(() => cu.simt.runPlanted('early-return', iota(128)), {
    message: /early_return_kernel.*barrier divergence: 127 threads wait at __syncthreads while 1 threads/,
  });
});

test('simt: a shuffle in a divergent branch, or waiting on an exited lane, is an error', (t) => {
  t.throws(() => cu.simt.runPlanted('warp-sum-divergent', iota(128)), {
    message: /__shfl_xor_sync.*lane 16, which has exited \(divergent collective\)/,
  });
  t.throws(() => cu.simt.runPlanted('exited-lane', iota(32)), {
    message: /__shfl_down_sync.*waits on lane 3, which has exited/,
  });
  // The converged versions give the right values.
  const sums = cu.simt.runPlanted('warp-sum', iota(128));
  for (let w = 0; w < 4; w++) t.is(sums[w * 32 + 5], (32 * (w * 32 + 1) + 32 * (w * 32 + 32)) / 2);
  const vote = cu.simt.runPlanted(
    'vote',
    Float32Array.from({ length: 32 }, (_, i) => (i % 3 === 0 ? 1 : -1)),
  );
  t.deepEqual(Array.from(vote.subarray(0, 3)), [11, 1, 0]);
});

test('simt: unwritten outputs read as NaN; shared memory is per block', (t) => {
  const out = cu.simt.runPlanted('unwritten', iota(100));
  t.is(out[98], 198);
  t.true(Number.isNaN(out[99]));
  const b = cu.simt.runPlanted('broadcast', iota(96));
  t.deepEqual([b[0], b[31], b[32], b[95]], [1, 1, 2, 3]);
  const d = cu.simt.runPlanted('dynamic-smem', iota(64));
  t.deepEqual([d[0], d[63]], [64, 1]);
});

test('simt: launches over CUDA limits are refused', (t) => {
  t.throws(() => cu.simt.runPlanted('launch-1025-threads', iota(32)), {
    message: /1025 threads per block, more than CUDA's limit of 1024/,
  });
  t.throws(() => cu.simt.runPlanted('launch-block-z-65', iota(32)), { message: /block dims \(1,1,65\)/ });
  t.throws(() => cu.simt.runPlanted('launch-grid-y-65536', iota(32)), { message: /grid dims \(1,65536,1\)/ });
  t.throws(() => cu.simt.runPlanted('launch-smem-49k', iota(32)), {
    message: /50176 bytes of dynamic shared memory, over 49152/,
  });
});

test('lk.cuda reports the emulated backend', (t) => {
  const info = lk.cuda.info();
  t.true(lk.cuda.available());
  t.is(info.backend, 'cuda-emulated');
  t.is(info.reason, null);
  const before = cu.simt.threadsRun();
  const cpu = process.cpuUsage();
  const x = new Float32Array(1 << 18),
    out = new Float32Array(1 << 18);
  cu.fgsmStep(x, x, 0.1, 0, 1, out);
  const used = process.cpuUsage(cpu);
  const s = (used.user + used.system) / 1e6;
  t.is(cu.simt.threadsRun() - before, 1 << 18);
  t.log(`emulation: ${((1 << 18) / s / 1e6).toFixed(1)} M CUDA threads per CPU second without barriers`);
});
