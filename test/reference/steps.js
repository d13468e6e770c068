// Float64 references for the gradient-sign attack steps, written per element / per sample.
'use strict';

const sign = (v) => (v > 0 ? 1 : v < 0 ? -1 : 0);
const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

function fgsm(x, g, eps, lo = 0, hi = 1) {
  return { data: x.data.map((v, i) => clamp(v + eps * sign(g.data[i]), lo, hi)), shape: x.shape.slice() };
}

function pgdLinf(x, g, x0, eps, alpha, lo = 0, hi = 1) {
  const out = x.data.map((v, i) => {
    const stepped = clamp(v + alpha * sign(g.data[i]), x0.data[i] - eps, x0.data[i] + eps);
    return clamp(stepped, lo, hi);
  });
  return { data: out, shape: x.shape.slice() };
}

// Per sample (first dim): step along g / ||g||, project the delta from x0 onto the eps ball, clamp.
function pgdL2(x, g, x0, eps, alpha, lo = 0, hi = 1) {
  const N = x.shape[0],
    D = x.data.length / N;
  const out = new Float64Array(x.data.length);
  for (let n = 0; n < N; n++) {
    const at = (i) => n * D + i;
    let gn = 0;
    for (let i = 0; i < D; i++) gn += g.data[at(i)] ** 2;
    gn = Math.sqrt(gn);
    const delta = new Float64Array(D);
    for (let i = 0; i < D; i++) {
      const moved = x.data[at(i)] + (gn > 0 ? (alpha * g.data[at(i)]) / gn : 0);
      delta[i] = moved - x0.data[at(i)];
    }
    let dn = 0;
    for (let i = 0; i < D; i++) dn += delta[i] ** 2;
    dn = Math.sqrt(dn);
    const f = dn > eps ? eps / dn : 1;
    for (let i = 0; i < D; i++) out[at(i)] = clamp(x0.data[at(i)] + f * delta[i], lo, hi);
  }
  return { data: out, shape: x.shape.slice() };
}

module.exports = { sign, fgsm, pgdLinf, pgdL2 };
