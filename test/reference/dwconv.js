// Float64 reference for depthwise conv2d (PyTorch semantics, groups = C), written as the
// textbook sum over each output's window; independent of src/ and native/.
'use strict';

function outSize(len, k, stride, pad) {
  return Math.floor((len + 2 * pad - k) / stride) + 1;
}

// Calls visit(xIndex, wIndex, yIndex, c) for every (output, tap) pair that touches the input.
function forEachTap(x, w, [sh, sw], [ph, pw], visit) {
  const [N, C, H, W] = x.shape;
  const [KH, KW] = [w.shape[2], w.shape[3]];
  const OH = outSize(H, KH, sh, ph),
    OW = outSize(W, KW, sw, pw);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++)
          for (let ky = 0; ky < KH; ky++)
            for (let kx = 0; kx < KW; kx++) {
              const iy = oy * sh - ph + ky,
                ix = ox * sw - pw + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              visit(((n * C + c) * H + iy) * W + ix, (c * KH + ky) * KW + kx, ((n * C + c) * OH + oy) * OW + ox, c);
            }
  return [N, C, OH, OW];
}

/** y = depthwise_conv2d(x, w) + b; b may be null. */
function forward(x, w, b, stride, pad) {
  const [N, C, H, W] = x.shape;
  const shape = [N, C, outSize(H, w.shape[2], stride[0], pad[0]), outSize(W, w.shape[3], stride[1], pad[1])];
  const y = new Float64Array(shape.reduce((p, q) => p * q, 1));
  const plane = shape[2] * shape[3];
  if (b) for (let i = 0; i < y.length; i++) y[i] = b.data[Math.floor(i / plane) % C];
  forEachTap(x, w, stride, pad, (xi, wi, yi) => (y[yi] += x.data[xi] * w.data[wi]));
  return { data: y, shape };
}

/** Vector-Jacobian product for output gradient g: { x, weight, bias }. */
function backward(x, w, b, stride, pad, g) {
  const gx = new Float64Array(x.data.length);
  const gw = new Float64Array(w.data.length);
  const gb = new Float64Array(x.shape[1]);
  const [, C, OH, OW] = forEachTap(x, w, stride, pad, (xi, wi, yi) => {
    gx[xi] += g[yi] * w.data[wi];
    gw[wi] += g[yi] * x.data[xi];
  });
  for (let i = 0; i < g.length; i++) gb[Math.floor(i / (OH * OW)) % C] += g[i];
  return { x: gx, weight: gw, bias: b ? gb : null };
}

module.exports = { outSize, forward, backward };
