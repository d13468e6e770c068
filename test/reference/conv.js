// Float64 references for matmul, linear and conv2d: the definitions written as plain loops,
// independent of src/ (no GEMM blocking, no im2col). Inputs are {data: Float64Array, shape}.
'use strict';

const prod = (s) => s.reduce((p, q) => p * q, 1);

// out[t][i][j] = sum_k a[t][i][k] * b[t][k][j] for a [..., M, K] x b [..., K, N] or b [K, N].
function matmul(a, b) {
  const M = a.shape[a.shape.length - 2], K = a.shape[a.shape.length - 1], N = b.shape[b.shape.length - 1];
  const batch = prod(a.shape.slice(0, -2));
  const shared = b.shape.length === 2;
  const out = new Float64Array(batch * M * N);
  for (let t = 0; t < batch; t++) {
    const ao = t * M * K, bo = shared ? 0 : t * K * N, oo = t * M * N;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a.data[ao + i * K + k] * b.data[bo + k * N + j];
        out[oo + i * N + j] = s;
      }
  }
  return { data: out, shape: [...a.shape.slice(0, -2), M, N] };
}

// ga = g b^T, gb = a^T g (summed over the batch when b is shared).
function matmulGrad(a, b, g) {
  const M = a.shape[a.shape.length - 2], K = a.shape[a.shape.length - 1], N = b.shape[b.shape.length - 1];
  const batch = prod(a.shape.slice(0, -2));
  const shared = b.shape.length === 2;
  const ga = new Float64Array(a.data.length), gb = new Float64Array(b.data.length);
  for (let t = 0; t < batch; t++) {
    const ao = t * M * K, bo = shared ? 0 : t * K * N, go = t * M * N;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        const gij = g[go + i * N + j];
        for (let k = 0; k < K; k++) {
          ga[ao + i * K + k] += gij * b.data[bo + k * N + j];
          gb[bo + k * N + j] += a.data[ao + i * K + k] * gij;
        }
      }
  }
  return { a: ga, b: gb };
}

// y[r][o] = sum_i x[r][i] * w[o][i] + bias[o]
function linear(x, w, bias) {
  const inF = x.shape[x.shape.length - 1], outF = w.shape[0];
  const rows = prod(x.shape.slice(0, -1));
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let s = bias ? bias.data[o] : 0;
      for (let i = 0; i < inF; i++) s += x.data[r * inF + i] * w.data[o * inF + i];
      y[r * outF + o] = s;
    }
  return { data: y, shape: [...x.shape.slice(0, -1), outF] };
}

function linearGrad(x, w, bias, g) {
  const inF = x.shape[x.shape.length - 1], outF = w.shape[0];
  const rows = prod(x.shape.slice(0, -1));
  const gx = new Float64Array(x.data.length), gw = new Float64Array(w.data.length), gb = new Float64Array(outF);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      const go = g[r * outF + o];
      gb[o] += go;
      for (let i = 0; i < inF; i++) {
        gx[r * inF + i] += go * w.data[o * inF + i];
        gw[o * inF + i] += go * x.data[r * inF + i];
      }
    }
  return { x: gx, weight: gw, bias: gb };
}

const pair = (v, d) => (v === undefined ? [d, d] : Array.isArray(v) ? v : [v, v]);

function convGeometry(x, w, opts = {}) {
  const [N, C, H, W] = x.shape;
  const [O, CG, KH, KW] = w.shape;
  const [sh, sw] = pair(opts.stride, 1), [ph, pw] = pair(opts.padding, 0), [dh, dw] = pair(opts.dilation, 1);
  const groups = opts.groups ?? 1;
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  return { N, C, H, W, O, CG, KH, KW, sh, sw, ph, pw, dh, dw, groups, OG: O / groups, OH, OW };
}

// Calls visit(xIndex, wIndex, yIndex) for every (output, input, weight) triple of the convolution.
function forEachTap(geo, visit) {
  const { N, C, H, W, O, CG, KH, KW, sh, sw, ph, pw, dh, dw, OG, OH, OW } = geo;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / OG);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const yi = ((n * O + o) * OH + oh) * OW + ow;
          for (let c = 0; c < CG; c++)
            for (let ki = 0; ki < KH; ki++) {
              const ih = oh * sh - ph + ki * dh;
              if (ih < 0 || ih >= H) continue;
              for (let kj = 0; kj < KW; kj++) {
                const iw = ow * sw - pw + kj * dw;
                if (iw < 0 || iw >= W) continue;
                const xi = ((n * C + g * CG + c) * H + ih) * W + iw;
                const wi = ((o * CG + c) * KH + ki) * KW + kj;
                visit(xi, wi, yi);
              }
            }
        }
    }
}

function conv2d(x, w, bias, opts) {
  const geo = convGeometry(x, w, opts);
  const y = new Float64Array(geo.N * geo.O * geo.OH * geo.OW);
  if (bias) for (let i = 0; i < y.length; i++) y[i] = bias.data[Math.floor(i / (geo.OH * geo.OW)) % geo.O];
  forEachTap(geo, (xi, wi, yi) => {
    y[yi] += x.data[xi] * w.data[wi];
  });
  return { data: y, shape: [geo.N, geo.O, geo.OH, geo.OW] };
}

function conv2dGrad(x, w, bias, opts, g) {
  const geo = convGeometry(x, w, opts);
  const gx = new Float64Array(x.data.length), gw = new Float64Array(w.data.length), gb = new Float64Array(geo.O);
  forEachTap(geo, (xi, wi, yi) => {
    gx[xi] += g[yi] * w.data[wi];
    gw[wi] += g[yi] * x.data[xi];
  });
  for (let i = 0; i < g.length; i++) gb[Math.floor(i / (geo.OH * geo.OW)) % geo.O] += g[i];
  return { x: gx, weight: gw, bias: bias ? gb : undefined };
}

module.exports = { matmul, matmulGrad, linear, linearGrad, conv2d, conv2dGrad };
