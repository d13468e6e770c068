// conv2d picks among several paths by shape (1x1 as a GEMM on NCHW, the patch matrix when
// kernel = stride, im2col into packed panels, the stride-2 gather, flipped-kernel or col2im input
// gradients, one GEMM per group or threads sharing each GEMM). Fixed rows in test/cases/conv.js pin
// each; this sweeps 120 seeded random geometries against the float64 reference, plus random matmuls.
'use strict';
const test = require('ava');
const R = require('./reference/conv');
const G = require('./reference/gemm');
const { lk, rng, toTensor, relErr } = require('./helpers');

test('120 random conv2d geometries match the float64 reference (forward, dx, dw, db)', (t) => {
  const r = rng(112026);
  const failures = [];
  let checked = 0;
  while (checked < 120) {
    const groups = [1, 1, 2, 3, 4][r.int(0, 4)];
    const Cin = groups * r.int(1, 4),
      Cout = groups * r.int(1, 4);
    const KH = r.int(1, 7),
      KW = r.next() < 0.7 ? KH : r.int(1, 7);
    const stride = [r.int(1, 3), r.int(1, 3)];
    if (r.next() < 0.5) stride[1] = stride[0];
    const padding = [r.int(0, KH), r.int(0, KW)];
    const dilation = r.next() < 0.2 ? [2, r.int(1, 2)] : [1, 1];
    const N = r.int(1, 2),
      H = r.int(1, 20),
      W = r.int(1, 20);
    const opts = { stride, padding, dilation, groups };
    const a = { x: r.array([N, Cin, H, W]), w: r.array([Cout, Cin / groups, KH, KW]), b: r.array([Cout]) };
    const OH = Math.floor((H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1;
    const OW = Math.floor((W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
    if (OH < 1 || OW < 1) continue;
    const x = toTensor(a.x, true),
      w = toTensor(a.w, true),
      b = toTensor(a.b, true);
    const y = lk.ops.conv2d(x, w, { ...opts, bias: b });
    const want = R.conv2d(a.x, a.w, a.b, opts);
    const g = r.array(want.shape).data;
    y.backward(Float32Array.from(g));
    const wantG = R.conv2dGrad(a.x, a.w, a.b, opts, g);
    const errs = [
      relErr(y.data, want.data),
      relErr(x.grad.data, wantG.x),
      relErr(w.grad.data, wantG.weight),
      relErr(b.grad.data, wantG.bias),
    ];
    if (errs.some((e) => !(e <= 1e-4)))
      failures.push(
        `[${N},${Cin},${H},${W}] w[${Cout},${Cin / groups},${KH},${KW}] ${JSON.stringify(opts)}: ${errs.map((e) => e.toExponential(1)).join(' ')}`,
      );
    checked++;
  }
  t.deepEqual(failures, []);
});

test('60 random matmul sizes match the float64 reference (forward, da, db)', (t) => {
  const r = rng(7);
  const failures = [];
  for (let i = 0; i < 60; i++) {
    const M = r.int(1, 90),
      K = r.int(1, 90),
      N = r.int(1, 90);
    const a = { a: r.array([M, K]), b: r.array([K, N]) };
    const A = toTensor(a.a, true),
      B = toTensor(a.b, true);
    const C = lk.ops.matmul(A, B);
    const want = G.matmul(a.a, a.b);
    const g = r.array([M, N]).data;
    C.backward(Float32Array.from(g));
    const wantG = G.matmulGrad(a.a, a.b, g);
    const errs = [relErr(C.data, want.data), relErr(A.grad.data, wantG.a), relErr(B.grad.data, wantG.b)];
    if (errs.some((e) => !(e <= 1e-4)))
      failures.push(`${M}x${K}x${N}: ${errs.map((e) => e.toExponential(1)).join(' ')}`);
  }
  t.deepEqual(failures, []);
});
