// Float64 references for matmul and linear: the definitions written as plain loops, independent
// of src/ (no GEMM blocking). Inputs are {data: Float64Array, shape}.
'use strict';

const prod = (s) => s.reduce((p, q) => p * q, 1);

// out[t][i][j] = sum_k a[t][i][k] * b[t][k][j] for a [..., M, K] x b [..., K, N] or b [K, N].
function matmul(a, b) {
  const M = a.shape[a.shape.length - 2],
    K = a.shape[a.shape.length - 1],
    N = b.shape[b.shape.length - 1];
  const batch = prod(a.shape.slice(0, -2));
  const shared = b.shape.length === 2;
  const out = new Float64Array(batch * M * N);
  for (let t = 0; t < batch; t++) {
    const ao = t * M * K,
      bo = shared ? 0 : t * K * N,
      oo = t * M * N;
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
  const M = a.shape[a.shape.length - 2],
    K = a.shape[a.shape.length - 1],
    N = b.shape[b.shape.length - 1];
  const batch = prod(a.shape.slice(0, -2));
  const shared = b.shape.length === 2;
  const ga = new Float64Array(a.data.length),
    gb = new Float64Array(b.data.length);
  for (let t = 0; t < batch; t++) {
    const ao = t * M * K,
      bo = shared ? 0 : t * K * N,
      go = t * M * N;
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
  const inF = x.shape[x.shape.length - 1],
    outF = w.shape[0];
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
  const inF = x.shape[x.shape.length - 1],
    outF = w.shape[0];
  const rows = prod(x.shape.slice(0, -1));
  const gx = new Float64Array(x.data.length),
    gw = new Float64Array(w.data.length),
    gb = new Float64Array(outF);
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

module.exports = { matmul, matmulGrad, linear, linearGrad };
