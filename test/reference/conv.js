// Float64 reference for conv2d: the definition written as plain loops, independent of src/ (no
// GEMM, no im2col). Inputs are {data: Float64Array, shape}.
'use strict';

const pair = (v, d) => (v === undefined ? [d, d] : Array.isArray(v) ? v : [v, v]);

function convGeometry(x, w, opts = {}) {
  const [N, C, H, W] = x.shape;
  const [O, CG, KH, KW] = w.shape;
  const [sh, sw] = pair(opts.stride, 1),
    [ph, pw] = pair(opts.padding, 0),
    [dh, dw] = pair(opts.dilation, 1);
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
  const gx = new Float64Array(x.data.length),
    gw = new Float64Array(w.data.length),
    gb = new Float64Array(geo.O);
  forEachTap(geo, (xi, wi, yi) => {
    gx[xi] += g[yi] * w.data[wi];
    gw[wi] += g[yi] * x.data[xi];
  });
  for (let i = 0; i < g.length; i++) gb[Math.floor(i / (geo.OH * geo.OW)) % geo.O] += g[i];
  return { x: gx, weight: gw, bias: bias ? gb : undefined };
}

module.exports = { conv2d, conv2dGrad };
