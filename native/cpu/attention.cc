// Fused attention kernels (see attention.h), compiled once per ISA. Work is split into
// (batch*head, block of kQB queries) tasks. Within a task every product runs on the transposed
// score tile S^T [keys x queries], so the queries lie along SIMD lanes: the online softmax
// (running max / sum per query) is plain vertical vector math, and the only packing is one
// transpose of the task's query block (reused for every key block) instead of K^T per head.
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <immintrin.h>

#include "attention.h"
#include "parallel.h"
#include "simd.h"

namespace LK_ISA_NS {
namespace {

// Register blocking of the micro-kernel: kMR rows x kNV vectors of C live in registers.
#if defined(LK_ISA_AVX512)
constexpr int kMR = 6, kNV = 4;  // 24 accumulators + 4 B vectors + 1 broadcast of 32 zmm
#else
constexpr int kMR = 6, kNV = 2;  // 12 accumulators + 2 B vectors + 1 broadcast of 16 ymm
#endif

constexpr int64_t kQB = 64;  // queries per block: the columns (lanes) of the score tile
constexpr int64_t kKB = 64;  // keys per block: the rows of the score tile

// exp for the softmax. Arguments are <= 0 in practice (logit minus running max); the clamp keeps
// 2^n a normal float and lets a NaN through (max/min return their second operand on NaN).
#if defined(LK_ISA_AVX512) || defined(LK_ISA_AVX2)
inline vf vexp(vf x) {
  x = vmax(vset1(-87.33654f), x);
  x = vmin(vset1(88.37626f), x);
  // x = n ln2 + r with |r| <= ln2/2; ln2 split in two so n*ln2_hi is exact (Cephes expf).
#if defined(LK_ISA_AVX512)
  vf n = _mm512_roundscale_ps(vmul(x, vset1(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
  vf n = _mm256_round_ps(vmul(x, vset1(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#endif
  vf r = vfma(n, vset1(-0.693359375f), x);
  r = vfma(n, vset1(2.12194440e-4f), r);
  vf p = vset1(1.9875691500e-4f);
  p = vfma(p, r, vset1(1.3981999507e-3f));
  p = vfma(p, r, vset1(8.3334519073e-3f));
  p = vfma(p, r, vset1(4.1665795894e-2f));
  p = vfma(p, r, vset1(1.6666665459e-1f));
  p = vfma(p, r, vset1(5.0000001201e-1f));
  p = vfma(vmul(p, r), r, vadd(r, vset1(1.f)));
#if defined(LK_ISA_AVX512)
  return _mm512_scalef_ps(p, n);
#else
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return vmul(p, _mm256_castsi256_ps(e));
#endif
}
#else
inline vf vexp(vf x) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = std::exp(x.v[i]);
  return r;
}
#endif

// C[MR x cols] = alpha * (A B) (+ C when accumulate), with A[i][p] = A[i*a_rs + p*a_cs] and row p
// of B at B + p*ldb. cols = (NV-1)*kVL + last; only the last vector may be partial (Masked).
template <int MR, int NV, bool Masked>
void micro(int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb, float* C, int64_t ldc,
           int last, float alpha, bool accumulate) {
  vf acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = vzero();
  for (int64_t p = 0; p < K; ++p) {
    const float* b = B + p * ldb;
    const float* a = A + p * a_cs;
    vf bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = (Masked && v == NV - 1) ? vload_n(b + v * kVL, last) : vload(b + v * kVL);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      vf av = vset1(a[r * a_rs]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = vfma(av, bv[v], acc[r][v]);
    }
  }
  const vf al = vset1(alpha);
  const bool scaled = alpha != 1.f;
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      vf x = scaled ? vmul(acc[r][v], al) : acc[r][v];
      if (Masked && v == NV - 1) {
        if (accumulate) x = vadd(x, vload_n(c + v * kVL, last));
        vstore_n(c + v * kVL, x, last);
      } else {
        if (accumulate) x = vadd(x, vload(c + v * kVL));
        vstore(c + v * kVL, x);
      }
    }
  }
}

using MicroFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, int, float,
                         bool);

template <int MR, int NV>
MicroFn pick_masked(bool masked) {
  return masked ? &micro<MR, NV, true> : &micro<MR, NV, false>;
}

template <int MR>
MicroFn pick_nv(int nv, bool masked) {
  if constexpr (kNV >= 4) {
    if (nv == 4) return pick_masked<MR, 4>(masked);
    if (nv == 3) return pick_masked<MR, 3>(masked);
  }
  if (nv == 2) return pick_masked<MR, 2>(masked);
  return pick_masked<MR, 1>(masked);
}

MicroFn pick(int mr, int nv, bool masked) {
  static_assert(kMR == 6, "pick() enumerates row counts 1..6");
  switch (mr) {
    case 6:
      return pick_nv<6>(nv, masked);
    case 5:
      return pick_nv<5>(nv, masked);
    case 4:
      return pick_nv<4>(nv, masked);
    case 3:
      return pick_nv<3>(nv, masked);
    case 2:
      return pick_nv<2>(nv, masked);
    default:
      return pick_nv<1>(nv, masked);
  }
}

// C[M x N] = alpha * (A B) (+ C), A strided as in micro(). Tiling: N in panels of kNV vectors
// (that K x panel slice of B stays in L1), and within a panel M in groups of kMR rows.
void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb,
          float* C, int64_t ldc, float alpha, bool accumulate) {
  const int64_t panel = kNV * kVL;
  for (int64_t n0 = 0; n0 < N; n0 += panel) {
    const int nn = static_cast<int>(imin(panel, N - n0));
    const int nv = (nn + kVL - 1) / kVL;
    const int last = nn - (nv - 1) * kVL;
    const bool masked = last != kVL;
    const MicroFn full = pick(kMR, nv, masked);
    for (int64_t m0 = 0; m0 < M; m0 += kMR) {
      const int mr = static_cast<int>(imin(kMR, M - m0));
      const MicroFn f = mr == kMR ? full : pick(mr, nv, masked);
      f(K, A + m0 * a_rs, a_rs, a_cs, B + n0, ldb, C + m0 * ldc + n0, ldc, last, alpha, accumulate);
    }
  }
}

// dst[c*ldd + i] = s * src[i*lds + c] for i < rows, c < cols: a block transposed, e.g. so that a
// block of query rows becomes SIMD lanes. 8x8 register transposes where the ISA has shuffles.
void transpose_scaled(const float* src, int64_t rows, int64_t cols, int64_t lds, float s, float* dst, int64_t ldd) {
  int64_t i0 = 0;
#if defined(LK_ISA_AVX512) || defined(LK_ISA_AVX2)
  const __m256 sv = _mm256_set1_ps(s);
  for (; i0 + 8 <= rows; i0 += 8) {
    int64_t c0 = 0;
    for (; c0 + 8 <= cols; c0 += 8) {
      const float* a = src + i0 * lds + c0;
      __m256 r[8], t[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(a + i * lds);
      for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
      }
      for (int h = 0; h < 8; h += 4) {
        r[h] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
      }
      float* o = dst + c0 * ldd + i0;
      for (int c = 0; c < 4; ++c) {
        _mm256_storeu_ps(o + c * ldd, _mm256_mul_ps(sv, _mm256_permute2f128_ps(r[c], r[c + 4], 0x20)));
        _mm256_storeu_ps(o + (c + 4) * ldd, _mm256_mul_ps(sv, _mm256_permute2f128_ps(r[c], r[c + 4], 0x31)));
      }
    }
    for (; c0 < cols; ++c0)
      for (int64_t i = i0; i < i0 + 8; ++i) dst[c0 * ldd + i] = s * src[i * lds + c0];
  }
#endif
  for (; i0 < rows; ++i0)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + i0] = s * src[i0 * lds + c];
}

void scale_row(float* x, int64_t n, float s) {
  const vf sv = vset1(s);
  int64_t c = 0;
  for (; c + kVL <= n; c += kVL) vstore(x + c, vmul(vload(x + c), sv));
  if (c < n) vstore_n(x + c, vmul(vload_n(x + c, static_cast<int>(n - c)), sv), static_cast<int>(n - c));
}

float dot(const float* a, const float* b, int64_t n) {
  vf acc = vzero();
  int64_t c = 0;
  for (; c + kVL <= n; c += kVL) acc = vfma(vload(a + c), vload(b + c), acc);
  if (c < n) acc = vfma(vload_n(a + c, static_cast<int>(n - c)), vload_n(b + c, static_cast<int>(n - c)), acc);
  return vsum(acc);
}

// S[j][i] = exp(S[j][i] - shift[i]) over an nk x mq tile (row stride kQB).
void exp_shifted(float* S, int64_t nk, int64_t mq, const float* shift) {
  for (int64_t c0 = 0; c0 < mq; c0 += kVL) {
    const int w = static_cast<int>(imin(kVL, mq - c0));
    const vf sh = vload_n(shift + c0, w);
    for (int64_t j = 0; j < nk; ++j) {
      float* s = S + j * kQB + c0;
      vstore_n(s, vexp(vsub(vload_n(s, w), sh)), w);
    }
  }
}

struct Dims {
  int64_t Tq, Tk, d, dv;
  float scale;
};

// One block of mq <= kQB queries of one head: out rows and their log-sum-exp, optionally the
// normalised probabilities. Scratch: QsT [d x kQB], S [kKB x kQB], m, l, alpha [kQB] each.
void forward_block(const Dims& D, const float* q, const float* k, const float* v, float* out, float* lse, float* probs,
                   int64_t mq, float* QsT, float* S, float* m, float* l, float* alpha) {
  transpose_scaled(q, mq, D.d, D.d, D.scale, QsT, kQB);
  for (int64_t i = 0; i < mq; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
  }
  for (int64_t j0 = 0; j0 < D.Tk; j0 += kKB) {
    const int64_t nk = imin(kKB, D.Tk - j0);
    const float* kb = k + j0 * D.d;
    // S^T = K_blk (scale Q)^T: keys down, queries across.
    gemm(nk, mq, D.d, kb, D.d, 1, QsT, kQB, S, kQB, 1.f, false);
    // Online softmax: new running max, rescale factor for what was summed so far, P = exp(S - max).
    for (int64_t c0 = 0; c0 < mq; c0 += kVL) {
      const int w = static_cast<int>(imin(kVL, mq - c0));
      const vf m_old = vload_n(m + c0, w);
      vf m_new = m_old;
      for (int64_t j = 0; j < nk; ++j) m_new = vmax(m_new, vload_n(S + j * kQB + c0, w));
      vf sum = vzero();
      for (int64_t j = 0; j < nk; ++j) {
        float* s = S + j * kQB + c0;
        const vf p = vexp(vsub(vload_n(s, w), m_new));
        vstore_n(s, p, w);
        sum = vadd(sum, p);
      }
      const vf a = vexp(vsub(m_old, m_new));
      vstore_n(alpha + c0, a, w);
      vstore_n(l + c0, vfma(vload_n(l + c0, w), a, sum), w);
      vstore_n(m + c0, m_new, w);
    }
    if (j0 > 0)
      for (int64_t i = 0; i < mq; ++i)
        if (alpha[i] != 1.f) scale_row(out + i * D.dv, D.dv, alpha[i]);
    // out += P V_blk, P read transposed from the S^T tile.
    gemm(mq, D.dv, nk, S, 1, kQB, v + j0 * D.dv, D.dv, out, D.dv, 1.f, j0 > 0);
  }
  for (int64_t i = 0; i < mq; ++i) {
    scale_row(out + i * D.dv, D.dv, 1.f / l[i]);
    lse[i] = m[i] + std::log(l[i]);
  }
  if (!probs) return;
  // Attention maps: recompute each score tile and normalise it with the final log-sum-exp.
  for (int64_t j0 = 0; j0 < D.Tk; j0 += kKB) {
    const int64_t nk = imin(kKB, D.Tk - j0);
    gemm(nk, mq, D.d, k + j0 * D.d, D.d, 1, QsT, kQB, S, kQB, 1.f, false);
    exp_shifted(S, nk, mq, lse);
    transpose_scaled(S, nk, mq, kQB, 1.f, probs + j0, D.Tk);
  }
}

struct BackwardScratch {
  float *QsT, *dOT, *P, *dS, *lse, *delta;
};

// Gradient contributions of one block of mq queries of one head. dq (this block's rows) is
// overwritten; dk/dv (all Tk rows of the head) are overwritten when first_block, else added to.
void backward_block(const Dims& D, const float* q, const float* k, const float* v, const float* out, const float* lse,
                    const float* dout, float* dq, float* dk, float* dv, int64_t mq, bool first_block,
                    const BackwardScratch& w) {
  const bool need_dS = dq || dk;
  transpose_scaled(q, mq, D.d, D.d, D.scale, w.QsT, kQB);
  std::memcpy(w.lse, lse, sizeof(float) * mq);
  if (need_dS) {
    transpose_scaled(dout, mq, D.dv, D.dv, 1.f, w.dOT, kQB);
    // delta_i = sum_j P_ij dP_ij = dO_i . O_i (the softmax backward's row term).
    for (int64_t i = 0; i < mq; ++i) w.delta[i] = dot(dout + i * D.dv, out + i * D.dv, D.dv);
  }
  for (int64_t j0 = 0; j0 < D.Tk; j0 += kKB) {
    const int64_t nk = imin(kKB, D.Tk - j0);
    const float* kb = k + j0 * D.d;
    const float* vb = v + j0 * D.dv;
    // P^T = exp(K_blk (scale Q)^T - lse), recomputed from the saved log-sum-exp.
    gemm(nk, mq, D.d, kb, D.d, 1, w.QsT, kQB, w.P, kQB, 1.f, false);
    exp_shifted(w.P, nk, mq, w.lse);
    // dV_blk += P^T dO.
    if (dv) gemm(nk, D.dv, mq, w.P, kQB, 1, dout, D.dv, dv + j0 * D.dv, D.dv, 1.f, !first_block);
    if (!need_dS) continue;
    // dP^T = V_blk dO^T, then dS^T = P^T * (dP^T - delta).
    gemm(nk, mq, D.dv, vb, D.dv, 1, w.dOT, kQB, w.dS, kQB, 1.f, false);
    for (int64_t c0 = 0; c0 < mq; c0 += kVL) {
      const int wd = static_cast<int>(imin(kVL, mq - c0));
      const vf delta = vload_n(w.delta + c0, wd);
      for (int64_t j = 0; j < nk; ++j) {
        float* ds = w.dS + j * kQB + c0;
        vstore_n(ds, vmul(vload_n(w.P + j * kQB + c0, wd), vsub(vload_n(ds, wd), delta)), wd);
      }
    }
    // dK_blk += scale dS^T Q;  dQ += scale dS K_blk.
    if (dk) gemm(nk, D.d, mq, w.dS, kQB, 1, q, D.d, dk + j0 * D.d, D.d, D.scale, !first_block);
    if (dq) gemm(mq, D.d, nk, w.dS, 1, kQB, kb, D.d, dq, D.d, D.scale, j0 > 0);
  }
}

}  // namespace

void attention_forward(int64_t BH, int64_t Tq, int64_t Tk, int64_t d, int64_t dv, float scale, const float* q,
                       const float* k, const float* v, float* out, float* lse, float* probs) {
  const Dims D{Tq, Tk, d, dv, scale};
  const int64_t nqb = (Tq + kQB - 1) / kQB;
  lk::parallel_for(BH * nqb, 1, [&](int64_t begin, int64_t end) {
    lk::Scratch buf(d * kQB + kKB * kQB + 3 * kQB);
    float* QsT = buf.data();
    float* S = QsT + d * kQB;
    float* m = S + kKB * kQB;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t bh = t / nqb, i0 = (t % nqb) * kQB;
      const int64_t row = bh * Tq + i0;
      forward_block(D, q + row * d, k + bh * Tk * d, v + bh * Tk * dv, out + row * dv, lse + row,
                    probs ? probs + row * Tk : nullptr, imin(kQB, Tq - i0), QsT, S, m, m + kQB, m + 2 * kQB);
    }
  });
}

void attention_backward(int64_t BH, int64_t Tq, int64_t Tk, int64_t d, int64_t dv, float scale, const float* q,
                        const float* k, const float* v, const float* out, const float* lse, const float* grad_out,
                        float* grad_q, float* grad_k, float* grad_v) {
  if (Tq == 0) {  // no query: every key and value gets a zero gradient
    if (grad_k) std::memset(grad_k, 0, sizeof(float) * BH * Tk * d);
    if (grad_v) std::memset(grad_v, 0, sizeof(float) * BH * Tk * dv);
    return;
  }
  const Dims D{Tq, Tk, d, dv, scale};
  const int64_t nqb = (Tq + kQB - 1) / kQB;
  // dK/dV sum over all query blocks of a head. One task per head unless that leaves threads idle
  // or unbalanced; then each head's query blocks are split in G groups that write partial dK/dV
  // slabs, summed afterwards (deterministic, no atomics).
  const int64_t threads = lk::num_threads();
  int64_t G = 1;
  if (!grad_k && !grad_v)
    G = nqb;
  else if (BH % threads != 0 && BH < 4 * threads)
    G = imin(nqb, (4 * threads + BH - 1) / BH);
  const int64_t slab = Tk * (d + dv);
  lk::Scratch partial(G > 1 ? BH * G * slab : 1);

  lk::parallel_for(BH * G, 1, [&](int64_t begin, int64_t end) {
    lk::Scratch buf((d + dv) * kQB + 2 * kKB * kQB + 2 * kQB);
    BackwardScratch w;
    w.QsT = buf.data();
    w.dOT = w.QsT + d * kQB;
    w.P = w.dOT + dv * kQB;
    w.dS = w.P + kKB * kQB;
    w.lse = w.dS + kKB * kQB;
    w.delta = w.lse + kQB;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t bh = t / G, g = t % G;
      float* dk = grad_k ? (G > 1 ? partial.data() + t * slab : grad_k + bh * Tk * d) : nullptr;
      float* dvv = grad_v ? (G > 1 ? partial.data() + t * slab + Tk * d : grad_v + bh * Tk * dv) : nullptr;
      const int64_t qb_begin = nqb * g / G, qb_end = nqb * (g + 1) / G;
      for (int64_t qb = qb_begin; qb < qb_end; ++qb) {
        const int64_t row = bh * Tq + qb * kQB;
        backward_block(D, q + row * d, k + bh * Tk * d, v + bh * Tk * dv, out + row * dv, lse + row,
                       grad_out + row * dv, grad_q ? grad_q + row * d : nullptr, dk, dvv, imin(kQB, Tq - qb * kQB),
                       qb == qb_begin, w);
      }
    }
  });
  if (G == 1 || (!grad_k && !grad_v)) return;
  // Sum the G partial slabs of each head into dK and dV.
  lk::parallel_for(BH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const float* p0 = partial.data() + bh * G * slab;
      for (int64_t x = 0; x < slab; ++x) {
        float s = 0.f;
        for (int64_t g = 0; g < G; ++g) s += p0[g * slab + x];
        if (x < Tk * d) {
          if (grad_k) grad_k[bh * Tk * d + x] = s;
        } else if (grad_v) {
          grad_v[bh * Tk * dv + x - Tk * d] = s;
        }
      }
    }
  });
}

}  // namespace LK_ISA_NS
