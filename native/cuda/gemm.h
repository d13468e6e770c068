// Single-precision GEMM on the device: C = alpha * op(A) * op(B) + beta * C, row-major with leading
// dimensions, op(X) = X or X^T; the same conventions as native/cpu/gemm.h (beta == 0 never reads C).
#pragma once
#include <cstdint>

namespace lk_cuda {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace lk_cuda
