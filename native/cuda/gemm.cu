// Tiled SGEMM: a block computes a 64x64 tile of C from 16-deep slices of op(A) and op(B) staged in
// shared memory; each of its 256 threads keeps a 4x4 sub-tile in registers (16 FMAs per 8 loads).
// The version the tests check under the emulation; on a GPU, sgemm() runs cuBLAS instead when the
// library is found at run time (cublas.h), unless LKVIT_CUBLAS=0.
#include "gemm.h"

#include "cublas.h"

#include <string>

#include "lk_cuda.h"

namespace lk_cuda {
namespace {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kSub = 4;
constexpr int kThreads = (kTileM / kSub) * (kTileN / kSub);

__global__ void __launch_bounds__(kThreads)
    sgemm_tiled_kernel(int M, int N, int K, float alpha, const float* __restrict__ A, long long lda, int transA,
                       const float* __restrict__ B, long long ldb, int transB, float beta, float* __restrict__ C,
                       long long ldc) {
  LK_SHARED(float[kTileK][kTileM], a_tile);
  LK_SHARED(float[kTileK][kTileN], b_tile);
  const int tx = threadIdx.x % (kTileN / kSub), ty = threadIdx.x / (kTileN / kSub);
  const int row0 = blockIdx.y * kTileM, col0 = blockIdx.x * kTileN;
  float acc[kSub][kSub];
#pragma unroll
  for (int i = 0; i < kSub; ++i)
#pragma unroll
    for (int j = 0; j < kSub; ++j) acc[i][j] = 0.f;

  for (int k0 = 0; k0 < K; k0 += kTileK) {
    for (int e = threadIdx.x; e < kTileK * kTileM; e += kThreads) {
      // Non-transposed A: consecutive threads read along k (contiguous); transposed: along m.
      const int kk = transA ? e / kTileM : e % kTileK, m = transA ? e % kTileM : e / kTileK;
      const int gm = row0 + m, gk = k0 + kk;
      float v = 0.f;
      if (gm < M && gk < K) v = transA ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
      a_tile[kk][m] = v;
    }
    for (int e = threadIdx.x; e < kTileK * kTileN; e += kThreads) {
      const int kk = transB ? e % kTileK : e / kTileN, n = transB ? e / kTileK : e % kTileN;
      const int gn = col0 + n, gk = k0 + kk;
      float v = 0.f;
      if (gn < N && gk < K) v = transB ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn];
      b_tile[kk][n] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[kSub], b[kSub];
#pragma unroll
      for (int i = 0; i < kSub; ++i) a[i] = a_tile[kk][ty * kSub + i];
#pragma unroll
      for (int j = 0; j < kSub; ++j) b[j] = b_tile[kk][tx * kSub + j];
#pragma unroll
      for (int i = 0; i < kSub; ++i)
#pragma unroll
        for (int j = 0; j < kSub; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kSub; ++i) {
    const int gm = row0 + ty * kSub + i;
    if (gm >= M) continue;
#pragma unroll
    for (int j = 0; j < kSub; ++j) {
      const int gn = col0 + tx * kSub + j;
      if (gn >= N) continue;
      float* c = C + (long long)gm * ldc + gn;
      *c = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
    }
  }
}

}  // namespace

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (cublas_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  const int64_t grid_y = (M + kTileM - 1) / kTileM;
  if (grid_y > 65535 || N > (int64_t(1) << 30) || K > (int64_t(1) << 30))
    throw Error("sgemm: M = " + std::to_string(M) + " (at most 65535 * 64 rows), N or K beyond 2^30");
  launch("sgemm_tiled_kernel", sgemm_tiled_kernel, dim3(unsigned((N + kTileN - 1) / kTileN), unsigned(grid_y)),
         dim3(kThreads), 0, int(M), int(N), int(K), alpha, A, (long long)lda, int(transA), B, (long long)ldb,
         int(transB), beta, C, (long long)ldc);
}

}  // namespace lk_cuda
