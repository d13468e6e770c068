// Float64 references for normalisation, activations, softmax / cross-entropy and pooling: naive
// loops over explicit index sets, independent of src/ and native/.
'use strict';
const { prod, unravel, ravel } = require('./basic');

// ---- normalisation -------------------------------------------------------------------------------
// Every normalisation is "groups of elements share (mean, var); element i then uses the affine
// parameters of channel chan(i)". stats (optional) fixes each group's {mean, var} (BatchNorm
// inference); otherwise they are the group's own biased statistics.

function groupStats(x, idx) {
  let m = 0;
  for (const i of idx) m += x[i];
  m /= idx.length;
  let v = 0;
  for (const i of idx) v += (x[i] - m) ** 2;
  return { mean: m, var: v / idx.length };
}

function normForward(x, groups, chan, w, b, eps, stats) {
  const y = new Float64Array(x.data.length);
  const used = groups.map((idx, k) => (stats ? stats[k] : groupStats(x.data, idx)));
  groups.forEach((idx, k) => {
    const r = 1 / Math.sqrt(used[k].var + eps);
    for (const i of idx) {
      const c = chan(i);
      y[i] = (x.data[i] - used[k].mean) * r * (w ? w.data[c] : 1) + (b ? b.data[c] : 0);
    }
  });
  return { data: y, shape: x.shape.slice(), stats: used };
}

function normBackward(x, groups, chan, w, eps, g, stats, C) {
  const gx = new Float64Array(x.data.length), gw = new Float64Array(C), gb = new Float64Array(C);
  groups.forEach((idx, k) => {
    const s = stats ? stats[k] : groupStats(x.data, idx);
    const r = 1 / Math.sqrt(s.var + eps);
    const xhat = (i) => (x.data[i] - s.mean) * r;
    const gh = (i) => g[i] * (w ? w.data[chan(i)] : 1);
    let m1 = 0, m2 = 0;
    for (const i of idx) {
      m1 += gh(i);
      m2 += gh(i) * xhat(i);
      gw[chan(i)] += g[i] * xhat(i);
      gb[chan(i)] += g[i];
    }
    m1 /= idx.length;
    m2 /= idx.length;
    // Fixed statistics are constants; batch statistics depend on x.
    for (const i of idx) gx[i] = stats ? gh(i) * r : r * (gh(i) - m1 - xhat(i) * m2);
  });
  return { x: gx, weight: gw, bias: gb };
}

// x [N, C, S...]: per-channel groups over (n, s).
function channelGroups(shape) {
  const [N, C] = shape;
  const S = prod(shape.slice(2));
  const groups = [];
  for (let c = 0; c < C; c++) {
    const idx = [];
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) idx.push((n * C + c) * S + s);
    groups.push(idx);
  }
  return { groups, chan: (i) => Math.floor(i / S) % C, C };
}

// o: {weight, bias, runningMean, runningVar, training, momentum, eps}; returns the output plus
// the updated running statistics (null when not given).
function batchNorm(x, o) {
  const { groups, chan } = channelGroups(x.shape);
  const eps = o.eps ?? 1e-5, momentum = o.momentum ?? 0.1;
  const fixed = o.training ? null : groups.map((_, c) => ({ mean: o.runningMean.data[c], var: o.runningVar.data[c] }));
  const out = normForward(x, groups, chan, o.weight, o.bias, eps, fixed);
  let runningMean = null, runningVar = null;
  if (o.training && o.runningMean) {
    runningMean = out.stats.map((s, c) => (1 - momentum) * o.runningMean.data[c] + momentum * s.mean);
    runningVar = out.stats.map((s, c) => {
      const M = groups[c].length;
      return (1 - momentum) * o.runningVar.data[c] + momentum * s.var * M / (M - 1);
    });
  }
  return { data: out.data, shape: out.shape, runningMean, runningVar };
}

function batchNormGrad(x, o, g) {
  const { groups, chan, C } = channelGroups(x.shape);
  const fixed = o.training ? null : groups.map((_, c) => ({ mean: o.runningMean.data[c], var: o.runningVar.data[c] }));
  return normBackward(x, groups, chan, o.weight, o.eps ?? 1e-5, g, fixed, C);
}

// LayerNorm over the last dim.
function layerNormGroups(shape) {
  const D = shape[shape.length - 1];
  const groups = [];
  for (let r = 0; r < prod(shape) / D; r++) groups.push(Array.from({ length: D }, (_, d) => r * D + d));
  return { groups, chan: (i) => i % D, C: D };
}
// Channels-first LayerNorm of [N, C, H, W]: one group per pixel.
function layerNorm2dGroups(shape) {
  const [N, C, H, W] = shape;
  const S = H * W;
  const groups = [];
  for (let n = 0; n < N; n++)
    for (let s = 0; s < S; s++) groups.push(Array.from({ length: C }, (_, c) => (n * C + c) * S + s));
  return { groups, chan: (i) => Math.floor(i / S) % C, C };
}
// GroupNorm of [N, C, ...] with G groups of C / G channels.
function groupNormGroups(shape, G) {
  const [N, C] = shape;
  const S = prod(shape.slice(2));
  const groups = [];
  for (let n = 0; n < N; n++)
    for (let gi = 0; gi < G; gi++) {
      const idx = [];
      for (let c = gi * (C / G); c < (gi + 1) * (C / G); c++) for (let s = 0; s < S; s++) idx.push((n * C + c) * S + s);
      groups.push(idx);
    }
  return { groups, chan: (i) => Math.floor(i / S) % C, C };
}

function normWith(layout, x, w, b, eps) {
  const { groups, chan } = layout;
  const out = normForward(x, groups, chan, w, b, eps, null);
  return { data: out.data, shape: out.shape };
}
function normGradWith(layout, x, w, eps, g) {
  return normBackward(x, layout.groups, layout.chan, w, eps, g, null, layout.C);
}

const layerNorm = (x, w, b, eps = 1e-5) => normWith(layerNormGroups(x.shape), x, w, b, eps);
const layerNormGrad = (x, w, eps, g) => normGradWith(layerNormGroups(x.shape), x, w, eps, g);
const layerNorm2d = (x, w, b, eps = 1e-6) => normWith(layerNorm2dGroups(x.shape), x, w, b, eps);
const layerNorm2dGrad = (x, w, eps, g) => normGradWith(layerNorm2dGroups(x.shape), x, w, eps, g);
const groupNorm = (x, G, w, b, eps = 1e-5) => normWith(groupNormGroups(x.shape, G), x, w, b, eps);
const groupNormGrad = (x, G, w, eps, g) => normGradWith(groupNormGroups(x.shape, G), x, w, eps, g);

// ---- activations -----------------------------------------------------------------------------------

// erf in float64: Maclaurin series for |z| < 3 (terms stay below ~200, so ~1e-14 accurate),
// the continued fraction erfc(z) = exp(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / ...)))
// beyond.
function erf(z) {
  if (z < 0) return -erf(-z);
  if (z < 3) {
    let term = z, sum = z;
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
  x.data.map((v, i) => g[i] * (0.5 * (1 + erf(v / Math.SQRT2)) + (v * Math.exp(-v * v / 2)) / Math.sqrt(2 * Math.PI)));

// ---- softmax / cross-entropy -------------------------------------------------------------------------

// Calls f(indices) for every 1-D line of x along dim.
function forEachLine(shape, dim, f) {
  const L = shape[dim];
  for (let i = 0; i < prod(shape); i++) {
    const c = unravel(i, shape);
    if (c[dim] !== 0) continue;
    f(Array.from({ length: L }, (_, l) => ravel(c.map((v, d) => (d === dim ? l : v)), shape)));
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
const globalAvgPool2dGrad = (x, g) => x.data.map((_, i) => g[Math.floor(i / (x.shape[2] * x.shape[3]))] / (x.shape[2] * x.shape[3]));

// Visits every output window: f(outIndex, list of in-bounds input indices, window area).
function forEachWindow(shape, k, s, p, f) {
  const [N, C, H, W] = shape;
  const OH = Math.floor((H + 2 * p[0] - k[0]) / s[0]) + 1, OW = Math.floor((W + 2 * p[1] - k[1]) / s[1]) + 1;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++, o++) {
        const idx = [];
        for (let i = 0; i < k[0]; i++)
          for (let j = 0; j < k[1]; j++) {
            const h = oh * s[0] - p[0] + i, w = ow * s[1] - p[1] + j;
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
  const shape = forEachWindow(x.shape, k, s, p, (o, idx, area) => (out[o] = idx.reduce((a, i) => a + x.data[i], 0) / area));
  return { data: Float64Array.from(out), shape };
}
function avgPool2dGrad(x, k, s, p, g) {
  const gx = new Float64Array(x.data.length);
  forEachWindow(x.shape, k, s, p, (o, idx, area) => idx.forEach((i) => (gx[i] += g[o] / area)));
  return gx;
}

// Weight standardisation in float64: per output filter (w - mean) / sqrt(biased var + eps).
function weightStandardize(w, eps) {
  const O = w.shape[0], K = w.data.length / O, out = new Float64Array(w.data.length);
  for (let o = 0; o < O; o++) {
    let m = 0;
    for (let i = 0; i < K; i++) m += w.data[o * K + i] / K;
    let v = 0;
    for (let i = 0; i < K; i++) v += (w.data[o * K + i] - m) ** 2 / K;
    for (let i = 0; i < K; i++) out[o * K + i] = (w.data[o * K + i] - m) / Math.sqrt(v + eps);
  }
  return { data: out, shape: w.shape };
}

// Its vector-Jacobian product from the chain rule written out term by term.
function weightStandardizeGrad(w, eps, g) {
  const O = w.shape[0], K = w.data.length / O, gw = new Float64Array(w.data.length);
  for (let o = 0; o < O; o++) {
    let m = 0;
    for (let i = 0; i < K; i++) m += w.data[o * K + i] / K;
    let v = 0;
    for (let i = 0; i < K; i++) v += (w.data[o * K + i] - m) ** 2 / K;
    const s = Math.sqrt(v + eps);
    for (let j = 0; j < K; j++) {
      let acc = 0;
      for (let i = 0; i < K; i++) {
        const dxi = (i === j ? 1 : 0) - 1 / K; // d(w_i - m)/d w_j
        const dv = (2 / K) * (w.data[o * K + j] - m); // d v / d w_j
        const dy = dxi / s - ((w.data[o * K + i] - m) * dv) / (2 * s * s * s);
        acc += g[o * K + i] * dy;
      }
      gw[o * K + j] = acc;
    }
  }
  return gw;
}

module.exports = {
  weightStandardize, weightStandardizeGrad,
  erf, batchNorm, batchNormGrad, layerNorm, layerNormGrad, layerNorm2d, layerNorm2dGrad, groupNorm, groupNormGrad,
  relu, reluGrad, gelu, geluGrad, softmax, softmaxGrad, crossEntropy, crossEntropyGrad,
  globalAvgPool2d, globalAvgPool2dGrad, maxPool2d, maxPool2dGrad, avgPool2d, avgPool2dGrad,
};
