// Float64 references for normalisation (BatchNorm, LayerNorm, LayerNorm2d, GroupNorm, weight
// standardisation): naive loops over explicit index sets, independent of src/ and native/.
'use strict';
const { prod } = require('./basic');

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
  const gx = new Float64Array(x.data.length),
    gw = new Float64Array(C),
    gb = new Float64Array(C);
  groups.forEach((idx, k) => {
    const s = stats ? stats[k] : groupStats(x.data, idx);
    const r = 1 / Math.sqrt(s.var + eps);
    const xhat = (i) => (x.data[i] - s.mean) * r;
    const gh = (i) => g[i] * (w ? w.data[chan(i)] : 1);
    let m1 = 0,
      m2 = 0;
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
  const eps = o.eps ?? 1e-5,
    momentum = o.momentum ?? 0.1;
  const fixed = o.training ? null : groups.map((_, c) => ({ mean: o.runningMean.data[c], var: o.runningVar.data[c] }));
  const out = normForward(x, groups, chan, o.weight, o.bias, eps, fixed);
  let runningMean = null,
    runningVar = null;
  if (o.training && o.runningMean) {
    runningMean = out.stats.map((s, c) => (1 - momentum) * o.runningMean.data[c] + momentum * s.mean);
    runningVar = out.stats.map((s, c) => {
      const M = groups[c].length;
      return (1 - momentum) * o.runningVar.data[c] + (momentum * s.var * M) / (M - 1);
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

// ---- weight standardisation ----------------------------------------------------------------------

// Weight standardisation in float64: per output filter (w - mean) / sqrt(biased var + eps).
function weightStandardize(w, eps) {
  const O = w.shape[0],
    K = w.data.length / O,
    out = new Float64Array(w.data.length);
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
  const O = w.shape[0],
    K = w.data.length / O,
    gw = new Float64Array(w.data.length);
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
  batchNorm,
  batchNormGrad,
  layerNorm,
  layerNormGrad,
  layerNorm2d,
  layerNorm2dGrad,
  groupNorm,
  groupNormGrad,
  weightStandardize,
  weightStandardizeGrad,
};
