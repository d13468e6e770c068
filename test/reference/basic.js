// Float64 references for broadcasting arithmetic, reductions and shape ops: index arithmetic
// written out per element, independent of src/.
'use strict';

const prod = (s) => s.reduce((p, q) => p * q, 1);

function unravel(i, shape) {
  const c = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}
function ravel(c, shape) {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d] + c[d];
  return i;
}
function bshape(a, b) {
  const n = Math.max(a.length, b.length);
  const out = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1,
      y = b[b.length - n + i] ?? 1;
    out.push(Math.max(x, y));
  }
  return out;
}
function srcIndex(c, shape) {
  const off = c.length - shape.length;
  return ravel(
    shape.map((s, d) => (s === 1 ? 0 : c[d + off])),
    shape,
  );
}

function broadcast(a, b, f) {
  const shape = bshape(a.shape, b.shape);
  const out = new Float64Array(prod(shape));
  for (let i = 0; i < out.length; i++) {
    const c = unravel(i, shape);
    out[i] = f(a.data[srcIndex(c, a.shape)], b.data[srcIndex(c, b.shape)]);
  }
  return { data: out, shape };
}
function broadcastGrad(a, b, g, df) {
  const shape = bshape(a.shape, b.shape);
  const ga = new Float64Array(a.data.length),
    gb = new Float64Array(b.data.length);
  for (let i = 0; i < g.length; i++) {
    const c = unravel(i, shape);
    const ia = srcIndex(c, a.shape),
      ib = srcIndex(c, b.shape);
    const [da, db] = df(a.data[ia], b.data[ib]);
    ga[ia] += g[i] * da;
    gb[ib] += g[i] * db;
  }
  return { a: ga, b: gb };
}
function reduceDim(x, dim, factor) {
  const shape = x.shape.filter((_, d) => d !== dim);
  const out = new Float64Array(prod(shape));
  for (let i = 0; i < x.data.length; i++) {
    const c = unravel(i, x.shape);
    c.splice(dim, 1);
    out[ravel(c, shape)] += x.data[i] * factor;
  }
  return { data: out, shape };
}
function reduceDimGrad(x, dim, factor, g) {
  const shape = x.shape.filter((_, d) => d !== dim);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = unravel(i, x.shape);
    c.splice(dim, 1);
    out[i] = g[ravel(c, shape)] * factor;
  }
  return out;
}
function permute(x, dims) {
  const shape = dims.map((d) => x.shape[d]);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = unravel(i, shape);
    const src = new Array(dims.length);
    dims.forEach((d, k) => (src[d] = c[k]));
    out[i] = x.data[ravel(src, x.shape)];
  }
  return { data: out, shape };
}
function permuteGrad(x, dims, g) {
  const shape = dims.map((d) => x.shape[d]);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < g.length; i++) {
    const c = unravel(i, shape);
    const src = new Array(dims.length);
    dims.forEach((d, k) => (src[d] = c[k]));
    out[ravel(src, x.shape)] = g[i];
  }
  return out;
}
function slice(x, dim, start, end) {
  const shape = x.shape.slice();
  shape[dim] = end - start;
  const out = new Float64Array(prod(shape));
  for (let i = 0; i < out.length; i++) {
    const c = unravel(i, shape);
    c[dim] += start;
    out[i] = x.data[ravel(c, x.shape)];
  }
  return { data: out, shape };
}
function sliceGrad(x, dim, start, end, g) {
  const shape = x.shape.slice();
  shape[dim] = end - start;
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < g.length; i++) {
    const c = unravel(i, shape);
    c[dim] += start;
    out[ravel(c, x.shape)] = g[i];
  }
  return out;
}

// Constant padding of the last two dims, naive: out[c, i, j] = x[c, i - top, j - left] or value.
function pad2d(x, [left, right, top, bottom], value) {
  const H = x.shape[x.shape.length - 2],
    W = x.shape[x.shape.length - 1];
  const planes = x.data.length / (H * W),
    OH = H + top + bottom,
    OW = W + left + right;
  const out = new Float64Array(planes * OH * OW);
  for (let c = 0; c < planes; c++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        const si = i - top,
          sj = j - left;
        out[(c * OH + i) * OW + j] = si >= 0 && si < H && sj >= 0 && sj < W ? x.data[(c * H + si) * W + sj] : value;
      }
  return { data: out, shape: [...x.shape.slice(0, -2), OH, OW] };
}

function pad2dGrad(x, [left, right, top, bottom], g) {
  const H = x.shape[x.shape.length - 2],
    W = x.shape[x.shape.length - 1];
  const planes = x.data.length / (H * W),
    OW = W + left + right,
    OH = H + top + bottom;
  const gx = new Float64Array(x.data.length);
  for (let c = 0; c < planes; c++)
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++) gx[(c * H + i) * W + j] = g[(c * OH + i + top) * OW + j + left];
  return gx;
}

module.exports = {
  pad2d,
  pad2dGrad,
  prod,
  unravel,
  ravel,
  broadcast,
  broadcastGrad,
  reduceDim,
  reduceDimGrad,
  permute,
  permuteGrad,
  slice,
  sliceGrad,
};
