// Blocked SGEMM, BLIS-style, compiled once per ISA (binding.gyp isa_sources).
//
// Tiling: op(A) is packed once per block of MB rows into MR-row micro-panels (k-major, so the
// micro-kernel broadcasts MR consecutive floats per k), or arrives pre-packed (conv weights), or,
// when N is one block (small N), panel by panel into L1 right where it is used; op(B) is packed
// per task into KC x NC blocks of NR-column micro-panels (k-major, NR contiguous floats per k),
// or written in that layout by a caller's packer (conv's fused im2col). The micro-kernel keeps an
// MR x NR tile of C in registers (AVX-512: 14 x 32 = 28 zmm accumulators) and adds an optional
// per-row bias as it stores. Loop order inside a task: pc (KC) -> pack B (L2-resident) -> ir (MR)
// -> jr (NR): the A micro-panel stays in L1 across jr (small N with all of op(B) in L2: pack B
// once, then ir -> pc -> jr). Parallelism: tasks are (N block, M slice) pairs, each writing a
// disjoint part of C.
#include "gemm.h"

#include "parallel.h"
#include "simd.h"

namespace LK_ISA_NS {
namespace {

#if defined(LK_ISA_AVX512)
constexpr int kMR = 14;       // rows of the register tile
constexpr int64_t kKC = 384;  // depth of one packed block: A micro-panel 14*384*4 = 21 KB (L1)
#elif defined(LK_ISA_AVX2)
constexpr int kMR = 6;
constexpr int64_t kKC = 256;
#else
constexpr int kMR = 4;
constexpr int64_t kKC = 256;
#endif
constexpr int kNV = 2;                              // vectors per row of the register tile
constexpr int kNR = kNV * kVL;                      // columns of the register tile
constexpr int64_t kNC = 384;                        // columns of a packed B block (KC x NC floats, L2)
constexpr int64_t kAPackBudget = int64_t(1) << 23;  // floats of packed A held at once (32 MB)
constexpr int64_t kResidentBFloats = 3 << 17;       // all of packed op(B) kept for a task (1.5 MB, L2)

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Reference semantics of one tile: C[r][j] = alpha * sum_k a[k][r] * b[k][j] + beta * C[r][j]
// (+ bias[r] when bias is not null) for r < R, j < n, with a/b the packed micro-panels. R rows
// and NV vectors are compile-time so the accumulators live in registers; n (valid columns) masks
// the last vector.
template <int R, int NV>
void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc, int n,
                  float alpha, float beta, const float* bias) {
  vf acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = vzero();
  for (int64_t k = 0; k < kc; ++k) {
    vf bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = vload(b + v * kVL);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const vf av = vset1(a[r]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = vfma(av, bv[v], acc[r][v]);
    }
    a += kMR;
    b += kNR;
  }
  const vf va = vset1(alpha), vb = vset1(beta);
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    for (int v = 0; v < NV; ++v) {
      const int cols = n - v * kVL;
      if (cols <= 0) break;
      vf res = vmul(acc[r][v], va);
      if (bias) res = vadd(res, vset1(bias[r]));
      float* p = cr + v * kVL;
      if (cols >= kVL) {
        if (beta != 0.f) res = vfma(vb, vload(p), res);
        vstore(p, res);
      } else {
        if (beta != 0.f) res = vfma(vb, vload_n(p, cols), res);
        vstore_n(p, res, cols);
      }
    }
  }
}

// Picks the instantiation for an edge tile of `rows` x `cols` (rows <= MR, cols <= NR).
template <int R>
void tile(int rows, int cols, int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
          float beta, const float* bias) {
  if constexpr (R > 1) {
    if (rows < R) return tile<R - 1>(rows, cols, kc, a, b, c, ldc, alpha, beta, bias);
  }
  if (cols > kVL)
    micro_kernel<R, 2>(kc, a, b, c, ldc, cols, alpha, beta, bias);
  else
    micro_kernel<R, 1>(kc, a, b, c, ldc, cols, alpha, beta, bias);
}

static_assert(kMR <= kVL, "pack_a_panel holds one k of a micro-panel (MR floats) in one vector");

// One MR-row micro-panel of op(A)[i0 : i0+rows, p0 : p0+kc] -> dst[k * MR + r], zero-padded rows.
// Plain A: kVL columns of the MR rows at a time, transposed in registers (kVL loads, vtranspose,
// kVL stores of MR lanes): in a GEMM with N = 49 packing fell from 43% to 20% of the samples
// against the scalar strided copy. Transposed A: the MR floats of one k are contiguous already.
// Plain A: the same K range of the next panel (next_rows rows, 0 if none) is prefetched meanwhile
// (weights arrive cold from memory; about 10% on a cold 2048 x 512 weight at N = 196, one thread,
// in a noisy test). Prefetching
// the next piece of each of the kc rows of a transposed A made it slower.
void pack_a_panel(bool transA, const float* A, int64_t lda, int64_t i0, int rows, int64_t p0, int64_t kc, float* dst,
                  int next_rows) {
  if (transA) {
    for (int64_t k = 0; k < kc; ++k) vstore_n(dst + k * kMR, vload_n(A + (p0 + k) * lda + i0, rows), kMR);
    return;
  }
  const float* s = A + i0 * lda + p0;
  for (int64_t k = 0; k < kc; k += kVL) {
    const int n = static_cast<int>(imin(kVL, kc - k));
    for (int r = 0; r < next_rows; ++r) __builtin_prefetch(s + (kMR + r) * lda + k);
    vf v[kVL];
    for (int r = 0; r < kVL; ++r)
      v[r] = r >= rows ? vzero() : n == kVL ? vload(s + r * lda + k) : vload_n(s + r * lda + k, n);
    vtranspose(v);
    for (int j = 0; j < n; ++j) vstore_n(dst + (k + j) * kMR, v[j], kMR);
  }
}

#if defined(LK_ISA_AVX512)
// dst[i * ldd + j] = src[j * lds + i] for a 16 x 16 block, in registers: 16 loads, the shuffles
// of vtranspose (simd.h), 16 stores instead of 256 scalar moves.
void transpose16x16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  vf r[16];
  for (int i = 0; i < 16; ++i) r[i] = vload(src + i * lds);
  vtranspose(r);
  for (int i = 0; i < 16; ++i) vstore(dst + i * ldd, r[i]);
}
#endif

// op(B)[p0 : p0+kc, j0 : j0+nc] -> NR-column micro-panels, panel jp at dst + jp * kc, zero-padded.
void pack_b_block(bool transB, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                  float* dst) {
  for (int64_t jp = 0; jp < nc; jp += kNR) {
    const int cols = static_cast<int>(imin(kNR, nc - jp));
    float* d = dst + jp * kc;
    if (!transB) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = B + (p0 + k) * ldb + j0 + jp;
        float* dk = d + k * kNR;
        if (cols == kNR) {
          for (int v = 0; v < kNV; ++v) vstore(dk + v * kVL, vload(s + v * kVL));
        } else {
          for (int j = 0; j < cols; ++j) dk[j] = s[j];
          for (int j = cols; j < kNR; ++j) dk[j] = 0.f;
        }
      }
    } else {
      // Row j of B holds column j of op(B): read rows contiguously, write with stride NR (in L1).
      int64_t k_done = 0;
#if defined(LK_ISA_AVX512)
      if (cols == kNR) {
        for (; k_done + 16 <= kc; k_done += 16)
          for (int h = 0; h < kNR; h += 16)
            transpose16x16(B + (j0 + jp + h) * ldb + p0 + k_done, ldb, d + k_done * kNR + h, kNR);
      }
#endif
      for (int j = 0; j < cols; ++j) {
        const float* s = B + (j0 + jp + j) * ldb + p0;
        for (int64_t k = k_done; k < kc; ++k) d[k * kNR + j] = s[k];
      }
      for (int j = cols; j < kNR; ++j)
        for (int64_t k = 0; k < kc; ++k) d[k * kNR + j] = 0.f;
    }
  }
}

// C = beta * C + row_bias[i] (the K == 0 or alpha == 0 case); beta == 0 does not read C.
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc, const float* row_bias) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    const float add = row_bias ? row_bias[i] : 0.f;
    if (beta == 0.f)
      for (int64_t j = 0; j < N; ++j) c[j] = add;
    else
      for (int64_t j = 0; j < N; ++j) c[j] = beta * c[j] + add;
  }
}

template <class F>
void run_range(bool threaded, int64_t n, int64_t grain, const F& f) {
  if (threaded)
    lk::parallel_for(n, grain, f);
  else
    f(0, n);
}

// Blocking shared by the packer and the driver: K in equal blocks of at most KC; packed A in
// blocks of mb_max rows (block i0 at offset i0 * K, its K block p0 at + mbpad * p0, panel q at
// + q * MR * kc).
struct Blocking {
  int64_t kc_max, mb_max;
};

Blocking blocking(int64_t M, int64_t K) {
  const int64_t nk = ceil_div(K, kKC);
  return {ceil_div(K, nk), imin(round_up(M, kMR), imax(kMR, kAPackBudget / K / kMR * kMR))};
}

// Packs the row block [i0, i0 + mb) of op(A) (all of K) at dst.
void pack_a_block(bool transA, const float* A, int64_t lda, int64_t i0, int64_t mb, int64_t K, int64_t kc_max,
                  float* dst, bool threaded) {
  const int64_t mbpad = round_up(mb, kMR), npanels = mbpad / kMR, nk = ceil_div(K, kc_max);
  run_range(threaded, nk * npanels, 4, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t p0 = (t / npanels) * kc_max, q = t % npanels;
      const int64_t kc = imin(kc_max, K - p0);
      pack_a_panel(transA, A, lda, i0 + q * kMR, static_cast<int>(imin(kMR, mb - q * kMR)), p0, kc,
                   dst + mbpad * p0 + q * kMR * kc, static_cast<int>(imax(0, imin(kMR, mb - (q + 1) * kMR))));
    }
  });
}

}  // namespace

int64_t sgemm_packed_a_floats(int64_t M, int64_t K) { return imax(1, round_up(M, kMR) * K); }

void sgemm_pack_a(bool transA, int64_t M, int64_t K, const float* A, int64_t lda, float* dst, bool threaded) {
  if (M <= 0 || K <= 0) return;
  const Blocking bl = blocking(M, K);
  for (int64_t i0 = 0; i0 < M; i0 += bl.mb_max)
    pack_a_block(transA, A, lda, i0, imin(bl.mb_max, M - i0), K, bl.kc_max, dst + i0 * K, threaded);
}

void sgemm_ex(int64_t M, int64_t N, int64_t K, float alpha, const lk::GemmA& a, const lk::GemmB& b, float beta,
              float* C, int64_t ldc, bool threaded, const float* row_bias) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) return scale_c(M, N, beta, C, ldc, row_bias);
  // Below ~1 MFLOP the pool's hand-off costs more than it saves.
  int nthreads = threaded ? lk::num_threads() : 1;
  if (double(M) * double(N) * double(K) < 5e5) nthreads = 1;
  threaded = nthreads > 1;

  const Blocking bl = blocking(M, K);
  const int64_t kc_max = bl.kc_max, mb_max = bl.mb_max;
  // N in blocks of at most about NC, a multiple of the thread count when there are several, so the
  // N blocks alone balance the threads; the NR-column panels are dealt out evenly (N = 784 on 2
  // threads: blocks of 7, 6, 6, 6 panels, not 7, 7, 7, 4, which gave one thread 27% more work).
  const int64_t npanels_n = ceil_div(N, kNR);
  int64_t nnb = ceil_div(N, kNC);
  if (threaded && nnb > 1) nnb = imin(round_up(nnb, nthreads), npanels_n);
  const int64_t nc_max = ceil_div(npanels_n, nnb) * kNR;
  auto n_block = [&](int64_t jb, int64_t* j0, int64_t* nc) {
    *j0 = npanels_n * jb / nnb * kNR;
    *nc = imin(N, npanels_n * (jb + 1) / nnb * kNR) - *j0;
  };

  // One N block (small N: late layers at batch 1, weight gradients): each A panel meets op(B)
  // once, so it is packed right where it is used, into an L1 buffer. Packing all of op(A) up front
  // would write it to memory and read it back (for a 4096 x 1024 weight, 32 MB of traffic for
  // 0.4 GFLOP of work); with several N blocks the up-front copy is reused instead.
  const bool pack_a_in_place = !a.packed && nnb == 1;
  const int64_t mb_step = pack_a_in_place ? M : mb_max;
  lk::Scratch apack(a.packed || pack_a_in_place ? 1 : mb_max * K);
  for (int64_t i0 = 0; i0 < M; i0 += mb_step) {
    const int64_t mb = imin(mb_step, M - i0);
    const int64_t mbpad = round_up(mb, kMR);
    const int64_t npanels = mbpad / kMR;
    const float* ap = a.packed ? a.packed + i0 * K : apack.data();
    if (!a.packed && !pack_a_in_place) pack_a_block(a.trans, a.data, a.ld, i0, mb, K, kc_max, apack.data(), threaded);
    // Too few N blocks to share evenly: also split the rows (each slice packs its own B copy).
    const int64_t nms = (!threaded || nnb % nthreads == 0) ? 1 : imin(nthreads, npanels);
    // With plain A packed in place and all of op(B) small enough for L2 (N = 49: K up to 6144),
    // op(B) is packed once per task and each A panel then runs through all of K: its rows are read
    // as long sequential streams instead of one KC-long piece per visit. (A transposed A panel
    // reads a piece of every one of its K rows, which the next panel reads again: that reuse needs
    // KC-long visits, which keep those rows in L1.)
    const bool b_resident = pack_a_in_place && !a.trans && K * nc_max <= kResidentBFloats;
    run_range(threaded, nnb * nms, 1, [&](int64_t begin, int64_t end) {
      lk::Scratch bpack(b_resident ? K * nc_max : kc_max * nc_max);
      lk::Scratch apanel(pack_a_in_place ? kMR * kc_max : 1);
      float* bp = bpack.data();
      for (int64_t t = begin; t < end; ++t) {
        const int64_t jb = t % nnb, ms = t / nnb;
        int64_t j0, nc;
        n_block(jb, &j0, &nc);
        const int64_t q_begin = npanels * ms / nms, q_end = npanels * (ms + 1) / nms;
        auto pack_b = [&](int64_t p0, int64_t kc, float* dst) {
          if (b.pack)
            b.pack(b.ctx, p0, kc, j0, nc, kNR, dst);
          else
            pack_b_block(b.trans, b.data, b.ld, p0, kc, j0, nc, dst);
        };
        // K block [p0, p0 + kc) of A panel q times the packed B block bq, into C (beta and bias
        // on the first K block only).
        auto run_panel = [&](int64_t q, int64_t p0, int64_t kc, const float* bq) {
          const int rows = static_cast<int>(imin(kMR, mb - q * kMR));
          const float* aq = pack_a_in_place ? apanel.data() : ap + mbpad * p0 + q * kMR * kc;
          if (pack_a_in_place)
            pack_a_panel(a.trans, a.data, a.ld, i0 + q * kMR, rows, p0, kc, apanel.data(),
                         static_cast<int>(imax(0, imin(kMR, mb - (q + 1) * kMR))));
          const float beta_here = p0 == 0 ? beta : 1.f;
          const float* bias_here = p0 == 0 && row_bias ? row_bias + i0 + q * kMR : nullptr;
          float* c = C + (i0 + q * kMR) * ldc + j0;
          for (int64_t jp = 0; jp < nc; jp += kNR)
            tile<kMR>(rows, static_cast<int>(imin(kNR, nc - jp)), kc, aq, bq + jp * kc, c + jp, ldc, alpha, beta_here,
                      bias_here);
        };
        if (b_resident) {
          for (int64_t p0 = 0; p0 < K; p0 += kc_max) pack_b(p0, imin(kc_max, K - p0), bp + p0 * nc_max);
          for (int64_t q = q_begin; q < q_end; ++q)
            for (int64_t p0 = 0; p0 < K; p0 += kc_max) run_panel(q, p0, imin(kc_max, K - p0), bp + p0 * nc_max);
        } else {
          for (int64_t p0 = 0; p0 < K; p0 += kc_max) {
            const int64_t kc = imin(kc_max, K - p0);
            pack_b(p0, kc, bp);
            for (int64_t q = q_begin; q < q_end; ++q) run_panel(q, p0, kc, bp);
          }
        }
      }
    });
  }
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, bool threaded) {
  sgemm_ex(M, N, K, alpha, lk::GemmA{transA, A, lda, nullptr}, lk::GemmB{transB, B, ldb, nullptr, nullptr}, beta, C,
           ldc, threaded, nullptr);
}

void sgemm_batched(bool transA, bool transB, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB,
                   float beta, float* C, int64_t ldc, int64_t strideC) {
  if (batch <= 0) return;
  const int nthreads = lk::num_threads();
  // Many or small products: one product per thread at a time; else each product uses all threads.
  const bool outer = batch >= 2 * nthreads || (batch >= 2 && double(M) * double(N) * double(K) < 4e6);
  auto one = [&](int64_t b, bool threaded) {
    sgemm(transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb, beta, C + b * strideC, ldc,
          threaded);
  };
  if (outer) {
    lk::parallel_for(batch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) one(b, false);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b) one(b, true);
  }
}

}  // namespace LK_ISA_NS
