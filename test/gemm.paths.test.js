// The GEMM picks how it packs op(A) by shape: all of it up front (several N blocks), panel by
// panel where it is used (one N block, N <= 384), or not at all (conv weights packed once and
// shared when images run one per thread); 1x1 convs on maps of at most 64 pixels run a batch as
// one GEMM. Packing only moves data, so every path must give the same bits for the same product;
// each test below computes one product along two paths, on every SIMD path this CPU has.
// (Closeness to float64 references: test/ops.test.js.)
'use strict';
const test = require('ava');
const lk = require('..');
const { ops } = lk;
const { rng, toTensor } = require('./helpers');

const order = ['generic', 'avx2', 'avx512'];
const isas = order.slice(0, order.indexOf(lk.getIsa().best) + 1);

// Two threads, so every machine takes the same paths.
function forEachIsa(fn) {
  const threads = lk.getNumThreads();
  lk.setNumThreads(2);
  try {
    for (const isa of isas) {
      lk.setIsa(isa);
      fn(isa);
    }
  } finally {
    lk.setIsa(lk.getIsa().best);
    lk.setNumThreads(threads);
  }
}

// Index of the first element where the two arrays' bits differ, or -1.
function firstDifference(a, b, n = a.length) {
  for (let i = 0; i < n; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

test('matmul: columns of a one-N-block product equal the same columns of a many-block product', (t) => {
  const r = rng(11);
  const M = 71,
    K = 1000,
    N = 49,
    wide = 1200; // K: three blocks of 334; wide: several N blocks
  const a = toTensor(r.array([M, K]));
  const bWide = r.array([K, wide]);
  const bNarrow = { shape: [K, N], data: new Float64Array(K * N) };
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) bNarrow.data[k * N + j] = bWide.data[k * wide + j];
  forEachIsa((isa) => {
    const narrow = ops.matmul(a, toTensor(bNarrow)).data;
    const full = ops.matmul(a, toTensor(bWide)).data;
    let bad = -1;
    for (let i = 0; i < M && bad < 0; i++) {
      const d = firstDifference(narrow.subarray(i * N, (i + 1) * N), full.subarray(i * wide, i * wide + N));
      if (d >= 0) bad = i * N + d;
    }
    t.is(bad, -1, `${isa}: element ${bad} differs`);
  });
});

test('conv2d 1x1 at 7x7: an image alone (weights packed in place) equals it inside a batch (the batch as one GEMM)', (t) => {
  const r = rng(12);
  const x = r.array([4, 150, 7, 7]),
    w = toTensor(r.array([131, 150, 1, 1]));
  const first = { shape: [1, 150, 7, 7], data: x.data.slice(0, 150 * 49) };
  const g = r.array([1, 131, 7, 7]);
  forEachIsa((isa) => {
    const alone = ops.conv2d(toTensor(first), w).data;
    const batch = ops.conv2d(toTensor(x), w).data;
    t.is(firstDifference(alone, batch, alone.length), -1, `${isa}: forward differs`);
    // The input gradient: W^T panels packed in place, for one image and for the batch as one GEMM.
    const gradOf = (xs, gs) => {
      const xt = toTensor(xs, true);
      ops.conv2d(xt, w).backward(toTensor(gs).data);
      return xt.grad.data;
    };
    const gBatch = { shape: [4, 131, 7, 7], data: new Float64Array(4 * 131 * 49) };
    gBatch.data.set(g.data);
    const gxAlone = gradOf(first, g),
      gxBatch = gradOf(x, gBatch);
    t.is(firstDifference(gxAlone, gxBatch, gxAlone.length), -1, `${isa}: input gradient differs`);
  });
});

test('conv2d 1x1 at 8x8: a batch too large for one scratch result runs in chunks, each image as if alone', (t) => {
  // 2048 channels x 64 pixels per image: chunks of 32 images, so 40 images take two (32 + 8).
  const r = rng(13);
  const n = 40,
    cin = 3,
    cout = 2048;
  const x = r.array([n, cin, 8, 8]),
    w = toTensor(r.array([cout, cin, 1, 1])),
    b = toTensor(r.array([cout]));
  forEachIsa((isa) => {
    const batch = ops.conv2d(toTensor(x), w, { bias: b }).data;
    for (const i of [0, 31, 32, 39]) {
      const one = { shape: [1, cin, 8, 8], data: x.data.slice(i * cin * 64, (i + 1) * cin * 64) };
      const alone = ops.conv2d(toTensor(one), w, { bias: b }).data;
      const d = firstDifference(alone, batch.subarray(i * cout * 64, (i + 1) * cout * 64));
      t.is(d, -1, `${isa}: image ${i}, element ${d} differs`);
    }
  });
});
