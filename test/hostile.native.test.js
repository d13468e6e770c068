// The raw addon under hostile arguments: every exported function is called a few thousand times
// (seeded) with extreme integers (0, -1, 2^31, 2^32 + 1, 2^53, NaN, huge products with a zero
// factor), wrong array lengths and wrong types. Each call must return or throw a JS error that
// starts with "lkvit native: <function>:" and names one of its arguments, quickly. Arrays are
// re-sized to the length a first call asked for ("x must hold 12 floats"), so most calls get past
// the checks into the kernels with odd geometries. test/asan-fuzz.sh runs this file against an AddressSanitizer
// build (LKVIT_FUZZ_ADDON names it).
'use strict';
const path = require('path');
const test = require('ava');
const { rng: seeded } = require('./helpers');

// LKVIT_FUZZ_CUDA=1 (test/hostile.cuda.test.js): the emulated CUDA addon instead, whose functions
// take the CPU addon's arguments plus the device-array and general tensor functions.
const cuda = process.env.LKVIT_FUZZ_CUDA === '1';
const addonPath =
  process.env.LKVIT_FUZZ_ADDON ||
  (cuda
    ? path.join(__dirname, '..', 'build-cuda-emu', 'lkvit_cuda_emu.node')
    : path.join(__dirname, '..', 'build', 'Release', 'lkvit.node'));
const addon = require(addonPath);

// Argument kinds: f Float32Array, f? optional Float32Array, i Int32Array, n integer, x number,
// b boolean, s string, sec a duration in seconds, bytes a buffer size.
const dims = (...names) => names.map((n) => [n, 'n']);
const conv = dims(
  'n',
  'cin',
  'h',
  'w',
  'cout',
  'kh',
  'kw',
  'strideH',
  'strideW',
  'padH',
  'padW',
  'dilationH',
  'dilationW',
  'groups',
);
const dw = dims('N', 'C', 'H', 'W', 'KH', 'KW', 'strideH', 'strideW', 'padH', 'padW');
const pool = dims('planes', 'H', 'W', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw');
const gemmArgs = (batched) => [
  ['transA', 'b'],
  ['transB', 'b'],
  ...(batched ? dims('batch') : []),
  ...dims('M', 'N', 'K'),
  ['alpha', 'x'],
  ['A', 'f'],
  ['lda', 'n'],
  ...(batched ? dims('strideA') : []),
  ['B', 'f'],
  ['ldb', 'n'],
  ...(batched ? dims('strideB') : []),
  ['beta', 'x'],
  ['C', 'f'],
  ['ldc', 'n'],
  ...(batched ? dims('strideC') : []),
];
const attnDims = [...dims('B', 'H', 'Tq', 'Tk', 'd', 'dv'), ['scale', 'x']];
const SPECS = {
  getNumThreads: [],
  setNumThreads: dims('threads'),
  getIsa: [],
  setIsa: [['isa', 's']],
  dwconv2dForward: [['x', 'f'], ['weight', 'f'], ['bias', 'f?'], ['y', 'f'], ...dw],
  dwconv2dBackwardInput: [['gradY', 'f'], ['weight', 'f'], ['gradX', 'f'], ...dw],
  dwconv2dBackwardWeight: [['gradY', 'f'], ['x', 'f'], ['gradWeight', 'f'], ...dw],
  gemm: gemmArgs(false),
  gemmBatched: gemmArgs(true),
  conv2dForward: [['x', 'f'], ['weight', 'f'], ['bias', 'f?'], ['y', 'f'], ...conv],
  conv2dBackwardInput: [['gradY', 'f'], ['weight', 'f'], ['gradX', 'f'], ...conv],
  conv2dBackwardWeight: [['gradY', 'f'], ['x', 'f'], ['gradWeight', 'f'], ...conv],
  conv2dBackwardBias: [['gradY', 'f'], ['gradBias', 'f'], ...dims('n', 'cout', 'oh', 'ow')],
  attentionForward: [...attnDims, ['q', 'f'], ['k', 'f'], ['v', 'f'], ['out', 'f'], ['lse', 'f'], ['probs', 'f?']],
  attentionBackward: [
    ...attnDims,
    ['q', 'f'],
    ['k', 'f'],
    ['v', 'f'],
    ['out', 'f'],
    ['lse', 'f'],
    ['gradOut', 'f'],
    ['gradQ', 'f?'],
    ['gradK', 'f?'],
    ['gradV', 'f?'],
  ],
  batchNorm2dForward: [
    ['x', 'f'],
    ...dims('N', 'C', 'S'),
    ['weight', 'f?'],
    ['bias', 'f?'],
    ['training', 'b'],
    ['eps', 'x'],
    ['momentum', 'x'],
    ['runningMean', 'f?'],
    ['runningVar', 'f?'],
    ['y', 'f'],
    ['mean', 'f'],
    ['rstd', 'f'],
  ],
  batchNorm2dBackward: [
    ['x', 'f'],
    ['g', 'f'],
    ...dims('N', 'C', 'S'),
    ['weight', 'f?'],
    ['mean', 'f'],
    ['rstd', 'f'],
    ['training', 'b'],
    ['gx', 'f?'],
    ['gweight', 'f?'],
    ['gbias', 'f?'],
  ],
  groupNormForward: [
    ['x', 'f'],
    ...dims('N', 'C', 'S', 'G'),
    ['weight', 'f?'],
    ['bias', 'f?'],
    ['eps', 'x'],
    ['y', 'f'],
    ['mean', 'f'],
    ['rstd', 'f'],
  ],
  groupNormBackward: [
    ['x', 'f'],
    ['g', 'f'],
    ...dims('N', 'C', 'S', 'G'),
    ['weight', 'f?'],
    ['mean', 'f'],
    ['rstd', 'f'],
    ['gx', 'f?'],
    ['gweight', 'f?'],
    ['gbias', 'f?'],
  ],
  layerNorm2dForward: [
    ['x', 'f'],
    ...dims('N', 'C', 'S'),
    ['weight', 'f?'],
    ['bias', 'f?'],
    ['eps', 'x'],
    ['y', 'f'],
    ['mean', 'f'],
    ['rstd', 'f'],
  ],
  layerNorm2dBackward: [
    ['x', 'f'],
    ['g', 'f'],
    ...dims('N', 'C', 'S'),
    ['weight', 'f?'],
    ['mean', 'f'],
    ['rstd', 'f'],
    ['gx', 'f?'],
    ['gweight', 'f?'],
    ['gbias', 'f?'],
  ],
  arith: [
    ['op', 'n'],
    ['a', 'f'],
    ['b', 'f?'],
    ['s', 'x'],
    ['y', 'f'],
  ],
  reluForward: [
    ['x', 'f'],
    ['y', 'f'],
  ],
  reluBackward: [
    ['x', 'f'],
    ['g', 'f'],
    ['gx', 'f'],
  ],
  geluForward: [
    ['x', 'f'],
    ['y', 'f'],
  ],
  geluBackward: [
    ['x', 'f'],
    ['g', 'f'],
    ['gx', 'f'],
  ],
  softmaxForward: [['x', 'f'], ...dims('outer', 'L', 'inner'), ['log', 'b'], ['y', 'f']],
  softmaxBackward: [['y', 'f'], ['g', 'f'], ...dims('outer', 'L', 'inner'), ['log', 'b'], ['gx', 'f']],
  crossEntropyForward: [
    ['logits', 'f'],
    ['labels', 'i'],
    ...dims('N', 'K'),
    ['smoothing', 'x'],
    ['loss', 'f'],
    ['lse', 'f'],
  ],
  crossEntropyBackward: [
    ['logits', 'f'],
    ['labels', 'i'],
    ...dims('N', 'K'),
    ['smoothing', 'x'],
    ['lse', 'f'],
    ['gloss', 'f'],
    ['gx', 'f'],
  ],
  globalAvgPool2dForward: [['x', 'f'], ...dims('planes', 'S'), ['y', 'f']],
  globalAvgPool2dBackward: [['g', 'f'], ...dims('planes', 'S'), ['gx', 'f']],
  maxPool2dForward: [['x', 'f'], ...pool, ['y', 'f'], ['argmax', 'i']],
  maxPool2dBackward: [['g', 'f'], ['argmax', 'i'], ...pool, ['gx', 'f']],
  avgPool2dForward: [['x', 'f'], ...pool, ['y', 'f']],
  avgPool2dBackward: [['g', 'f'], ...pool, ['gx', 'f']],
  fgsmStep: [
    ['x', 'f'],
    ['g', 'f'],
    ['eps', 'x'],
    ['min', 'x'],
    ['max', 'x'],
    ['out', 'f'],
  ],
  pgdLinfStep: [
    ['x', 'f'],
    ['g', 'f'],
    ['x0', 'f'],
    ['eps', 'x'],
    ['alpha', 'x'],
    ['min', 'x'],
    ['max', 'x'],
    ['out', 'f'],
  ],
  pgdL2Step: [
    ['x', 'f'],
    ['g', 'f'],
    ['x0', 'f'],
    ['N', 'n'],
    ['eps', 'x'],
    ['alpha', 'x'],
    ['min', 'x'],
    ['max', 'x'],
    ['out', 'f'],
  ],
  // The yardstick (native/binding/peak.cc): timed loops, so plausible values stay tiny.
  measureFmaPeak: [
    ['threads', 'n'],
    ['seconds', 'sec'],
    ['repeats', 'n'],
  ],
  measureBandwidth: [
    ['threads', 'n'],
    ['bytesPerArray', 'bytes'],
    ['repeats', 'n'],
  ],
  fmaLanes: [],
};
// The CUDA addon: the compute functions above (not the threads, ISA and yardstick ones), plus the
// dwconv bias gradient, the device-wide queries and the three general tensor kernels.
const CUDA_ONLY = {
  dwconv2dBackwardBias: [['gradY', 'f'], ['gradBias', 'f'], ...dw],
  info: [],
  memoryStats: [],
  emptyCache: [],
  synchronize: [],
  stridedCopy: [
    ['src', 'f'],
    ['srcOffset', 'n'],
    ['srcStrides', 'a'],
    ['dst', 'f'],
    ['dstOffset', 'n'],
    ['dstStrides', 'a'],
    ['shape', 'a'],
  ],
  binaryStrided: [
    ['op', 'n'],
    ['a', 'f'],
    ['aOffset', 'n'],
    ['aStrides', 'a'],
    ['b', 'f'],
    ['bOffset', 'n'],
    ['bStrides', 'a'],
    ['y', 'f'],
    ['shape', 'a'],
  ],
  reduceSum: [
    ['x', 'f'],
    ['xOffset', 'n'],
    ['outShape', 'a'],
    ['outStrides', 'a'],
    ['redShape', 'a'],
    ['redStrides', 'a'],
    ['scale', 'x'],
    ['y', 'f'],
  ],
};
if (cuda) {
  for (const k of [
    'getNumThreads',
    'setNumThreads',
    'getIsa',
    'setIsa',
    'measureFmaPeak',
    'measureBandwidth',
    'fmaLanes',
  ])
    delete SPECS[k];
  Object.assign(SPECS, CUDA_ONLY);
}

// The suite's seeded generator plus pick(), so a failure names a reproducible trial.
function rng(seed) {
  const r = seeded(seed);
  return { ...r, pick: (a) => a[Math.floor(r.next() * a.length)] };
}

const HOSTILE_INTS = [
  -1,
  -0,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 40,
  2 ** 53,
  2 ** 63,
  -(2 ** 53),
  1.5,
  NaN,
  Infinity,
  -Infinity,
  1e308,
];
const WRONG_TYPES = ['3', null, undefined, {}, [], true, 3n, () => 1, Symbol('x')];
const detached = () => {
  const a = new Float32Array(16);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
};

function floats(r, n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.next() < 0.02 ? r.pick([NaN, Infinity, -Infinity, 3e38]) : r.next() * 4 - 2;
  return a;
}
function ints(r, n) {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.next() < 0.01 ? r.pick([-1, 2 ** 31 - 1, 7, 100000]) : r.int(0, 1);
  return a;
}

function value(r, kind, hostile) {
  if (hostile && r.next() < 0.3) return r.pick(WRONG_TYPES);
  switch (kind) {
    case 'n':
      return hostile ? r.pick(HOSTILE_INTS) : r.pick([0, 1, 1, 2, 2, 3, 3, 4, 5, 7, 16]);
    case 'x':
      return hostile ? r.pick([NaN, Infinity, -Infinity, -1, 1e308, -0]) : r.pick([0, 0.5, 1, 1e-5, 0.1, 2]);
    case 'b':
      return hostile ? r.pick([0, 1, 'true']) : r.next() < 0.5;
    case 'sec':
      return hostile ? r.pick([NaN, 0, -1, 2.5, Infinity, 1e308]) : r.pick([1e-4, 2e-4]);
    case 'bytes':
      return hostile ? r.pick([-1, 4095, 2 ** 30 + 1, 2 ** 53, NaN]) : r.pick([4096, 8192, 65536]);
    case 's':
      return hostile ? r.pick(['', 'avx1024', 'x'.repeat(1000)]) : r.pick(['generic', 'avx2', 'avx512']);
    case 'a':
      return hostile
        ? r.pick([[-1], [2 ** 31], [1, 2, 3, 4, 5, 6, 7, 8, 9], [1.5], ['2'], 3, null])
        : Array.from({ length: r.int(0, 3) }, () => r.pick([0, 1, 2, 3, 4]));
    case 'i':
      return hostile ? r.pick([new Float32Array(4), new Int32Array(1 << 10).fill(-5), [0, 1]]) : ints(r, r.int(0, 12));
    case 'f?':
      if (!hostile && r.next() < 0.3) return null;
    // fall through
    case 'f':
      if (!hostile) return floats(r, r.int(0, 24));
      return r.pick([
        new Float64Array(8),
        new Int32Array(8),
        [1, 2, 3],
        detached(),
        new Float32Array(new ArrayBuffer(64), 4, 3),
        new Float32Array(new SharedArrayBuffer(32)),
        new DataView(new ArrayBuffer(8)),
      ]);
  }
  throw new Error(`unknown kind ${kind}`);
}

let returned = 0; // calls that got through every check and ran
const reached = new Set();
const LENGTH = /^lkvit native: \w+: (\w+) must hold (?:at least )?(\d+) (floats|integers)/;
const MAX_FIT = 1 << 18; // arrays are grown to a requested length up to this many elements

// One fuzzed call: draws arguments, then re-sizes arrays to the lengths the addon asks for (up to
// 6 times). Returns a description of the first bad outcome, or null.
function trial(r, name, spec) {
  const mode = r.next();
  const args = spec.map(([, kind]) => value(r, kind, mode < 0.5 && r.next() < 0.15));
  for (let attempt = 0; attempt < 7; attempt++) {
    const t0 = process.hrtime.bigint();
    let error = null;
    try {
      addon[name](...args);
    } catch (e) {
      error = e;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const show = () =>
      `${name}(${args.map((a) => (ArrayBuffer.isView(a) ? `${a.constructor.name}(${a.length ?? a.byteLength})` : typeof a === 'bigint' ? `${a}n` : typeof a === 'symbol' ? 'Symbol' : (JSON.stringify(a) ?? String(a)))).join(', ')})`;
    if (ms > 2000) return `${show()} took ${ms.toFixed(0)} ms`;
    if (!error) {
      reached.add(name);
      returned++;
      return null;
    }
    const prefix = `lkvit native: ${name}: `;
    if (!(error instanceof TypeError || error instanceof RangeError) || !error.message.startsWith(prefix))
      return `${show()} threw ${error && error.constructor && error.constructor.name}: ${error && error.message}`;
    const named = spec.some(([arg]) => new RegExp(`\\b${arg}\\b`).test(error.message.slice(prefix.length)));
    if (!named) return `${show()}: the message does not name an argument: ${error.message}`;
    const m = LENGTH.exec(error.message);
    const slot = m ? spec.findIndex(([arg]) => arg === m[1]) : -1;
    if (slot < 0 || Number(m[2]) > MAX_FIT) return null;
    args[slot] = m[3] === 'integers' ? ints(r, Number(m[2])) : floats(r, Number(m[2]));
  }
  return null;
}

test('every function of the raw addon has a fuzz spec', (t) => {
  const fns = Object.keys(addon)
    .filter((k) => typeof addon[k] === 'function' && k !== 'DeviceArray')
    .sort();
  t.deepEqual(fns, Object.keys(SPECS).sort());
});

test('hostile arguments end in a clear JS error or a normal return, quickly', (t) => {
  const threads = cuda ? 0 : addon.getNumThreads();
  const isa = cuda ? null : addon.getIsa().active;
  const r = rng(Number(process.env.LKVIT_FUZZ_SEED || 19));
  const names = Object.keys(SPECS);
  const trials = Number(process.env.LKVIT_FUZZ_TRIALS || 8000);
  const bad = [];
  const t0 = Date.now();
  try {
    for (let i = 0; i < trials && bad.length < 5; i++) {
      const name = names[i % names.length];
      const problem = trial(r, name, SPECS[name]);
      if (problem) bad.push(`trial ${i}: ${problem}`);
    }
  } finally {
    if (!cuda) {
      addon.setNumThreads(threads);
      addon.setIsa(isa);
    }
  }
  t.deepEqual(bad, []);
  // Most kernels must actually run on some of the drawn geometries, or the fuzzing is shallow.
  t.deepEqual(
    names.filter((n) => !reached.has(n)),
    [],
  );
  t.log(`${trials} calls in ${Date.now() - t0} ms, ${returned} returned normally`);
});

// The hand-built cases below are the CPU addon's (the CUDA addon's own are in test/cuda.ops.test.js).
if (!cuda) {
  // The findings of issue 19, each as built by hand.
  const f32 = (n) => new Float32Array(n);
  const quick = (t, fn, ms = 1000) => {
    const t0 = Date.now();
    const r = fn();
    t.true(Date.now() - t0 < ms, `took ${Date.now() - t0} ms`);
    return r;
  };

  test('layerNorm2d with N x S overflowing int64 behind C = 0 is refused (was an out-of-bounds write)', (t) => {
    quick(t, () => {
      t.throws(
        () => addon.layerNorm2dForward(f32(0), 2 ** 32 + 1, 0, 2 ** 32 - 1, null, null, 1e-5, f32(0), f32(4), f32(4)),
        { instanceOf: RangeError, message: /\bN must be an integer in \[0, 4294967296\], got 4294967297/ },
      );
      t.throws(() => addon.layerNorm2dForward(f32(0), 2 ** 31, 0, 2 ** 31, null, null, 1e-5, f32(0), f32(4), f32(4)), {
        instanceOf: RangeError,
        message: /x \[N, C, S\] dims \[2147483648, 0, 2147483648\]/,
      });
      t.throws(
        () => addon.layerNorm2dBackward(f32(0), f32(0), 2 ** 31, 0, 2 ** 31, null, f32(4), f32(4), null, null, null),
        { instanceOf: RangeError, message: /x \[N, C, S\]/ },
      );
      // Every other binding with a zero factor behind huge ones.
      t.throws(() => addon.softmaxForward(f32(0), 2 ** 32, 0, 2 ** 32, false, f32(0)), {
        message: /x \[outer, L, inner\]/,
      });
      t.throws(() => addon.groupNormForward(f32(0), 2 ** 20, 0, 7, 2 ** 20, null, null, 1e-5, f32(0), f32(1), f32(1)), {
        message: /mean \[N, G\]/,
      });
      t.throws(() => addon.maxPool2dForward(f32(0), 0, 2 ** 32, 2 ** 32, 1, 1, 1, 1, 0, 0, f32(0), new Int32Array(0)), {
        message: /x \[planes, H, W\]/,
      });
      t.throws(
        () => addon.attentionForward(2 ** 32, 2 ** 32, 0, 1, 1, 1, 1, f32(0), f32(1), f32(1), f32(0), f32(0), null),
        { message: /q \[B, H, Tq, d\]/ },
      );
    });
  });

  test('an empty batched GEMM returns at once, whatever the batch', (t) => {
    const C = f32(0);
    quick(t, () => addon.gemmBatched(false, false, 2 ** 31, 0, 4, 4, 1, f32(0), 4, 0, f32(16), 4, 0, 0, C, 4, 0), 500);
    quick(t, () => addon.gemm(false, false, 0, 0, 2 ** 31, 1, f32(0), 2 ** 31, f32(0), 1, 0, C, 1), 500);
    t.pass();
  });

  test('max pooling with a window far wider than the row is quick and correct', (t) => {
    // W = 1, kw = 2^31, pw = 2^30: both outputs see the one pixel.
    const y = f32(2),
      argmax = new Int32Array(2);
    quick(t, () => addon.maxPool2dForward(Float32Array.of(-3), 1, 1, 1, 1, 2 ** 31, 1, 1, 0, 2 ** 30, y, argmax), 500);
    t.deepEqual([...y], [-3, -3]);
    t.deepEqual([...argmax], [0, 0]);
  });

  test('relu and gelu propagate NaN like PyTorch; relu backward at NaN is 0', (t) => {
    const x = Float32Array.of(NaN, -1, 2, -0);
    const y = f32(4);
    addon.reluForward(x, y);
    t.true(Number.isNaN(y[0]));
    t.deepEqual([...y.subarray(1)], [0, 2, 0]);
    t.true(Object.is(y[3], 0), 'relu(-0) is +0');
    const gx = f32(4);
    addon.reluBackward(x, Float32Array.of(5, 5, 5, 5), gx);
    t.deepEqual([...gx], [0, 0, 5, 0]);
    addon.geluForward(Float32Array.of(NaN), y.subarray(0, 1));
    t.true(Number.isNaN(y[0]));
    addon.geluBackward(Float32Array.of(NaN), Float32Array.of(1), gx.subarray(0, 1));
    t.true(Number.isNaN(gx[0]));
  });

  // The constants the addon exports instead of copies in TypeScript.
  test('the addon exports its arithmetic codes and depthwise limits, and honours them', (t) => {
    t.deepEqual({ ...addon.arithOps }, { add: 0, sub: 1, mul: 2, scale: 3 });
    t.true(Object.isFrozen(addon.arithOps));
    const a = Float32Array.of(5, 7),
      b = Float32Array.of(2, 3),
      y = f32(2);
    const results = {};
    for (const op of ['add', 'sub', 'mul', 'scale']) {
      addon.arith(addon.arithOps[op], a, op === 'scale' ? null : b, op === 'scale' ? -2 : 0, y);
      results[op] = [...y];
    }
    t.deepEqual(results, { add: [7, 10], sub: [3, 4], mul: [10, 21], scale: [-10, -14] });
    t.is(addon.maxDepthwiseKernel, 63);
    t.is(addon.maxDepthwisePadding, 2 ** 20);
    const K = addon.maxDepthwiseKernel;
    // The largest kernel runs; one more is refused, by name.
    addon.dwconv2dForward(f32(K * K), f32(K * K), null, f32(1), 1, 1, K, K, K, K, 1, 1, 0, 0);
    t.throws(
      () =>
        addon.dwconv2dForward(
          f32((K + 1) * (K + 1)),
          f32((K + 1) * (K + 1)),
          null,
          f32(1),
          1,
          1,
          K + 1,
          K + 1,
          K + 1,
          K + 1,
          1,
          1,
          0,
          0,
        ),
      {
        instanceOf: RangeError,
        message: `lkvit native: dwconv2dForward: KH must be an integer in [1, ${K}], got ${K + 1}`,
      },
    );
  });

  // src/native.ts types the addon (NativeAddon): a call with a wrong count or type of arguments
  // does not compile. Checked against the published declarations (lib/native.d.ts).
  test('NativeAddon rejects wrong argument counts and types at compile time', (t) => {
    const fs = require('fs');
    const os = require('os');
    const { execFileSync } = require('child_process');
    const root = path.join(__dirname, '..');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkvit-native-types-'));
    const lib = path.join(root, 'lib', 'native').replace(/\\/g, '/');
    const lines = [
      `import { native } from '${lib}';`,
      'const f = new Float32Array(4);',
      'native.conv2dForward(f, f, null, f, 1, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1);', // correct
      'native.arith(native.arithOps.add, f, f, 0, f);', // correct
      'native.conv2dForward(f, f, null, f, 1, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0, 1, 1);', // one argument short
      'native.conv2dForward(f, f, undefined, f, 1, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1);', // undefined bias
      "native.fgsmStep(f, f, '0.1', 0, 1, f);", // eps as a string
      'native.gemm(false, false, 1, 1, 1, 1, [1], 1, f, 1, 0, f, 1);', // A as a plain array
      'native.softmaxForward(f, 1, 4, 1, 1, f);', // log as a number
      'const lanes: string = native.fmaLanes();', // returns a number
    ];
    const file = path.join(dir, 'calls.ts');
    fs.writeFileSync(file, lines.join('\n'));
    let out = '';
    try {
      execFileSync(
        process.execPath,
        [
          require.resolve('typescript/bin/tsc'),
          '--noEmit',
          '--strict',
          '--target',
          'ES2022',
          '--module',
          'commonjs',
          '--moduleResolution',
          'node',
          '--types',
          'node',
          '--skipLibCheck',
          file,
        ],
        { cwd: root, stdio: 'pipe' },
      );
    } catch (e) {
      out = `${e.stdout}${e.stderr}`;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const errorLines = [...new Set([...out.matchAll(/calls\.ts\((\d+),\d+\): error TS\d+/g)].map((m) => Number(m[1])))];
    t.deepEqual(errorLines, [5, 6, 7, 8, 9, 10], out);
  });
}
