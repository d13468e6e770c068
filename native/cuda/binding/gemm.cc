// GEMM on the device: the CPU addon's gemm and gemmBatched (native/binding/gemm.cc), same
// arguments and checks; C = alpha op(A) op(B) + beta C, row-major with leading dimensions.
#include "../gemm.h"
#include "../../binding/gemm_shape.h"
#include "args.h"

namespace lkc {
namespace {

constexpr int64_t kMaxDim = lkb::kMaxDim;

using lkb::matrix_extent;  // native/binding/gemm_shape.h

int64_t span(Napi::Env env, const char* name, int64_t batch, int64_t stride, int64_t extent) {
  return extent == 0 || batch == 0 ? 0 : lkb::add_sizes(env, name, lkb::numel(env, name, {batch - 1, stride}), extent);
}

// gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) and
// gemmBatched(transA, transB, batch, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC).
Napi::Value Gemm(const Napi::CallbackInfo& info, bool batched) {
  const Napi::Env env = info.Env();
  size_t i = 0;
  const bool ta = lkb::boolean(info, i++, "transA"), tb = lkb::boolean(info, i++, "transB");
  const int64_t batch = batched ? lkb::i64(info, i++, "batch", 0, kMaxDim) : 1;
  const int64_t M = lkb::i64(info, i++, "M", 0, kMaxDim), N = lkb::i64(info, i++, "N", 0, kMaxDim),
                K = lkb::i64(info, i++, "K", 0, kMaxDim);
  const float alpha = float(lkb::f64(info, i++, "alpha"));
  const size_t iA = i++;
  const int64_t lda = lkb::i64(info, i++, "lda", 1, kMaxDim);
  const int64_t sA = batched ? lkb::i64(info, i++, "strideA", 0) : 0;
  const size_t iB = i++;
  const int64_t ldb = lkb::i64(info, i++, "ldb", 1, kMaxDim);
  const int64_t sB = batched ? lkb::i64(info, i++, "strideB", 0) : 0;
  const float beta = float(lkb::f64(info, i++, "beta"));
  const size_t iC = i++;
  const int64_t ldc = lkb::i64(info, i++, "ldc", 1, kMaxDim);
  const int64_t sC = batched ? lkb::i64(info, i++, "strideC", 0) : 0;
  const int64_t eA = matrix_extent(env, "A", ta ? K : M, ta ? M : K, lda);
  const int64_t eB = matrix_extent(env, "B", tb ? N : K, tb ? K : N, ldb);
  const int64_t eC = matrix_extent(env, "C", M, N, ldc);
  if (batch > 1 && eC > 0 && sC < eC)
    lkb::throw_range(env, "strideC must be >= " + std::to_string(eC) + " (the C matrices may not overlap), got " +
                              std::to_string(sC));
  Args a(info);
  const float* A = a.in_span(iA, "A", span(env, "A", batch, sA, eA));
  const float* B = a.in_span(iB, "B", span(env, "B", batch, sB, eB));
  float* C = a.inout_span(iC, "C", span(env, "C", batch, sC, eC));
  if (eC > 0)
    for (int64_t b = 0; b < batch; ++b)
      lk_cuda::sgemm(ta, tb, M, N, K, alpha, A ? A + b * sA : nullptr, lda, B ? B + b * sB : nullptr, ldb, beta,
                     C + b * sC, ldc);
  a.finish();
  return env.Undefined();
}

Napi::Value Single(const Napi::CallbackInfo& info) { return Gemm(info, false); }
Napi::Value Batched(const Napi::CallbackInfo& info) { return Gemm(info, true); }

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) {
  def(env, exports, "gemm", Single);
  def(env, exports, "gemmBatched", Batched);
}

}  // namespace lkc
