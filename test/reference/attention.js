// Float64 reference for multi-head attention: the textbook formulas with plain loops, the full
// score matrix of each head materialised (independent of src/ and native/).
//   out = softmax(q k^T * scale) v      q [B,H,Tq,d], k [B,H,Tk,d], v [B,H,Tk,dv]
'use strict';

function dims(q, k, v) {
  const [B, H, Tq, d] = q.shape;
  return { B, H, Tq, d, Tk: k.shape[2], dv: v.shape[3] };
}

// Softmax probabilities [B, H, Tq, Tk] (stable: subtract the row max).
function probs(q, k, v, scale) {
  const { B, H, Tq, d, Tk } = dims(q, k, v);
  const P = new Float64Array(B * H * Tq * Tk);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < Tq; i++) {
      const row = (bh * Tq + i) * Tk;
      let max = -Infinity;
      for (let j = 0; j < Tk; j++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += q.data[(bh * Tq + i) * d + c] * k.data[(bh * Tk + j) * d + c];
        P[row + j] = s * scale;
        if (P[row + j] > max) max = P[row + j];
      }
      let sum = 0;
      for (let j = 0; j < Tk; j++) {
        P[row + j] = Math.exp(P[row + j] - max);
        sum += P[row + j];
      }
      for (let j = 0; j < Tk; j++) P[row + j] /= sum;
    }
  }
  return { data: P, shape: [B, H, Tq, Tk] };
}

function forward(q, k, v, scale) {
  const { B, H, Tq, Tk, dv } = dims(q, k, v);
  const P = probs(q, k, v, scale).data;
  const out = new Float64Array(B * H * Tq * dv);
  for (let bh = 0; bh < B * H; bh++)
    for (let i = 0; i < Tq; i++)
      for (let j = 0; j < Tk; j++) {
        const p = P[(bh * Tq + i) * Tk + j];
        for (let c = 0; c < dv; c++) out[(bh * Tq + i) * dv + c] += p * v.data[(bh * Tk + j) * dv + c];
      }
  return { data: out, shape: [B, H, Tq, dv] };
}

// Vector-Jacobian product for gradOut g [B, H, Tq, dv]:
//   dV = P^T g;  dP = g V^T;  dS_ij = P_ij (dP_ij - sum_l P_il dP_il);  dQ = scale dS K;  dK = scale dS^T Q
function backward(q, k, v, scale, g) {
  const { B, H, Tq, d, Tk, dv } = dims(q, k, v);
  const P = probs(q, k, v, scale).data;
  const gq = new Float64Array(q.data.length);
  const gk = new Float64Array(k.data.length);
  const gv = new Float64Array(v.data.length);
  const dP = new Float64Array(Tk);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < Tq; i++) {
      const prow = (bh * Tq + i) * Tk;
      const grow = (bh * Tq + i) * dv;
      let rowTerm = 0;
      for (let j = 0; j < Tk; j++) {
        let s = 0;
        for (let c = 0; c < dv; c++) {
          s += g[grow + c] * v.data[(bh * Tk + j) * dv + c];
          gv[(bh * Tk + j) * dv + c] += P[prow + j] * g[grow + c];
        }
        dP[j] = s;
        rowTerm += P[prow + j] * s;
      }
      for (let j = 0; j < Tk; j++) {
        const dS = P[prow + j] * (dP[j] - rowTerm) * scale;
        for (let c = 0; c < d; c++) {
          gq[(bh * Tq + i) * d + c] += dS * k.data[(bh * Tk + j) * d + c];
          gk[(bh * Tk + j) * d + c] += dS * q.data[(bh * Tq + i) * d + c];
        }
      }
    }
  }
  return { q: gq, k: gk, v: gv };
}

// out and probs concatenated along the last dim: [B, H, Tq, dv + Tk].
function concatLast(a, b) {
  const [B, H, T, n] = a.shape;
  const m = b.shape[3];
  const data = new Float64Array(B * H * T * (n + m));
  for (let r = 0; r < B * H * T; r++) {
    for (let c = 0; c < n; c++) data[r * (n + m) + c] = a.data[r * n + c];
    for (let c = 0; c < m; c++) data[r * (n + m) + n + c] = b.data[r * m + c];
  }
  return { data, shape: [B, H, T, n + m] };
}

// The first n entries of each last-dim row of g [rows, n + m].
function firstColumns(g, rows, n, m) {
  const r = new Float64Array(rows * n);
  for (let i = 0; i < rows; i++) for (let c = 0; c < n; c++) r[i * n + c] = g[i * (n + m) + c];
  return r;
}

module.exports = { probs, forward, backward, concatLast, firstColumns };
