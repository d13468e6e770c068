// Float64 references for activations, softmax / cross-entropy and pooling: naive loops over
// explicit index sets, independent of src/ and native/.
'use strict';
const { prod, unravel, ravel } = require('./basic');

// ---- activations -----------------------------------------------------------------------------------

// erf in float64: Maclaurin series for |z| < 3 (terms stay below ~200, so ~1e-14 accurate),
// the continued fraction erfc(z) = exp(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / ...)))
// beyond.
function erf(z) {
  if (z < 0) return -erf(-z);
  if (z < 3) {
    let term = z,
      sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let k = z;
  for (let n = 80; n >= 1; n--) k = z + n / 2 / k;
  return 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / k;
}

const map = (x, f) => ({ data: x.data.map(f), shape: x.shape.slice() });
// NaN propagates (PyTorch); the gradient at NaN is 0, as PyTorch's g * (y > 0).
const relu = (x) => map(x, (v) => (v > 0 || Number.isNaN(v) ? v : 0));
const reluGrad = (x, g) => x.data.map((v, i) => (v > 0 ? g[i] : 0));
const gelu = (x) => map(x, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
const geluGrad = (x, g) =>
  x.data.map(
    (v, i) => g[i] * (0.5 * (1 + erf(v / Math.SQRT2)) + (v * Math.exp((-v * v) / 2)) / Math.sqrt(2 * Math.PI)),
  );

// ---- softmax / cross-entropy -------------------------------------------------------------------------

// Calls f(indices) for every 1-D line of x along dim.
function forEachLine(shape, dim, f) {
  const L = shape[dim];
  for (let i = 0; i < prod(shape); i++) {
    const c = unravel(i, shape);
    if (c[dim] !== 0) continue;
    f(
      Array.from({ length: L }, (_, l) =>
        ravel(
          c.map((v, d) => (d === dim ? l : v)),
          shape,
        ),
      ),
    );
  }
}

function softmax(x, dim, log) {
  const d = dim < 0 ? dim + x.shape.length : dim;
  const y = new Float64Array(x.data.length);
  forEachLine(x.shape, d, (idx) => {
    const m = Math.max(...idx.map((i) => x.data[i]));
    let s = 0;
    for (const i of idx) s += Math.exp(x.data[i] - m);
    for (const i of idx) y[i] = log ? x.data[i] - m - Math.log(s) : Math.exp(x.data[i] - m) / s;
  });
  return { data: y, shape: x.shape.slice() };
}

function softmaxGrad(x, dim, log, g) {
  const d = dim < 0 ? dim + x.shape.length : dim;
  const p = softmax(x, d, false).data;
  const gx = new Float64Array(x.data.length);
  forEachLine(x.shape, d, (idx) => {
    if (log) {
      // d logp_j / dx_i = [i == j] - p_i
      let sg = 0;
      for (const j of idx) sg += g[j];
      for (const i of idx) gx[i] = g[i] - p[i] * sg;
    } else {
      // d p_j / dx_i = p_j ([i == j] - p_i)
      let sgp = 0;
      for (const j of idx) sgp += g[j] * p[j];
      for (const i of idx) gx[i] = p[i] * (g[i] - sgp);
    }
  });
  return gx;
}

// Per-sample losses of logits [N, K]: -(1 - s) logp[label] - (s / K) sum_k logp[k].
function crossEntropyPerSample(z, labels, s) {
  const [N, K] = z.shape;
  const logp = softmax(z, 1, true).data;
  const loss = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let all = 0;
    for (let k = 0; k < K; k++) all += logp[i * K + k];
    loss[i] = -(1 - s) * logp[i * K + labels[i]] - (s / K) * all;
  }
  return loss;
}

function crossEntropy(z, labels, reduction, s = 0) {
  const loss = crossEntropyPerSample(z, labels, s);
  if (reduction === 'none') return { data: loss, shape: [z.shape[0]] };
  const total = loss.reduce((p, q) => p + q, 0);
  return { data: Float64Array.of(reduction === 'mean' ? total / z.shape[0] : total), shape: [] };
}

function crossEntropyGrad(z, labels, reduction, s, g) {
  const [N, K] = z.shape;
  const p = softmax(z, 1, false).data;
  const gz = new Float64Array(N * K);
  for (let i = 0; i < N; i++) {
    const gi = reduction === 'none' ? g[i] : reduction === 'mean' ? g[0] / N : g[0];
    for (let k = 0; k < K; k++) gz[i * K + k] = gi * (p[i * K + k] - (k === labels[i] ? 1 - s : 0) - s / K);
  }
  return gz;
}

// ---- pooling ------------------------------------------------------------------------------------------

function globalAvgPool2d(x) {
  const [N, C, H, W] = x.shape;
  const y = new Float64Array(N * C);
  for (let i = 0; i < x.data.length; i++) y[Math.floor(i / (H * W))] += x.data[i] / (H * W);
  return { data: y, shape: [N, C] };
}
const globalAvgPool2dGrad = (x, g) =>
  x.data.map((_, i) => g[Math.floor(i / (x.shape[2] * x.shape[3]))] / (x.shape[2] * x.shape[3]));

// Visits every output window: f(outIndex, list of in-bounds input indices, window area).
function forEachWindow(shape, k, s, p, f) {
  const [N, C, H, W] = shape;
  const OH = Math.floor((H + 2 * p[0] - k[0]) / s[0]) + 1,
    OW = Math.floor((W + 2 * p[1] - k[1]) / s[1]) + 1;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++, o++) {
        const idx = [];
        for (let i = 0; i < k[0]; i++)
          for (let j = 0; j < k[1]; j++) {
            const h = oh * s[0] - p[0] + i,
              w = ow * s[1] - p[1] + j;
            if (h >= 0 && h < H && w >= 0 && w < W) idx.push((nc * H + h) * W + w);
          }
        f(o, idx, k[0] * k[1]);
      }
  return [N, C, OH, OW];
}

// Index of the first maximum of a window (row-major order); a NaN wins, the last one if several
// (PyTorch: val > max || isnan(val)).
function argmaxOf(x, idx) {
  let best = idx[0];
  for (const i of idx) if (x[i] > x[best] || Number.isNaN(x[i])) best = i;
  return best;
}

function maxPool2d(x, k, s, p) {
  const out = [];
  const shape = forEachWindow(x.shape, k, s, p, (o, idx) => (out[o] = x.data[argmaxOf(x.data, idx)]));
  return { data: Float64Array.from(out), shape };
}
function maxPool2dGrad(x, k, s, p, g) {
  const gx = new Float64Array(x.data.length);
  forEachWindow(x.shape, k, s, p, (o, idx) => (gx[argmaxOf(x.data, idx)] += g[o]));
  return gx;
}
function avgPool2d(x, k, s, p) {
  const out = [];
  const shape = forEachWindow(
    x.shape,
    k,
    s,
    p,
    (o, idx, area) => (out[o] = idx.reduce((a, i) => a + x.data[i], 0) / area),
  );
  return { data: Float64Array.from(out), shape };
}
function avgPool2dGrad(x, k, s, p, g) {
  const gx = new Float64Array(x.data.length);
  forEachWindow(x.shape, k, s, p, (o, idx, area) => idx.forEach((i) => (gx[i] += g[o] / area)));
  return gx;
}

module.exports = {
  erf,
  relu,
  reluGrad,
  gelu,
  geluGrad,
  softmax,
  softmaxGrad,
  crossEntropy,
  crossEntropyGrad,
  globalAvgPool2d,
  globalAvgPool2dGrad,
  maxPool2d,
  maxPool2dGrad,
  avgPool2d,
  avgPool2dGrad,
};
