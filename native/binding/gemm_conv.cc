// N-API binding for the GEMM and conv2d kernels, plus lk::sgemm (the dispatching entry point other
// native code calls; it lives here because this file is compiled once, not per ISA).
// Every array length is checked against the dimensions before a pointer reaches a kernel.
#include "../cpu/conv.h"
#include "../cpu/gemm.h"
#include "napi_util.h"

namespace lk {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  LK_DISPATCH(sgemm, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, true);
}

void sgemm_st(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  LK_DISPATCH(sgemm, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false);
}

void sgemm_batched(bool transA, bool transB, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB,
                   float beta, float* C, int64_t ldc, int64_t strideC) {
  LK_DISPATCH(sgemm_batched, transA, transB, batch, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C,
              ldc, strideC);
}

}  // namespace lk

namespace {

constexpr int64_t kMaxDim = int64_t(1) << 31;

// Floats spanned by a rows x cols row-major matrix with leading dimension ld (ld >= cols checked).
int64_t matrix_extent(Napi::Env env, const char* name, int64_t rows, int64_t cols, int64_t ld) {
  if (ld < (cols > 1 ? cols : 1))
    lkb::throw_range(env, std::string(name) + ": leading dimension " + std::to_string(ld) + " < " +
                              std::to_string(cols) + " columns");
  if (rows == 0 || cols == 0) return 0;
  return lkb::add_sizes(env, name, lkb::numel(env, name, {rows - 1, ld}), cols);
}

// The array must hold `batch` matrices `stride` floats apart.
void check_span(Napi::Env env, const char* name, const lkb::F32& a, int64_t batch, int64_t stride, int64_t extent) {
  const int64_t need = extent == 0 || batch == 0 ? 0 : lkb::add_sizes(env, name, lkb::numel(env, name, {batch - 1, stride}), extent);
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

int64_t x_len(Napi::Env env, const lk::ConvShape& s) { return lkb::numel(env, "x [n, cin, h, w]", {s.n, s.cin, s.h, s.w}); }
int64_t y_len(Napi::Env env, const lk::ConvShape& s) { return lkb::numel(env, "y [n, cout, oh, ow]", {s.n, s.cout, s.oh, s.ow}); }
int64_t w_len(Napi::Env env, const lk::ConvShape& s) {
  return lkb::numel(env, "weight [cout, cin / groups, kh, kw]", {s.cout, s.cin / s.groups, s.kh, s.kw});
}

// The 14 integers after the arrays: n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups.
lk::ConvShape read_conv_shape(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  lk::ConvShape s;
  s.n = lkb::i64(info, i, "n", 1, kMaxDim);
  s.cin = lkb::i64(info, i + 1, "cin", 1, kMaxDim);
  s.h = lkb::i64(info, i + 2, "h", 1, kMaxDim);
  s.w = lkb::i64(info, i + 3, "w", 1, kMaxDim);
  s.cout = lkb::i64(info, i + 4, "cout", 1, kMaxDim);
  s.kh = lkb::i64(info, i + 5, "kh", 1, kMaxDim);
  s.kw = lkb::i64(info, i + 6, "kw", 1, kMaxDim);
  s.sh = lkb::i64(info, i + 7, "strideH", 1, kMaxDim);
  s.sw = lkb::i64(info, i + 8, "strideW", 1, kMaxDim);
  s.ph = lkb::i64(info, i + 9, "padH", 0, kMaxDim);
  s.pw = lkb::i64(info, i + 10, "padW", 0, kMaxDim);
  s.dh = lkb::i64(info, i + 11, "dilationH", 1, kMaxDim);
  s.dw = lkb::i64(info, i + 12, "dilationW", 1, kMaxDim);
  s.groups = lkb::i64(info, i + 13, "groups", 1, kMaxDim);
  if (s.cin % s.groups != 0 || s.cout % s.groups != 0)
    lkb::throw_range(env, "groups (" + std::to_string(s.groups) + ") must divide cin (" + std::to_string(s.cin) +
                              ") and cout (" + std::to_string(s.cout) + ")");
  const int64_t spanH = s.h + 2 * s.ph - s.dh * (s.kh - 1) - 1;
  const int64_t spanW = s.w + 2 * s.pw - s.dw * (s.kw - 1) - 1;
  if (spanH < 0 || spanW < 0) lkb::throw_range(env, "kh, kw: the dilated kernel is larger than the padded input (output size < 1)");
  s.oh = spanH / s.sh + 1;
  s.ow = spanW / s.sw + 1;
  x_len(env, s);  // overflow guards
  y_len(env, s);
  lkb::numel(env, "weight [cout, cin, kh, kw]", {s.cout, s.cin, s.kh, s.kw});
  return s;
}


// conv2dForward(x, weight, bias | null, y, n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  lk::ConvShape s = read_conv_shape(info, 4);
  lkb::F32 x = lkb::f32(info, 0, "x", x_len(env, s));
  lkb::F32 w = lkb::f32(info, 1, "weight", w_len(env, s));
  lkb::F32 b = lkb::f32_opt(info, 2, "bias", s.cout);
  lkb::F32 y = lkb::f32(info, 3, "y", y_len(env, s));
  LK_DISPATCH(conv2d_forward, s, x.data, w.data, b.data, y.data);
  return env.Undefined();
}

// conv2dBackwardInput(gradY, weight, gradX, n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
Napi::Value Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  lk::ConvShape s = read_conv_shape(info, 3);
  lkb::F32 gy = lkb::f32(info, 0, "gradY", y_len(env, s));
  lkb::F32 w = lkb::f32(info, 1, "weight", w_len(env, s));
  lkb::F32 gx = lkb::f32(info, 2, "gradX", x_len(env, s));
  LK_DISPATCH(conv2d_backward_input, s, gy.data, w.data, gx.data);
  return env.Undefined();
}

// conv2dBackwardWeight(gradY, x, gradWeight, n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
Napi::Value Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  lk::ConvShape s = read_conv_shape(info, 3);
  lkb::F32 gy = lkb::f32(info, 0, "gradY", y_len(env, s));
  lkb::F32 x = lkb::f32(info, 1, "x", x_len(env, s));
  lkb::F32 gw = lkb::f32(info, 2, "gradWeight", w_len(env, s));
  LK_DISPATCH(conv2d_backward_weight, s, gy.data, x.data, gw.data);
  return env.Undefined();
}

// conv2dBackwardBias(gradY, gradBias, n, cout, oh, ow): gradBias[c] = sum of gradY[:, c].
Napi::Value Conv2dBackwardBias(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  lk::ConvShape s{};
  s.n = lkb::i64(info, 2, "n", 1, kMaxDim);
  s.cout = lkb::i64(info, 3, "cout", 1, kMaxDim);
  s.oh = lkb::i64(info, 4, "oh", 1, kMaxDim);
  s.ow = lkb::i64(info, 5, "ow", 1, kMaxDim);
  lkb::F32 gy = lkb::f32(info, 0, "gradY", y_len(env, s));
  lkb::F32 gb = lkb::f32(info, 1, "gradBias", s.cout);
  LK_DISPATCH(conv2d_backward_bias, s, gy.data, gb.data);
  return env.Undefined();
}

}  // namespace

void register_gemm_conv(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("gemmBatched", Napi::Function::New(env, GemmBatched));
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward));
  exports.Set("conv2dBackwardInput", Napi::Function::New(env, Conv2dBackwardInput));
  exports.Set("conv2dBackwardWeight", Napi::Function::New(env, Conv2dBackwardWeight));
  exports.Set("conv2dBackwardBias", Napi::Function::New(env, Conv2dBackwardBias));
}
