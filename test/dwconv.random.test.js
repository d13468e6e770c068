// Depthwise conv has many paths (streaming, planar tiles, channel-blocked tiles, kernels cut to
// their useful window, the reference loops for stride 2 and wide padding) chosen by shape. Fixed
// rows in test/cases/dwconv.js pin each one; this sweeps 150 seeded random geometries through all
// of them, forward and every gradient, against the float64 reference, on the best SIMD path.
'use strict';
const test = require('ava');
const R = require('./reference/dwconv');
const { lk, rng, toTensor, relErr } = require('./helpers');

test('150 random geometries match the float64 reference (forward, dx, dw, db)', (t) => {
  const r = rng(20261121);
  let checked = 0;
  const failures = [];
  while (checked < 150) {
    const square = r.next() < 0.6;
    const KH = r.int(1, 15),
      KW = square ? KH : r.int(1, 15);
    const sh = r.next() < 0.25 ? 2 : 1,
      sw = r.next() < 0.8 ? sh : 3 - sh;
    const ph = r.int(0, KH),
      pw = square && sh === sw ? ph : r.int(0, KW);
    const N = r.int(1, 2),
      C = r.int(1, 20),
      H = r.int(1, 36),
      W = r.int(1, 48);
    if (R.outSize(H, KH, sh, ph) < 1 || R.outSize(W, KW, sw, pw) < 1) continue;
    const a = { x: r.array([N, C, H, W]), w: r.array([C, 1, KH, KW]), b: r.array([C]) };
    const x = toTensor(a.x, true),
      w = toTensor(a.w, true),
      b = toTensor(a.b, true);
    const y = lk.ops.depthwiseConv2d(x, w, { bias: b, stride: [sh, sw], padding: [ph, pw] });
    const want = R.forward(a.x, a.w, a.b, [sh, sw], [ph, pw]);
    const g = r.array(want.shape).data;
    y.backward(Float32Array.from(g));
    const wantG = R.backward(a.x, a.w, a.b, [sh, sw], [ph, pw], g);
    const errs = [
      relErr(y.data, want.data),
      relErr(x.grad.data, wantG.x),
      relErr(w.grad.data, wantG.weight),
      relErr(b.grad.data, wantG.bias),
    ];
    if (errs.some((e) => !(e <= 1e-4)))
      failures.push(
        `[${N},${C},${H},${W}] k${KH}x${KW} s${sh}x${sw} p${ph}x${pw}: ${errs.map((e) => e.toExponential(1)).join(' ')}`,
      );
    checked++;
  }
  t.deepEqual(failures, []);
});
