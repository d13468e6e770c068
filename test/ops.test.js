// One table-driven test for every op: each row in test/cases/*.js runs the op through the public
// API and compares forward and backward against an independent float64 reference (naive loops in
// test/reference/). Rows marked `isa: true` run once per SIMD path this CPU supports.
//
// A row: {
//   name,
//   make(rng)        -> { inputName: {data: Float64Array, shape} }   random inputs
//   run(lk, t)       -> Tensor                                      t: the inputs as Tensors
//   ref(a)           -> {data, shape}                                float64 forward
//   refGrad(a, g)    -> { inputName: Float64Array }                  float64 vector-Jacobian product
//   grad: [names]    inputs whose gradient is checked (requiresGrad is set on exactly these)
//   tol (default 1e-4), isa (bool), fd (bool: also check refGrad against finite differences)
// }
'use strict';
const fs = require('fs');
const path = require('path');
const test = require('ava');
const { lk, rng, toTensor, relErr, assertClose } = require('./helpers');

const dir = path.join(__dirname, 'cases');
const rows = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.js'))
  .sort()
  .flatMap((f) => require(path.join(dir, f)).map((row) => ({ ...row, family: f.replace(/\.js$/, '') })));

const order = ['generic', 'avx2', 'avx512'];
const best = lk.getIsa().best;
const isas = order.slice(0, order.indexOf(best) + 1);

function hashSeed(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

// Central differences of the float64 reference: checks the reference's own backward.
function finiteDiff(row, a, name, g) {
  const x = a[name].data;
  const out = new Float64Array(x.length);
  const h = 1e-6;
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + h;
    const fp = row.ref(a).data;
    x[i] = keep - h;
    const fm = row.ref(a).data;
    x[i] = keep;
    let s = 0;
    for (let j = 0; j < g.length; j++) s += g[j] * (fp[j] - fm[j]);
    out[i] = s / (2 * h);
  }
  return out;
}

for (const row of rows) {
  const paths = row.isa ? isas : [null];
  for (const isa of paths) {
    const title = `${row.family}: ${row.name}${isa ? ` [${isa}]` : ''}`;
    test.serial(title, (t) => {
      if (isa) lk.setIsa(isa);
      try {
        const r = rng(hashSeed(row.name));
        const a = row.make(r);
        const grads = row.grad || [];
        const tens = {};
        for (const k of Object.keys(a)) tens[k] = a[k] && a[k].data ? toTensor(a[k], grads.includes(k)) : a[k];
        const out = row.run(lk, tens);
        const want = row.ref(a);
        t.deepEqual([...out.shape], want.shape, 'output shape');
        const tol = row.tol ?? 1e-4;
        assertClose(t, out.data, want.data, tol, 'forward');
        if (grads.length) {
          const g = r.array(want.shape).data;
          out.backward(Float32Array.from(g));
          const wantG = row.refGrad(a, g);
          for (const k of grads) {
            t.truthy(tens[k].grad, `gradient of ${k} exists`);
            assertClose(t, tens[k].grad.data, wantG[k], tol, `grad ${k}`);
            if (row.fd && isa !== 'generic' && isa !== 'avx2') {
              const fd = finiteDiff(row, a, k, g);
              const e = relErr(wantG[k], fd);
              t.true(e < 1e-5, `reference grad ${k} vs finite differences: ${e.toExponential(2)}`);
            }
          }
        }
      } finally {
        if (isa) lk.setIsa(best);
      }
    });
  }
}

test('every case file contributes rows', (t) => {
  t.true(rows.length > 0);
});
