// Calls every kernel function of the CUDA addon at least once, on small shapes, through device
// arrays (device tensors and the public ops, plus direct calls for what no op reaches), so that
// compute-sanitizer (memcheck, racecheck, synccheck) sees every kernel:
//   compute-sanitizer --tool memcheck --error-exitcode 9 node bench/gpu/sanitize.js
// It fails (exit 1) when a function was not called, or a call threw. bench/gpu/run.sh runs it under
// each tool with LKVIT_CUBLAS=0, so the project's own SGEMM is what runs; under the emulation
// (run.sh --emulated) it runs without a sanitizer, as a check of the script itself.
'use strict';
const lk = require('../..');

const info = lk.cuda.info();
if (!info.available) {
  console.error(`sanitize: CUDA is not available: ${info.reason}`);
  process.exit(1);
}
const cu = lk.cuda.nativeCuda();
const NOT_KERNELS = new Set(['DeviceArray', 'info', 'memoryStats', 'emptyCache', 'synchronize']);
const names = Object.keys(cu)
  .filter((n) => typeof cu[n] === 'function' && !NOT_KERNELS.has(n))
  .sort();
const called = new Map(names.map((n) => [n, 0]));
for (const n of names) {
  const f = cu[n];
  cu[n] = (...a) => (called.set(n, called.get(n) + 1), f(...a));
}

let s = 7;
const rand = (shape, requiresGrad = false, lo = -1, hi = 1) => {
  const n = shape.reduce((p, q) => p * q, 1);
  const data = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * s) / 4294967296;
  });
  return lk.tensor(data, shape, { device: 'cuda', requiresGrad });
};
const grad = (y) => y.backward(rand(y.shape));
const { ops } = lk;
const steps = [];
const step = (name, fn) => steps.push([name, fn]);

step('depthwise conv 7x7 and 31x31, stride 1 and 2, bias', () => {
  for (const [K, stride] of [
    [7, 1],
    [31, 1],
    [5, 2],
  ]) {
    const x = rand([2, 4, 12, 11], true),
      w = rand([4, 1, K, K], true),
      b = rand([4], true);
    grad(ops.depthwiseConv2d(x, w, { bias: b, padding: Math.floor(K / 2), stride }));
  }
});
step('conv2d dense, grouped, 1x1, strided and dilated, bias', () => {
  const x = rand([2, 4, 9, 8], true);
  grad(
    ops.conv2d(x, rand([6, 2, 3, 3], true), {
      bias: rand([6], true),
      groups: 2,
      stride: [2, 1],
      padding: 1,
      dilation: [1, 2],
    }),
  );
  grad(ops.conv2d(x, rand([5, 4, 1, 1], true)));
});
step('matmul, linear (gemm and gemmBatched)', () => {
  grad(ops.matmul(rand([3, 70, 33], true), rand([3, 33, 65], true)));
  grad(ops.linear(rand([70, 33], true), rand([65, 33], true), rand([65], true)));
});
step('attention forward and backward, with probabilities', () => {
  const [q, k, v] = [0, 1, 2].map(() => rand([2, 3, 37, 16], true));
  grad(ops.attention(q, k, v));
  const r = ops.attention(q, k, v, { returnProbs: true });
  r.probs.toArray();
});
step('norms: BatchNorm train and eval, GroupNorm, LayerNorm, LayerNorm2d', () => {
  const x = rand([3, 4, 5, 6], true),
    w = rand([4], true, 0.5, 1.5),
    b = rand([4], true);
  grad(
    ops.batchNorm2d(x, {
      weight: w,
      bias: b,
      training: true,
      runningMean: rand([4]),
      runningVar: rand([4], false, 0.5, 1.5),
    }),
  );
  grad(
    ops.batchNorm2d(x, {
      weight: w,
      bias: b,
      training: false,
      runningMean: rand([4]),
      runningVar: rand([4], false, 0.5, 1.5),
    }),
  );
  grad(ops.groupNorm(x, 2, w, b));
  grad(ops.layerNorm2d(x, w, b));
  grad(ops.layerNorm(rand([5, 300], true), rand([300], true), rand([300], true)));
});
step('activations, softmax, log-softmax, cross-entropy, pooling', () => {
  const x = rand([2, 3, 9, 10], true);
  grad(ops.relu(x));
  grad(ops.gelu(x));
  grad(ops.softmax(x, -1));
  grad(ops.logSoftmax(x, 1));
  const z = rand([4, 1000], true);
  ops.crossEntropy(z, [0, 999, 5, 17], { labelSmoothing: 0.1 }).backward();
  grad(ops.globalAvgPool2d(x));
  grad(ops.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }));
  grad(ops.avgPool2d(x, { kernelSize: [2, 3], stride: [2, 1], padding: [1, 0] }));
});
step('elementwise, broadcasting, reductions, shape ops', () => {
  const a = rand([3, 1, 5], true),
    b = rand([1, 4, 5], true);
  grad(ops.add(ops.mul(a, b), ops.sub(b, a)));
  grad(ops.scale(a, 0.5));
  ops.sum(ops.mean(rand([6, 7], true), 1)).backward();
  grad(ops.pad2d(rand([1, 2, 3, 4], true), [1, 2, 0, 1]));
  grad(ops.cat([rand([2, 3], true), rand([2, 2], true)], 1));
  grad(ops.permute(rand([2, 3, 4], true), [2, 0, 1]).reshape([24]));
});
step('attack steps: FGSM, PGD L-inf and L2', () => {
  const x = rand([2, 3, 8, 8], false, 0, 1),
    g = rand([2, 3, 8, 8]);
  ops.fgsmStep(x, g, { eps: 0.03 }).toArray();
  ops.pgdStep(x, g, { x0: x, eps: 0.03, alpha: 0.01 }).toArray();
  ops.pgdStep(x, g, { x0: x, eps: 0.5, alpha: 0.1, norm: 'l2' }).toArray();
});
step('device arrays: fill, copy, int32 labels and argmax on the device', () => {
  const d = new cu.DeviceArray(64);
  d.fill(2);
  const e = new cu.DeviceArray(64);
  e.copyFrom(d);
  const labels = new cu.DeviceArray(3);
  labels.upload(Int32Array.from([1, 0, 4]));
  const logits = rand([3, 5]);
  const loss = new cu.DeviceArray(3),
    lse = new cu.DeviceArray(3),
    gloss = new cu.DeviceArray(3),
    gx = new cu.DeviceArray(15);
  gloss.fill(1);
  cu.crossEntropyForward(logits.storage, labels, 3, 5, 0, loss, lse);
  cu.crossEntropyBackward(logits.storage, labels, 3, 5, 0, lse, gloss, gx);
  for (const a of [d, e, labels, loss, lse, gloss, gx]) a.dispose();
});

let failed = 0;
for (const [name, fn] of steps) {
  try {
    fn();
    lk.cuda.synchronize();
    console.log(`sanitize: ok    ${name}`);
  } catch (e) {
    failed++;
    console.log(`sanitize: FAIL  ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
// The functions no op above reached: a direct call each, so nothing goes unchecked.
const direct = {
  conv2dBackwardBias: () => cu.conv2dBackwardBias(rand([2, 3, 4, 5]).storage, new cu.DeviceArray(3), 2, 3, 4, 5),
  // gradY of a 3x3, padding-1 depthwise conv of [2, 3, 4, 5]: the output has the input's shape.
  dwconv2dBackwardBias: () =>
    cu.dwconv2dBackwardBias(rand([2, 3, 4, 5]).storage, new cu.DeviceArray(3), 2, 3, 4, 5, 3, 3, 1, 1, 1, 1),
  gemm: () =>
    cu.gemm(false, true, 5, 6, 7, 1, rand([5, 7]).storage, 7, rand([6, 7]).storage, 7, 0, new cu.DeviceArray(30), 6),
};
for (const n of names.filter((n) => called.get(n) === 0 && direct[n])) {
  try {
    direct[n]();
    lk.cuda.synchronize();
    console.log(`sanitize: ok    ${n} (direct call)`);
  } catch (e) {
    failed++;
    console.log(`sanitize: FAIL  ${n} (direct call): ${e && e.stack ? e.stack : e}`);
  }
}
const missed = names.filter((n) => called.get(n) === 0);
console.log(
  `sanitize: ${names.length - missed.length} of ${names.length} CUDA functions called on ${info.backend} (${info.device})`,
);
if (missed.length) console.log(`sanitize: never called: ${missed.join(', ')}`);
const m = lk.cuda.memoryStats();
console.log(
  `sanitize: device memory: ${m.allocated} bytes live, peak ${m.peakAllocated}, ${m.deviceAllocs} device allocations`,
);
process.exitCode = failed || missed.length ? 1 : 0;
