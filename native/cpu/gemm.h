// Single-precision GEMM: C = alpha * op(A) * op(B) + beta * C on row-major matrices with leading
// dimensions, op(X) = X or X^T. Hand-written Goto/BLIS-style blocking (native/cpu/gemm.cc).
// beta == 0 never reads C (so C may hold garbage or NaN on entry).
#pragma once
#include <cstdint>

#include "isa.h"

namespace lk {

// Custom producer of op(B) panels (e.g. im2col written straight into the packed layout): fills
// dst with op(B)[p0 : p0+kc, j0 : j0+nc] as ceil(nc / nr) micro-panels of kc x nr floats
// (panel i at dst + i * kc * nr, element (k, j) at k * nr + j), zero beyond column nc.
using GemmPackB = void (*)(const void* ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst);

// Operands of sgemm_ex. A: a plain matrix, or `packed` from sgemm_pack_a (reused across calls).
struct GemmA {
  bool trans;
  const float* data;
  int64_t ld;
  const float* packed;
};
// B: a plain matrix, or a custom packer `pack` with its context.
struct GemmB {
  bool trans;
  const float* data;
  int64_t ld;
  GemmPackB pack;
  const void* ctx;
};

}  // namespace lk

// The per-ISA copies. `threaded` = false runs on the calling thread only (for callers that
// parallelise themselves, e.g. one image per thread).
LK_ISA_DECLARE(void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, bool threaded))
// General form: op(A) plain or pre-packed, op(B) plain or produced by a packer; row_bias (null, or
// M floats) is added to row i of C in the same pass: C = alpha op(A) op(B) + beta C + row_bias[i].
LK_ISA_DECLARE(void sgemm_ex(int64_t M, int64_t N, int64_t K, float alpha, const lk::GemmA& a, const lk::GemmB& b,
                             float beta, float* C, int64_t ldc, bool threaded, const float* row_bias))
// Packs op(A) [M, K] once for sgemm_ex (GemmA::packed); the buffer holds sgemm_packed_a_floats(M, K).
LK_ISA_DECLARE(int64_t sgemm_packed_a_floats(int64_t M, int64_t K))
LK_ISA_DECLARE(void sgemm_pack_a(bool transA, int64_t M, int64_t K, const float* A, int64_t lda, float* dst,
                                 bool threaded))
// `batch` independent products; matrix b of X starts at X + b * strideX (a stride of 0 shares it).
LK_ISA_DECLARE(void sgemm_batched(bool transA, bool transB, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                                  const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb,
                                  int64_t strideB, float beta, float* C, int64_t ldc, int64_t strideC))

namespace lk {

// Entry points for other native code: dispatch to the active ISA (defined in binding/gemm.cc).
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// Same, on the calling thread only.
void sgemm_st(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void sgemm_batched(bool transA, bool transB, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB,
                   float beta, float* C, int64_t ldc, int64_t strideC);

}  // namespace lk
