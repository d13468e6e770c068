// The CUDA addon's conv, norm, nn and tensor functions under the SIMT emulation. Every conv, norm
// and activation / softmax / cross-entropy / pooling row of the CPU op table (test/cases) runs
// through the public ops with the CPU addon's functions of those families swapped for the CUDA
// addon's (same names, same arguments, host arrays), against the same float64 references and
// tolerances, under several fiber-order seeds whose results must be bit-identical. The three
// CUDA-only tensor functions are checked against plain float64 loops written here; then the
// DeviceArray path and bad input. LKVIT_CUDA_TEST_REAL=1 (bench/gpu/run.sh on a GPU) runs them on
// the real addon, once (fiber-order seeds exist only under the emulation).
'use strict';
const REAL = process.env.LKVIT_CUDA_TEST_REAL === '1';
if (REAL) delete process.env.LKVIT_CUDA_EMULATED;
else process.env.LKVIT_CUDA_EMULATED = '1';
const test = require('ava');
const { lk, rng, assertClose } = require('./helpers');
const { nativeTable } = require('../lib/native');
const { buildEmulated } = require('../native/cuda/build-emulated');

const SEEDS = REAL ? [0] : (process.env.LKVIT_SIMT_SEEDS || '1,977').split(',').map(Number);
// The CPU addon's functions these families provide on the device.
const FUNCTIONS = [
  'conv2dForward',
  'conv2dBackwardInput',
  'conv2dBackwardWeight',
  'conv2dBackwardBias',
  'batchNorm2dForward',
  'batchNorm2dBackward',
  'groupNormForward',
  'groupNormBackward',
  'layerNorm2dForward',
  'layerNorm2dBackward',
  'arith',
  'reluForward',
  'reluBackward',
  'geluForward',
  'geluBackward',
  'softmaxForward',
  'softmaxBackward',
  'crossEntropyForward',
  'crossEntropyBackward',
  'globalAvgPool2dForward',
  'globalAvgPool2dBackward',
  'maxPool2dForward',
  'maxPool2dBackward',
  'avgPool2dForward',
  'avgPool2dBackward',
];
// The CPU addon's own functions (to find out which of them a row calls).
const cpu = Object.fromEntries(FUNCTIONS.map((n) => [n, nativeTable[n]]));
let cu;

test.before(async (t) => {
  if (REAL && lk.cuda.info().backend !== 'cuda')
    throw new Error(`LKVIT_CUDA_TEST_REAL=1 but CUDA is not available: ${lk.cuda.info().reason}`);
  const b = REAL ? null : await buildEmulated();
  if (b) t.log(`emulated addon: ${b.compiled} objects compiled in ${b.seconds.toFixed(1)} s`);
  cu = lk.cuda.nativeCuda();
});

function hashSeed(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
const bits = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// Runs fn with FUNCTIONS of the CPU addon replaced by `impl(name)`; returns fn's result and the
// names called.
function withNative(impl, fn) {
  const saved = {};
  const called = new Set();
  for (const name of FUNCTIONS) {
    saved[name] = nativeTable[name];
    const f = impl(name);
    nativeTable[name] = (...args) => (called.add(name), f(...args));
  }
  try {
    return { result: fn(), called };
  } finally {
    Object.assign(nativeTable, saved);
  }
}

// Forward output and every checked gradient of a row, as fresh Float32Arrays.
function runRow(row, a, g) {
  const grads = row.grad || [];
  const tens = {};
  for (const k of Object.keys(a))
    tens[k] =
      a[k] && a[k].data
        ? lk.tensor(Float32Array.from(a[k].data), a[k].shape, { requiresGrad: grads.includes(k) })
        : a[k];
  const out = row.run(lk, tens);
  const res = { forward: Float32Array.from(out.data) };
  if (grads.length) {
    out.backward(Float32Array.from(g));
    for (const k of grads) res[`grad ${k}`] = Float32Array.from(tens[k].grad.data);
  }
  return { res, shape: [...out.shape] };
}

// Each seed's results must be bit-identical to the first seed's.
function underSeeds(t, fn) {
  const results = SEEDS.map((seed) => {
    if (!REAL) cu.simt.setSeed(seed);
    return fn();
  });
  for (let s = 1; s < results.length; s++)
    for (const k of Object.keys(results[0].res))
      t.true(
        bits(results[s].res[k]).equals(bits(results[0].res[k])),
        `${k}: seed ${SEEDS[s]} differs from seed ${SEEDS[0]}`,
      );
  return results[0];
}

// ---- the op table's conv, norm and nn rows, and rows beyond it for the wider paths (rows of 256
// threads past 512 values, several passes per thread, ImageNet's 1000 classes)

const RC = require('./reference/conv'),
  RN = require('./reference/nn'),
  RM = require('./reference/norm');
const BEYOND = [
  {
    name: 'conv2d groups 2, stride [2, 1], padding [2, 1], dilation [2, 3]: x [2,4,9,8] weight [6,2,3,2] + bias',
    opts: { stride: [2, 1], padding: [2, 1], dilation: [2, 3], groups: 2 },
    make: (r) => ({ x: r.array([2, 4, 9, 8]), weight: r.array([6, 2, 3, 2]), bias: r.array([6]) }),
    run(lk, t) {
      return lk.ops.conv2d(t.x, t.weight, { ...this.opts, bias: t.bias });
    },
    ref(a) {
      return RC.conv2d(a.x, a.weight, a.bias, this.opts);
    },
    refGrad(a, g) {
      return RC.conv2dGrad(a.x, a.weight, a.bias, this.opts, g);
    },
    grad: ['x', 'weight', 'bias'],
  },
  {
    name: 'softmax dim -1 [2,1000]',
    make: (r) => ({ x: r.array([2, 1000], -5, 5) }),
    run: (lk, t) => lk.ops.softmax(t.x, -1),
    ref: (a) => RN.softmax(a.x, -1, false),
    refGrad: (a, g) => ({ x: RN.softmaxGrad(a.x, -1, false, g) }),
    grad: ['x'],
  },
  {
    name: 'logSoftmax dim 1 [2,600,3]',
    make: (r) => ({ x: r.array([2, 600, 3], -5, 5) }),
    run: (lk, t) => lk.ops.logSoftmax(t.x, 1),
    ref: (a) => RN.softmax(a.x, 1, true),
    refGrad: (a, g) => ({ x: RN.softmaxGrad(a.x, 1, true, g) }),
    grad: ['x'],
  },
  {
    name: 'crossEntropy mean [3, 1000] smoothing 0.1',
    make: (r) => ({ z: r.array([3, 1000], -4, 4), labels: Int32Array.from([0, 999, 417]) }),
    run: (lk, t) => lk.ops.crossEntropy(t.z, t.labels, { reduction: 'mean', labelSmoothing: 0.1 }),
    ref: (a) => RN.crossEntropy(a.z, a.labels, 'mean', 0.1),
    refGrad: (a, g) => ({ z: RN.crossEntropyGrad(a.z, a.labels, 'mean', 0.1, g) }),
    grad: ['z'],
  },
  {
    name: 'globalAvgPool2d [1,2,30,30]',
    make: (r) => ({ x: r.array([1, 2, 30, 30]) }),
    run: (lk, t) => lk.ops.globalAvgPool2d(t.x),
    ref: (a) => RN.globalAvgPool2d(a.x),
    refGrad: (a, g) => ({ x: RN.globalAvgPool2dGrad(a.x, g) }),
    grad: ['x'],
  },
  {
    name: 'batchNorm2d training [3,2,20,20] with affine',
    make: (r) => ({ x: r.array([3, 2, 20, 20], 2, 4), w: r.array([2], 0.5, 1.5), b: r.array([2]) }),
    run: (lk, t) => lk.ops.batchNorm2d(t.x, { weight: t.w, bias: t.b, training: true }),
    ref: (a) => RM.batchNorm(a.x, { weight: a.w, bias: a.b, training: true }),
    refGrad: (a, g) => {
      const gr = RM.batchNormGrad(a.x, { weight: a.w, training: true }, g);
      return { x: gr.x, w: gr.weight, b: gr.bias };
    },
    grad: ['x', 'w', 'b'],
  },
  {
    name: 'layerNorm [3,1100]',
    make: (r) => ({ x: r.array([3, 1100]), w: r.array([1100], 0.5, 1.5), b: r.array([1100]) }),
    run: (lk, t) => lk.ops.layerNorm(t.x, t.w, t.b),
    ref: (a) => RM.layerNorm(a.x, a.w, a.b),
    refGrad: (a, g) => {
      const gr = RM.layerNormGrad(a.x, a.w, 1e-5, g);
      return { x: gr.x, w: gr.weight, b: gr.bias };
    },
    grad: ['x', 'w', 'b'],
  },
];

for (const [file, rows] of [
  ['conv', require('./cases/conv.js')],
  ['norm', require('./cases/norm.js')],
  ['nn', require('./cases/nn.js')],
  ['beyond the table', BEYOND],
]) {
  for (const row of rows) {
    const a0 = row.make(rng(hashSeed(row.name)));
    // Which of FUNCTIONS the row's op calls (on the CPU): a row that calls none runs in TypeScript.
    const { called } = withNative(
      (name) => cpu[name],
      () =>
        runRow(
          row,
          a0,
          row.ref(a0).data.map(() => 1),
        ),
    );
    // Such a row (weightStandardize) has no CUDA function to check here; test/ops.cuda.test.js
    // runs it on device tensors.
    if (called.size === 0) continue;
    test.serial(`cuda-emulated ${file}: ${row.name}`, (t) => {
      const r = rng(hashSeed(row.name));
      const a = row.make(r);
      const want = row.ref(a);
      const g = r.array(want.shape).data;
      const got = underSeeds(t, () => {
        const run = withNative(
          (name) => cu[name],
          () => runRow(row, a, g),
        );
        t.deepEqual([...run.called].sort(), [...called].sort(), 'the CUDA functions of the CPU calls ran');
        return run.result;
      });
      t.deepEqual(got.shape, want.shape, 'output shape');
      const tol = row.tol ?? 1e-4;
      assertClose(t, got.res.forward, want.data, tol, 'forward');
      if (row.grad && row.grad.length) {
        const wantG = row.refGrad(a, g);
        for (const k of row.grad) assertClose(t, got.res[`grad ${k}`], wantG[k], tol, `grad ${k}`);
      }
    });
  }
}

// ---- stridedCopy, binaryStrided, reduceSum against float64 loops

// Every multi-index of shape in row-major order.
function* indices(shape) {
  const n = shape.reduce((p, q) => p * q, 1);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    yield idx.slice();
    for (let d = shape.length - 1; d >= 0 && ++idx[d] === shape[d]; d--) idx[d] = 0;
  }
}
const dot = (idx, strides) => idx.reduce((s, v, d) => s + v * strides[d], 0);
const contiguous = (shape) => shape.map((_, d) => shape.slice(d + 1).reduce((p, q) => p * q, 1));
const randomArray = (r, n) => Float32Array.from({ length: n }, () => r.uniform(-2, 2));

const COPIES = [
  // [name, src length, srcOffset, srcStrides, dst length, dstOffset, dstStrides, shape]
  ['permute [2,3,4] -> [4,2,3]', 24, 0, [1, 12, 4], 24, 0, contiguous([4, 2, 3]), [4, 2, 3]],
  ['slice rows 1..3, cols 2..4 of [5,6]', 30, 8, [6, 1], 9, 0, [3, 1], [3, 3]],
  ['cat: [2,3] into columns 2..4 of [2,5]', 6, 0, [3, 1], 10, 2, [5, 1], [2, 3]],
  ['pad interior: [2,3,3] into [2,5,5] at (1, 1)', 18, 0, [9, 3, 1], 50, 6, [25, 5, 1], [2, 3, 3]],
  ['expand [3,1] -> [3,4] (stride 0)', 3, 0, [1, 0], 12, 0, [4, 1], [3, 4]],
  ['rank 0: one element', 5, 3, [], 4, 2, [], []],
  [
    'rank 8, transposed',
    256,
    0,
    [1, 2, 4, 8, 16, 32, 64, 128],
    256,
    0,
    contiguous([2, 2, 2, 2, 2, 2, 2, 2]),
    [2, 2, 2, 2, 2, 2, 2, 2],
  ],
  ['empty shape [0, 3] writes nothing', 4, 0, [3, 1], 4, 0, [3, 1], [0, 3]],
  ['permute 300x17 (several blocks)', 5100, 0, [1, 300], 5100, 0, [17, 1], [300, 17]],
];

for (const [name, srcLen, srcOff, srcStr, dstLen, dstOff, dstStr, shape] of COPIES) {
  test.serial(`cuda-emulated stridedCopy: ${name}`, (t) => {
    const r = rng(hashSeed(name));
    const src = randomArray(r, srcLen);
    const dst0 = randomArray(r, dstLen);
    const want = Float64Array.from(dst0);
    for (const idx of indices(shape)) want[dstOff + dot(idx, dstStr)] = src[srcOff + dot(idx, srcStr)];
    const got = underSeeds(t, () => {
      const dst = Float32Array.from(dst0);
      cu.stridedCopy(src, srcOff, srcStr, dst, dstOff, dstStr, shape);
      return { res: { dst } };
    });
    t.deepEqual(Array.from(got.res.dst), Array.from(want), 'dst: copied elements, the rest untouched');
  });
}

const OPS = { add: (u, v) => u + v, sub: (u, v) => u - v, mul: (u, v) => u * v };
const BINARIES = [
  // [name, op, a length, aOffset, aStrides, b length, bOffset, bStrides, shape]
  ['add, b broadcast along rows [1,4] -> [3,4]', 'add', 12, 0, [4, 1], 4, 0, [0, 1], [3, 4]],
  ['sub, a broadcast (0-stride on the left operand)', 'sub', 5, 0, [0, 1], 15, 0, [5, 1], [3, 5]],
  ['mul, both broadcast: [3,1] x [1,4]', 'mul', 3, 0, [1, 0], 4, 0, [0, 1], [3, 4]],
  ['add with offsets and a transposed b', 'add', 30, 5, [6, 1], 40, 3, [1, 6], [4, 6]],
  ['mul of two scalars (rank 0)', 'mul', 3, 2, [], 2, 1, [], []],
  [
    'sub over [2,3,4,5] with a channel-wise b',
    'sub',
    120,
    0,
    contiguous([2, 3, 4, 5]),
    3,
    0,
    [0, 1, 0, 0],
    [2, 3, 4, 5],
  ],
];

for (const [name, op, aLen, aOff, aStr, bLen, bOff, bStr, shape] of BINARIES) {
  test.serial(`cuda-emulated binaryStrided: ${name}`, (t) => {
    const r = rng(hashSeed(name));
    const a = randomArray(r, aLen),
      b = randomArray(r, bLen);
    const n = shape.reduce((p, q) => p * q, 1);
    const want = [];
    for (const idx of indices(shape))
      want.push(Math.fround(OPS[op](a[aOff + dot(idx, aStr)], b[bOff + dot(idx, bStr)])));
    const got = underSeeds(t, () => {
      const y = new Float32Array(n);
      cu.binaryStrided(cu.arithOps[op], a, aOff, aStr, b, bOff, bStr, y, shape);
      return { res: { y } };
    });
    t.deepEqual(Array.from(got.res.y), want, 'y, exactly');
  });
}

const REDUCTIONS = [
  // [name, x length, xOffset, outShape, outStrides, redShape, redStrides, scale]
  ['one dim: [3,4,5] over dim 1', 60, 0, [3, 5], [20, 1], [4], [5], 1],
  ['several dims: [3,4,5] over dims 0 and 2, mean', 60, 0, [4], [5], [3, 5], [20, 1], 1 / 15],
  ['all dims of [3,4,5]', 60, 0, [], [], [3, 4, 5], [20, 5, 1], 1],
  ['empty redShape: one term each, scaled', 60, 0, [3, 4, 5], [20, 5, 1], [], [], 0.5],
  ['a 0 in redShape gives 0', 60, 0, [3, 4], [20, 5], [0], [1], 1],
  ['long rows (block per output): [3, 700] over dim 1, offset 7', 2107, 7, [3], [700], [700], [1], 1],
  ['long strided columns: [600, 4] over dim 0', 2400, 0, [4], [1], [600], [4], 0.25],
  ['broadcast gradient: [2,3,4,5] summed to [1,3,1,1]', 120, 0, [3], [20], [2, 4, 5], [60, 5, 1], 1],
  ['rank 0 in and out: one element, scaled', 5, 2, [], [], [], [], 3],
];

for (const [name, xLen, xOff, outShape, outStr, redShape, redStr, scale] of REDUCTIONS) {
  test.serial(`cuda-emulated reduceSum: ${name}`, (t) => {
    const r = rng(hashSeed(name));
    const x = randomArray(r, xLen);
    const want = [];
    for (const i of indices(outShape)) {
      let s = 0;
      for (const j of indices(redShape)) s += x[xOff + dot(i, outStr) + dot(j, redStr)];
      if (redShape.includes(0)) s = 0;
      want.push(Math.fround(scale) * s);
    }
    const got = underSeeds(t, () => {
      const y = new Float32Array(want.length).fill(NaN);
      cu.reduceSum(x, xOff, outShape, outStr, redShape, redStr, scale, y);
      return { res: { y } };
    });
    assertClose(t, got.res.y, want, 1e-5, 'y');
  });
}

// ---- DeviceArrays: upload -> function -> download gives what the host-array call gives

function onDevice(args) {
  const dev = args.map((v) => {
    if (!(v instanceof Float32Array || v instanceof Int32Array)) return v;
    const d = new cu.DeviceArray(v.length);
    d.upload(v);
    return d;
  });
  return {
    args: dev,
    read: (i) => (args[i] instanceof Int32Array ? new Int32Array(dev[i].download().buffer) : dev[i].download()),
    dispose: () => dev.forEach((d) => d instanceof cu.DeviceArray && d.dispose()),
  };
}

const DEVICE_CALLS = [
  // [function, args, output argument indices]
  [
    'conv2dForward',
    (r) => [
      randomArray(r, 2 * 4 * 6 * 5),
      randomArray(r, 6 * 2 * 3 * 3),
      randomArray(r, 6),
      new Float32Array(2 * 6 * 3 * 3),
      2,
      4,
      6,
      5,
      6,
      3,
      3,
      2,
      2,
      1,
      1,
      1,
      1,
      2,
    ],
    [3],
  ],
  [
    'batchNorm2dForward',
    (r) => [
      randomArray(r, 2 * 3 * 10),
      2,
      3,
      10,
      randomArray(r, 3),
      null,
      true,
      1e-5,
      0.1,
      randomArray(r, 3),
      Float32Array.from([1, 2, 3]),
      new Float32Array(60),
      new Float32Array(3),
      new Float32Array(3),
    ],
    [9, 10, 11, 12, 13],
  ],
  [
    'crossEntropyForward',
    (r) => [randomArray(r, 4 * 7), Int32Array.from([0, 6, 3, 2]), 4, 7, 0.1, new Float32Array(4), new Float32Array(4)],
    [5, 6],
  ],
  [
    'maxPool2dForward',
    (r) => [
      randomArray(r, 3 * 5 * 6),
      3,
      5,
      6,
      3,
      3,
      2,
      2,
      1,
      1,
      new Float32Array(3 * 3 * 3),
      new Int32Array(3 * 3 * 3),
    ],
    [10, 11],
  ],
  ['stridedCopy', (r) => [randomArray(r, 24), 0, [1, 12, 4], randomArray(r, 30), 3, [6, 3, 1], [4, 2, 3]], [3]],
  ['reduceSum', (r) => [randomArray(r, 600), 0, [2], [300], [300], [1], 0.5, new Float32Array(2)], [7]],
];

for (const [fn, make, outs] of DEVICE_CALLS) {
  test.serial(`cuda-emulated DeviceArray round trip: ${fn}`, (t) => {
    const host = make(rng(hashSeed(fn)));
    const copy = host.map((v) => (v && v.slice && typeof v !== 'string' && !Array.isArray(v) ? v.slice() : v));
    const dev = onDevice(copy);
    try {
      cu[fn](...host);
      cu[fn](...dev.args);
      for (const i of outs)
        t.true(bits(dev.read(i)).equals(bits(host[i])), `argument ${i}: device result equals the host-array result`);
    } finally {
      dev.dispose();
    }
  });
}

test.serial('cuda-emulated DeviceArray: maxPool2dBackward reads the argmax the forward left on the device', (t) => {
  const r = rng(5);
  const x = randomArray(r, 2 * 6 * 6),
    g = randomArray(r, 2 * 3 * 3);
  const geo = [2, 6, 6, 2, 2, 2, 2, 0, 0];
  const y = new Float32Array(18),
    argmax = new Int32Array(18),
    gx = new Float32Array(72);
  cu.maxPool2dForward(x, ...geo, y, argmax);
  cu.maxPool2dBackward(g, argmax, ...geo, gx);
  const dArgmax = new cu.DeviceArray(18),
    dGx = new cu.DeviceArray(72);
  try {
    cu.maxPool2dForward(x, ...geo, new Float32Array(18), dArgmax);
    cu.maxPool2dBackward(g, dArgmax, ...geo, dGx);
    t.true(bits(dGx.download()).equals(bits(gx)));
    // Each window's gradient lands on its maximum.
    for (let o = 0; o < 18; o++) t.is(gx[Math.floor(o / 9) * 36 + argmax[o]], g[o]);
  } finally {
    dArgmax.dispose();
    dGx.dispose();
  }
});

// ---- special values: NaN, infinities and -0 as on the CPU

test.serial('cuda-emulated: relu and pooling treat NaN, infinities and -0 as the CPU does, bit for bit', (t) => {
  const special = [NaN, -0, 0, -1, 1, Infinity, -Infinity, 0.5, -0.5];
  const r = rng(3);
  const x = Float32Array.from({ length: 2 * 7 * 8 }, (_, i) =>
    i % 5 === 0 ? special[(i / 5) % special.length] : r.uniform(-2, 2),
  );
  const g = Float32Array.from(x, () => r.uniform(-1, 1));
  const same = (what, fn) => {
    const cpuOut = fn(cpu),
      cuOut = fn(cu);
    for (let i = 0; i < cpuOut.length; i++) t.true(bits(cuOut[i]).equals(bits(cpuOut[i])), `${what}: output ${i}`);
  };
  same('relu', (f) => {
    const y = new Float32Array(x.length),
      gx = new Float32Array(x.length);
    f.reluForward(x, y);
    f.reluBackward(x, g, gx);
    return [y, gx];
  });
  for (const geo of [
    [2, 7, 8, 3, 3, 2, 2, 1, 1],
    [2, 7, 8, 2, 3, 1, 2, 1, 0],
  ]) {
    const [planes, H, W, kh, kw, sh, sw, ph, pw] = geo;
    const out = planes * (Math.floor((H + 2 * ph - kh) / sh) + 1) * (Math.floor((W + 2 * pw - kw) / sw) + 1);
    const gy = Float32Array.from({ length: out }, () => r.uniform(-1, 1));
    same(`maxPool2d ${geo}`, (f) => {
      const y = new Float32Array(out),
        argmax = new Int32Array(out),
        gx = new Float32Array(x.length);
      f.maxPool2dForward(x, ...geo, y, argmax);
      f.maxPool2dBackward(gy, argmax, ...geo, gx);
      return [y, argmax, gx];
    });
    same(`avgPool2d ${geo}`, (f) => {
      const y = new Float32Array(out),
        gx = new Float32Array(x.length);
      f.avgPool2dForward(x, ...geo, y);
      f.avgPool2dBackward(gy, ...geo, gx);
      return [y, gx];
    });
  }
});

// ---- bad input: clear errors naming the function and the argument, never a crash

test.serial('cuda-emulated: bad input throws errors naming the function and the argument', (t) => {
  const f = (n) => new Float32Array(n);
  const conv = [2, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2];
  t.throws(() => cu.conv2dForward(f(240), f(108), null, f(10), ...conv), {
    message: /conv2dForward: y must hold 360 floats, got 10/,
  });
  t.throws(() => cu.conv2dForward(f(240), f(108), null, f(360), 2, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 4), {
    message: /conv2dForward: groups \(4\) must divide/,
  });
  t.throws(() => cu.batchNorm2dForward(f(6), 1, 2, 3, null, null, false, 1e-5, 0.1, null, null, f(6), f(2), f(2)), {
    message: /batchNorm2dForward: runningMean and runningVar are required/,
  });
  t.throws(() => cu.groupNormForward(f(12), 1, 4, 3, 3, null, null, 1e-5, f(12), f(3), f(3)), {
    message: /groupNormForward: G must divide C/,
  });
  t.throws(() => cu.softmaxForward(f(12), 3, 4, 1, false, f(11)), { message: /softmaxForward: y must hold 12/ });
  t.throws(() => cu.crossEntropyForward(f(8), Int32Array.from([1, 7]), 2, 4, 0, f(2), f(2)), {
    message: /crossEntropyForward: labels\[1\] = 7 is outside \[0, 4\)/,
  });
  t.throws(() => cu.crossEntropyForward(f(8), f(2), 2, 4, 0, f(2), f(2)), {
    message: /crossEntropyForward: labels must be a DeviceArray or an Int32Array/,
  });
  t.throws(
    () =>
      cu.maxPool2dBackward(
        f(9),
        Int32Array.from({ length: 9 }, () => 40),
        1,
        6,
        6,
        2,
        2,
        2,
        2,
        0,
        0,
        f(36),
      ),
    { message: /maxPool2dBackward: argmax\[0\] = 40 is outside \[0, 36\)/ },
  );
  t.throws(() => cu.avgPool2dForward(f(36), 1, 6, 6, 2, 2, 2, 2, 2, 0, f(9)), {
    message: /avgPool2dForward: ph must be an integer in \[0, 1\]/,
  });
  t.throws(() => cu.arith(cu.arithOps.add, f(4), f(3), 0, f(4)), { message: /arith: b must hold 4/ });
  // the tensor functions: offsets and strides past the arrays, rank > 8, overlapping destinations
  t.throws(() => cu.stridedCopy(f(10), 5, [1], f(10), 0, [1], [6]), {
    message: /stridedCopy: src must hold at least 11 floats, got 10/,
  });
  t.throws(() => cu.stridedCopy(f(10), 0, [4], f(10), 0, [1], [4]), {
    message: /stridedCopy: src must hold at least 13 floats, got 10/,
  });
  t.throws(() => cu.stridedCopy(f(20), 0, [4], f(10), 0, [4], [4]), {
    message: /stridedCopy: dst must hold at least 13 floats, got 10/,
  });
  t.throws(() => cu.stridedCopy(f(10), 0, [1], f(10), 0, [-1], [2]), {
    message: /stridedCopy: dstStrides\[0\] must be an integer in \[0, 4294967296\], got -1/,
  });
  t.throws(() => cu.stridedCopy(f(10), 0, [1, 1], f(10), 0, [1], [2, 2]), {
    message: /stridedCopy: dstStrides has 1 entries but shape has 2 dims/,
  });
  t.throws(() => cu.stridedCopy(f(512), 0, Array(9).fill(1), f(512), 0, Array(9).fill(1), Array(9).fill(2)), {
    message: /stridedCopy: shape has 9 dims; at most 8/,
  });
  t.throws(() => cu.stridedCopy(f(4), 0, [1, 0], f(8), 0, [1, 1], [2, 2]), {
    message: /stridedCopy: dstStrides make two elements of the shape land on one destination element/,
  });
  t.throws(() => cu.stridedCopy(f(4), 0, [1], f(4), 0, [1], 'x'), {
    message: /stridedCopy: shape must be an array of integers/,
  });
  t.throws(() => cu.binaryStrided(cu.arithOps.scale, f(4), 0, [1], f(4), 0, [1], f(4), [4]), {
    message: /binaryStrided: op must be arithOps.add, sub or mul/,
  });
  t.throws(() => cu.binaryStrided(cu.arithOps.add, f(4), 2, [1], f(4), 0, [1], f(4), [4]), {
    message: /binaryStrided: a must hold at least 6/,
  });
  t.throws(() => cu.binaryStrided(cu.arithOps.add, f(4), 0, [1], f(4), 0, [1], f(3), [4]), {
    message: /binaryStrided: y must hold 4/,
  });
  t.throws(() => cu.reduceSum(f(12), 0, [3], [4], [4], [2], 1, f(3)), {
    message: /reduceSum: x must hold at least 15/,
  });
  t.throws(() => cu.reduceSum(f(12), 0, [3], [4], [4], [1], 1, f(2)), { message: /reduceSum: y must hold 3/ });
  t.throws(() => cu.reduceSum(f(12), 0, [3], [4], [4], [1, 1], 1, f(3)), {
    message: /reduceSum: redStrides has 2 entries but redShape has 1 dims/,
  });
  t.throws(() => cu.reduceSum(f(1), 2 ** 32, [2], [2 ** 32], [], [], 1, f(2)), {
    message: /reduceSum: x: the offset and strides reach beyond/,
  });
  // a disposed DeviceArray
  const d = new cu.DeviceArray(4);
  d.dispose();
  t.throws(() => cu.reluForward(d, f(4)), { message: /reluForward: x was disposed/ });
  t.throws(() => cu.stridedCopy(d, 0, [1], f(4), 0, [1], [4]), { message: /stridedCopy: src was disposed/ });
});

test.serial(
  'cuda-emulated: out-of-range indices on the device give NaN or nothing, never a read out of bounds',
  (t) => {
    const r = rng(9);
    const labels = new cu.DeviceArray(2);
    labels.upload(Int32Array.from([1, 99]));
    const loss = new Float32Array(2),
      lse = new Float32Array(2),
      gx = new Float32Array(8);
    const logits = randomArray(r, 8);
    cu.crossEntropyForward(logits, labels, 2, 4, 0, loss, lse);
    t.true(Number.isFinite(loss[0]) && Number.isNaN(loss[1]), `loss ${loss}`);
    cu.crossEntropyBackward(logits, labels, 2, 4, 0, lse, Float32Array.from([1, 1]), gx);
    t.true(gx.subarray(0, 4).every(Number.isFinite) && gx.subarray(4).every(Number.isNaN));
    const argmax = new cu.DeviceArray(9);
    argmax.upload(Int32Array.from([0, -5, 1e6, 3, 4, 5, 6, 7, 8]));
    const g = new Float32Array(9).fill(1),
      gx2 = new Float32Array(36);
    cu.maxPool2dBackward(g, argmax, 1, 6, 6, 2, 2, 2, 2, 0, 0, gx2);
    t.is(
      gx2.reduce((s, v) => s + v, 0),
      1,
      'only the valid in-window index (window 0, pixel 0) received its gradient',
    );
    labels.dispose();
    argmax.dispose();
  },
);

test("cuda-emulated: arithOps and the depthwise limits are the CPU addon's", (t) => {
  t.deepEqual({ ...cu.arithOps }, { ...nativeTable.arithOps });
  t.is(cu.maxDepthwiseKernel, nativeTable.maxDepthwiseKernel);
  t.is(cu.maxDepthwisePadding, nativeTable.maxDepthwisePadding);
});
