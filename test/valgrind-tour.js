// A short tour of every native op on small odd shapes, for valgrind memcheck (not part of npm test):
//   LKVIT_ISA=avx2 valgrind --error-exitcode=9 --undef-value-errors=no node test/valgrind-tour.js
// (valgrind has no AVX-512; LKVIT_ISA=generic checks the portable path).
const lk = require('..');
const { ops } = lk;
lk.setNumThreads(2);
let seed = 1;
const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
const t = (sh, g = true) =>
  lk.tensor(Float32Array.from({ length: sh.reduce((a, b) => a * b) }, rnd), sh, { requiresGrad: g });
const bw = (y) => y.backward(Float32Array.from({ length: y.size }, rnd));
for (const [C, H, W, K, p, s] of [
  [19, 13, 17, 3, 1, 1],
  [5, 9, 40, 3, 1, 1],
  [3, 11, 40, 5, 2, 1],
  [2, 10, 36, 7, 1, 1],
  [17, 15, 13, 7, 3, 1],
  [33, 21, 19, 31, 15, 1],
  [9, 10, 12, 31, 15, 1],
  [6, 14, 13, 5, 2, 2],
  [4, 6, 7, 1, 1, 1],
  [3, 9, 34, 3, 0, 1],
]) {
  const x = t([2, C, H, W]),
    w = t([C, 1, K, K]),
    b = t([C]);
  bw(ops.depthwiseConv2d(x, w, { bias: b, padding: p, stride: s }));
}
const A = t([33, 65]),
  B = t([65, 17]);
bw(ops.matmul(A, B));
bw(ops.linear(t([5, 7, 33]), t([19, 33]), t([19])));
bw(ops.conv2d(t([2, 4, 13, 11]), t([6, 2, 3, 3]), { padding: 1, groups: 2, bias: t([6]) }));
bw(ops.conv2d(t([1, 3, 32, 32]), t([8, 3, 16, 16]), { stride: 16 }));
bw(ops.conv2d(t([1, 3, 23, 21]), t([5, 3, 7, 7]), { stride: 2, padding: 3 }));
const q = t([2, 3, 17, 7]),
  k = t([2, 3, 20, 7]),
  v = t([2, 3, 20, 5]);
bw(ops.attention(q, k, v));
ops.attention(q, k, v, { returnProbs: true });
const bx = t([2, 6, 5, 7]);
bw(
  ops.batchNorm2d(bx, {
    weight: t([6]),
    bias: t([6]),
    runningMean: t([6], false),
    runningVar: lk.full([6], 1),
    training: true,
  }),
);
bw(ops.layerNorm(t([4, 9]), t([9]), t([9])));
bw(ops.layerNorm2d(t([2, 5, 3, 4]), t([5]), t([5])));
bw(ops.groupNorm(t([2, 6, 3, 5]), 3, t([6]), t([6])));
bw(ops.gelu(t([3, 50])));
bw(ops.relu(t([3, 50])));
bw(ops.softmax(t([4, 7, 3]), 1));
bw(ops.logSoftmax(t([5, 9])));
ops.crossEntropy(t([4, 10]), [1, 9, 0, 3], { labelSmoothing: 0.1 }).backward();
bw(ops.maxPool2d(t([2, 3, 9, 11]), { kernelSize: 3, stride: 2, padding: 1 }));
bw(ops.avgPool2d(t([2, 3, 9, 11]), { kernelSize: 3, stride: 2, padding: 1 }));
bw(ops.globalAvgPool2d(t([2, 3, 9, 11])));
const xs = t([3, 2, 5, 5], false),
  gs = t([3, 2, 5, 5], false);
ops.fgsmStep(xs, gs, { eps: 0.1 });
ops.pgdStep(xs, gs, { x0: xs, eps: 0.1, alpha: 0.05, norm: 'l2' });
ops.pgdStep(xs, gs, { x0: xs, eps: 0.1, alpha: 0.05 });
bw(ops.add(t([2, 3, 4]), t([3, 1])));
bw(ops.mul(t([2, 300]), t([2, 300])));
console.log('tour done');
