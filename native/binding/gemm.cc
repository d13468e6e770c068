// N-API binding for the GEMM kernels, plus lk::sgemm (the dispatching entry point other native
// code calls; it lives here because this file is compiled once, not per ISA).
// Every array length is checked against the dimensions before a pointer reaches a kernel.
#include "../cpu/gemm.h"
#include "gemm_shape.h"
#include "napi_util.h"

namespace lk {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  LK_DISPATCH(sgemm, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, true);
}

void sgemm_st(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  LK_DISPATCH(sgemm, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false);
}

void sgemm_batched(bool transA, bool transB, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB,
                   float beta, float* C, int64_t ldc, int64_t strideC) {
  LK_DISPATCH(sgemm_batched, transA, transB, batch, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc,
              strideC);
}

}  // namespace lk

namespace {

using lkb::kMaxDim;

using lkb::matrix_extent;  // native/binding/gemm_shape.h

// The array must hold `batch` matrices `stride` floats apart.
void check_span(Napi::Env env, const char* name, const lkb::F32& a, int64_t batch, int64_t stride, int64_t extent) {
  const int64_t need =
      extent == 0 || batch == 0 ? 0 : lkb::add_sizes(env, name, lkb::numel(env, name, {batch - 1, stride}), extent);
  if (static_cast<int64_t>(a.length) < need)
    lkb::throw_range(env, std::string(name) + " must hold at least " + std::to_string(need) + " floats, got " +
                              std::to_string(a.length));
}

struct GemmArgs {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  lkb::F32 A, B, C;
  int64_t lda, ldb, ldc;
  int64_t eA, eB, eC;  // matrix extents
};

// Shared by gemm and gemmBatched: (transA, transB, [batch,] M, N, K, alpha, A, lda, [strideA,] ...).
GemmArgs read_gemm(const Napi::CallbackInfo& info, bool batched, int64_t* batch, int64_t* sA, int64_t* sB,
                   int64_t* sC) {
  Napi::Env env = info.Env();
  GemmArgs g;
  size_t i = 0;
  g.ta = lkb::boolean(info, i++, "transA");
  g.tb = lkb::boolean(info, i++, "transB");
  if (batched) *batch = lkb::i64(info, i++, "batch", 0, kMaxDim);
  g.M = lkb::i64(info, i++, "M", 0, kMaxDim);
  g.N = lkb::i64(info, i++, "N", 0, kMaxDim);
  g.K = lkb::i64(info, i++, "K", 0, kMaxDim);
  g.alpha = static_cast<float>(lkb::f64(info, i++, "alpha"));
  g.A = lkb::f32(info, i++, "A");
  g.lda = lkb::i64(info, i++, "lda", 1, kMaxDim);
  if (batched) *sA = lkb::i64(info, i++, "strideA", 0);
  g.B = lkb::f32(info, i++, "B");
  g.ldb = lkb::i64(info, i++, "ldb", 1, kMaxDim);
  if (batched) *sB = lkb::i64(info, i++, "strideB", 0);
  g.beta = static_cast<float>(lkb::f64(info, i++, "beta"));
  g.C = lkb::f32(info, i++, "C");
  g.ldc = lkb::i64(info, i++, "ldc", 1, kMaxDim);
  if (batched) *sC = lkb::i64(info, i++, "strideC", 0);
  g.eA = g.ta ? matrix_extent(env, "A", g.K, g.M, g.lda) : matrix_extent(env, "A", g.M, g.K, g.lda);
  g.eB = g.tb ? matrix_extent(env, "B", g.N, g.K, g.ldb) : matrix_extent(env, "B", g.K, g.N, g.ldb);
  g.eC = matrix_extent(env, "C", g.M, g.N, g.ldc);
  return g;
}

// gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): C = alpha op(A) op(B) + beta C.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  GemmArgs g = read_gemm(info, false, nullptr, nullptr, nullptr, nullptr);
  Napi::Env env = info.Env();
  check_span(env, "A", g.A, 1, 0, g.eA);
  check_span(env, "B", g.B, 1, 0, g.eB);
  check_span(env, "C", g.C, 1, 0, g.eC);
  if (g.eC == 0) return env.Undefined();  // M or N is 0: nothing to write
  lk::sgemm(g.ta, g.tb, g.M, g.N, g.K, g.alpha, g.A.data, g.lda, g.B.data, g.ldb, g.beta, g.C.data, g.ldc);
  return env.Undefined();
}

// gemmBatched(transA, transB, batch, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc,
// strideC): one product per batch entry; strideA / strideB may be 0 (shared operand), the C matrices
// must not overlap.
Napi::Value GemmBatched(const Napi::CallbackInfo& info) {
  int64_t batch, sA, sB, sC;
  GemmArgs g = read_gemm(info, true, &batch, &sA, &sB, &sC);
  Napi::Env env = info.Env();
  if (batch > 1 && g.eC > 0 && sC < g.eC)
    lkb::throw_range(env, "strideC must be >= " + std::to_string(g.eC) + " (the C matrices may not overlap), got " +
                              std::to_string(sC));
  check_span(env, "A", g.A, batch, sA, g.eA);
  check_span(env, "B", g.B, batch, sB, g.eB);
  check_span(env, "C", g.C, batch, sC, g.eC);
  if (g.eC == 0 || batch == 0) return env.Undefined();  // empty products: no loop over the batch
  lk::sgemm_batched(g.ta, g.tb, batch, g.M, g.N, g.K, g.alpha, g.A.data, g.lda, sA, g.B.data, g.ldb, sB, g.beta,
                    g.C.data, g.ldc, sC);
  return env.Undefined();
}

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) {
  lkb::def(env, exports, "gemm", Gemm);
  lkb::def(env, exports, "gemmBatched", GemmBatched);
}
