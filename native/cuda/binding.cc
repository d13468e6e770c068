// N-API binding of the CUDA addon (lkvit_cuda.node, or lkvit_cuda_emu.node over the SIMT
// emulation). This first step works on host Float32Arrays: each call copies its inputs to the
// device, launches, and copies the outputs back; device tensors come later. Arguments mirror the
// CPU addon's functions of the same name and are checked the same way (native/binding/napi_util.h).
// CUDA errors and emulation findings are C++ exceptions, which node-addon-api turns into JS errors.
#include <string>
#include <vector>

#include <cmath>

#include "../binding/dwconv_shape.h"
#include "../binding/napi_util.h"
#include "attention.h"
#include "dwconv.h"
#include "gemm.h"
#include "runtime.h"
#include "steps.h"
#if LK_CUDA_EMULATED_BUILD
#include "emu/planted.h"
#include "emu/simt.h"
#endif

namespace {

using lkb::F32;
using lk_cuda::DeviceBuffer;

constexpr int64_t kMaxDim = int64_t(1) << 31;

DeviceBuffer to_device(const F32& a) { return a.data ? DeviceBuffer(a.data, a.length) : DeviceBuffer(); }
void to_host(const DeviceBuffer& d, const F32& a) {
  lk_cuda::synchronize("kernel");
  if (a.length) d.to_host(a.data);
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  const lk_cuda::DeviceInfo d = lk_cuda::device_info();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("available", d.available);
  o.Set("backend", d.backend);
  o.Set("name", d.available ? Napi::Value(Napi::String::New(info.Env(), d.name)) : info.Env().Null());
  o.Set("reason", d.available ? info.Env().Null() : Napi::Value(Napi::String::New(info.Env(), d.reason)));
  o.Set("totalMemory", double(d.total_memory));
  o.Set("computeCapability", std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor));
  o.Set("runtimeVersion", d.runtime_version);
  o.Set("driverVersion", d.driver_version);
  return o;
}

// ---- depthwise conv (argument order as the CPU addon's) -------------------------------------------

lk_cuda::DwConvShape read_shape(const Napi::CallbackInfo& info, size_t first) {
  auto s = lkb::read_dwconv_shape<lk_cuda::DwConvShape>(info, first);
  // The kernels index one plane and one tile row with 32-bit ints.
  if (s.h * s.w >= kMaxDim || s.n * s.c >= kMaxDim)
    lkb::throw_range(info.Env(), "H*W and N*C must each be below 2^31 on the CUDA backend");
  return s;
}
int64_t input_size(Napi::Env env, const lk_cuda::DwConvShape& s) { return lkb::numel(env, "x [N, C, H, W]", {s.n, s.c, s.h, s.w}); }
int64_t output_size(Napi::Env env, const lk_cuda::DwConvShape& s) { return lkb::numel(env, "y [N, C, OH, OW]", {s.n, s.c, s.oh, s.ow}); }
int64_t weight_size(Napi::Env env, const lk_cuda::DwConvShape& s) { return lkb::numel(env, "weight [C, 1, KH, KW]", {s.c, s.kh, s.kw}); }

// dwconv2dForward(x, weight, bias | null, y, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value DwForward(const Napi::CallbackInfo& info) {
  const lk_cuda::DwConvShape s = read_shape(info, 4);
  const Napi::Env env = info.Env();
  const F32 x = lkb::f32(info, 0, "x", input_size(env, s)), w = lkb::f32(info, 1, "weight", weight_size(env, s));
  const F32 b = lkb::f32_opt(info, 2, "bias", s.c), y = lkb::f32(info, 3, "y", output_size(env, s));
  DeviceBuffer dx = to_device(x), dw = to_device(w), db = to_device(b), dy(y.length);
  lk_cuda::dwconv2d_forward(s, dx.get(), dw.get(), db.get(), dy.get());
  to_host(dy, y);
  return env.Undefined();
}

// dwconv2dBackwardInput(gradY, weight, gradX, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value DwBackwardInput(const Napi::CallbackInfo& info) {
  const lk_cuda::DwConvShape s = read_shape(info, 3);
  const Napi::Env env = info.Env();
  const F32 gy = lkb::f32(info, 0, "gradY", output_size(env, s)), w = lkb::f32(info, 1, "weight", weight_size(env, s));
  const F32 gx = lkb::f32(info, 2, "gradX", input_size(env, s));
  DeviceBuffer dgy = to_device(gy), dw = to_device(w), dgx(gx.length);
  lk_cuda::dwconv2d_backward_input(s, dgy.get(), dw.get(), dgx.get());
  to_host(dgx, gx);
  return env.Undefined();
}

// dwconv2dBackwardWeight(gradY, x, gradWeight, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value DwBackwardWeight(const Napi::CallbackInfo& info) {
  const lk_cuda::DwConvShape s = read_shape(info, 3);
  const Napi::Env env = info.Env();
  const F32 gy = lkb::f32(info, 0, "gradY", output_size(env, s)), x = lkb::f32(info, 1, "x", input_size(env, s));
  const F32 gw = lkb::f32(info, 2, "gradWeight", weight_size(env, s));
  DeviceBuffer dgy = to_device(gy), dx = to_device(x), dgw(gw.length);
  lk_cuda::dwconv2d_backward_weight(s, dgy.get(), dx.get(), dgw.get());
  to_host(dgw, gw);
  return env.Undefined();
}

// dwconv2dBackwardBias(gradY, gradBias, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value DwBackwardBias(const Napi::CallbackInfo& info) {
  const lk_cuda::DwConvShape s = read_shape(info, 2);
  const Napi::Env env = info.Env();
  const F32 gy = lkb::f32(info, 0, "gradY", output_size(env, s)), gb = lkb::f32(info, 1, "gradBias", s.c);
  DeviceBuffer dgy = to_device(gy), dgb(gb.length);
  lk_cuda::dwconv2d_backward_bias(s, dgy.get(), dgb.get());
  to_host(dgb, gb);
  return env.Undefined();
}

// ---- attack steps (argument order as the CPU addon's) -------------------------------------------

// fgsmStep(x, g, eps, min, max, out)
Napi::Value FgsmStep(const Napi::CallbackInfo& info) {
  const F32 x = lkb::f32(info, 0, "x");
  const int64_t n = int64_t(x.length);
  const F32 g = lkb::f32(info, 1, "g", n);
  const float eps = float(lkb::f64(info, 2, "eps")), lo = float(lkb::f64(info, 3, "min")),
              hi = float(lkb::f64(info, 4, "max"));
  const F32 out = lkb::f32(info, 5, "out", n);
  DeviceBuffer dx = to_device(x), dg = to_device(g), dout(out.length);
  lk_cuda::fgsm_step(dx.get(), dg.get(), n, eps, lo, hi, dout.get());
  to_host(dout, out);
  return info.Env().Undefined();
}

// pgdLinfStep(x, g, x0, eps, alpha, min, max, out)
Napi::Value PgdLinfStep(const Napi::CallbackInfo& info) {
  const F32 x = lkb::f32(info, 0, "x");
  const int64_t n = int64_t(x.length);
  const F32 g = lkb::f32(info, 1, "g", n), x0 = lkb::f32(info, 2, "x0", n);
  const float eps = float(lkb::f64(info, 3, "eps")), alpha = float(lkb::f64(info, 4, "alpha")),
              lo = float(lkb::f64(info, 5, "min")), hi = float(lkb::f64(info, 6, "max"));
  const F32 out = lkb::f32(info, 7, "out", n);
  DeviceBuffer dx = to_device(x), dg = to_device(g), dx0 = to_device(x0), dout(out.length);
  lk_cuda::pgd_linf_step(dx.get(), dg.get(), dx0.get(), n, eps, alpha, lo, hi, dout.get());
  to_host(dout, out);
  return info.Env().Undefined();
}

// pgdL2Step(x, g, x0, N, eps, alpha, min, max, out, parts): as the CPU addon's, plus `parts`, how
// many pieces the CPU engine cuts each sample into (bit-identical results for the same parts).
Napi::Value PgdL2Step(const Napi::CallbackInfo& info) {
  const F32 x = lkb::f32(info, 0, "x");
  const int64_t n = int64_t(x.length);
  const F32 g = lkb::f32(info, 1, "g", n), x0 = lkb::f32(info, 2, "x0", n);
  const int64_t N = lkb::i64(info, 3, "N", 1);
  if (n % N != 0) lkb::throw_range(info.Env(), "N must divide the length of x");
  const float eps = float(lkb::f64(info, 4, "eps")), alpha = float(lkb::f64(info, 5, "alpha")),
              lo = float(lkb::f64(info, 6, "min")), hi = float(lkb::f64(info, 7, "max"));
  const F32 out = lkb::f32(info, 8, "out", n);
  const int64_t D = n / N;
  const int64_t parts = lkb::i64(info, 9, "parts", 1, 1024);
  if (parts > (D > 0 ? D : 1)) lkb::throw_range(info.Env(), "parts must be at most the sample size");
  if (n == 0) return info.Env().Undefined();  // N empty samples: nothing to write, no per-sample sums
  DeviceBuffer dx = to_device(x), dg = to_device(g), dx0 = to_device(x0), dout(out.length);
  lk_cuda::pgd_l2_step(dx.get(), dg.get(), dx0.get(), N, D, parts, eps, alpha, lo, hi, dout.get());
  to_host(dout, out);
  return info.Env().Undefined();
}

// ---- attention (argument order as the CPU addon's) --------------------------------------------------

struct AttentionArgs {
  lk_cuda::AttentionShape s;
  int64_t q, k, v, out, rows, probs;  // element counts
};

AttentionArgs read_attention(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  AttentionArgs a;
  const int64_t B = lkb::i64(info, 0, "B", 0), H = lkb::i64(info, 1, "H", 0), Tq = lkb::i64(info, 2, "Tq", 0);
  const int64_t Tk = lkb::i64(info, 3, "Tk", 1), d = lkb::i64(info, 4, "d", 1), dv = lkb::i64(info, 5, "dv", 1);
  const double scale = lkb::f64(info, 6, "scale");
  if (!std::isfinite(scale) || std::fabs(scale) > 3.4e38) lkb::throw_range(env, "scale must be a finite float32");
  a.q = lkb::numel(env, "q [B, H, Tq, d]", {B, H, Tq, d});
  a.k = lkb::numel(env, "k [B, H, Tk, d]", {B, H, Tk, d});
  a.v = lkb::numel(env, "v [B, H, Tk, dv]", {B, H, Tk, dv});
  a.out = lkb::numel(env, "out [B, H, Tq, dv]", {B, H, Tq, dv});
  a.rows = lkb::numel(env, "lse [B, H, Tq]", {B, H, Tq});
  a.probs = lkb::numel(env, "probs [B, H, Tq, Tk]", {B, H, Tq, Tk});
  if (Tq >= kMaxDim || Tk >= kMaxDim || B * H >= kMaxDim) lkb::throw_range(env, "Tq, Tk and B*H must be below 2^31");
  a.s = lk_cuda::AttentionShape{B * H, Tq, Tk, d, dv, float(scale)};
  return a;
}

// attentionForward(B, H, Tq, Tk, d, dv, scale, q, k, v, out, lse, probs|null)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  const AttentionArgs a = read_attention(info);
  const F32 q = lkb::f32(info, 7, "q", a.q), k = lkb::f32(info, 8, "k", a.k), v = lkb::f32(info, 9, "v", a.v);
  const F32 out = lkb::f32(info, 10, "out", a.out), lse = lkb::f32(info, 11, "lse", a.rows);
  const F32 probs = lkb::f32_opt(info, 12, "probs", a.probs);
  DeviceBuffer dq = to_device(q), dk = to_device(k), dv = to_device(v), dout(out.length), dlse(lse.length),
               dprobs(probs.data ? probs.length : 0);
  lk_cuda::attention_forward(a.s, dq.get(), dk.get(), dv.get(), dout.get(), dlse.get(), probs.data ? dprobs.get() : nullptr);
  to_host(dout, out);
  to_host(dlse, lse);
  if (probs.data) to_host(dprobs, probs);
  return info.Env().Undefined();
}

// attentionBackward(B, H, Tq, Tk, d, dv, scale, q, k, v, out, lse, gradOut, gradQ|null, gradK|null, gradV|null)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  const AttentionArgs a = read_attention(info);
  const F32 q = lkb::f32(info, 7, "q", a.q), k = lkb::f32(info, 8, "k", a.k), v = lkb::f32(info, 9, "v", a.v);
  const F32 out = lkb::f32(info, 10, "out", a.out), lse = lkb::f32(info, 11, "lse", a.rows);
  const F32 go = lkb::f32(info, 12, "gradOut", a.out);
  const F32 gq = lkb::f32_opt(info, 13, "gradQ", a.q), gk = lkb::f32_opt(info, 14, "gradK", a.k),
            gv = lkb::f32_opt(info, 15, "gradV", a.v);
  DeviceBuffer dq = to_device(q), dk = to_device(k), dv = to_device(v), dout = to_device(out), dlse = to_device(lse),
               dgo = to_device(go), dgq(gq.length), dgk(gk.length), dgv(gv.length);
  lk_cuda::attention_backward(a.s, dq.get(), dk.get(), dv.get(), dout.get(), dlse.get(), dgo.get(),
                              gq.data ? dgq.get() : nullptr, gk.data ? dgk.get() : nullptr, gv.data ? dgv.get() : nullptr);
  if (gq.data) to_host(dgq, gq);
  if (gk.data) to_host(dgk, gk);
  if (gv.data) to_host(dgv, gv);
  return info.Env().Undefined();
}

// ---- GEMM -----------------------------------------------------------------------------------------

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): C is read (beta != 0) and written.
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const bool ta = lkb::boolean(info, 0, "transA"), tb = lkb::boolean(info, 1, "transB");
  const int64_t M = lkb::i64(info, 2, "M"), N = lkb::i64(info, 3, "N"), K = lkb::i64(info, 4, "K");
  const float alpha = float(lkb::f64(info, 5, "alpha"));
  const int64_t lda = lkb::i64(info, 7, "lda", 1), ldb = lkb::i64(info, 9, "ldb", 1);
  const float beta = float(lkb::f64(info, 10, "beta"));
  const int64_t ldc = lkb::i64(info, 12, "ldc", 1);
  // op(A) is M x K: A holds (transA ? K x M : M x K) rows of lda.
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  if (lda < a_cols || ldb < b_cols || ldc < N) lkb::throw_range(env, "lda, ldb, ldc must be at least the row lengths");
  auto need = [&](int64_t rows, int64_t cols, int64_t ld) {  // overflow-checked (rows - 1) * ld + cols
    return rows == 0 || cols == 0 ? 0 : lkb::add_sizes(env, "matrix", lkb::numel(env, "matrix [rows - 1, ld]", {rows - 1, ld}), cols);
  };
  const F32 A = lkb::f32(info, 6, "A", need(a_rows, a_cols, lda));
  const F32 B = lkb::f32(info, 8, "B", need(b_rows, b_cols, ldb));
  const F32 C = lkb::f32(info, 11, "C", need(M, N, ldc));
  DeviceBuffer dA = to_device(A), dB = to_device(B), dC = to_device(C);
  lk_cuda::sgemm(ta, tb, M, N, K, alpha, dA.get(), lda, dB.get(), ldb, beta, dC.get(), ldc);
  to_host(dC, C);
  return env.Undefined();
}

#if LK_CUDA_EMULATED_BUILD
// simtSetSeed(seed): the fiber and block order of later launches.
Napi::Value SimtSetSeed(const Napi::CallbackInfo& info) {
  lk_emu::set_seed(uint64_t(lkb::i64(info, 0, "seed", 0, int64_t(1) << 52)));
  return info.Env().Undefined();
}
Napi::Value SimtThreadsRun(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(lk_emu::threads_run()));
}
// simtRunPlanted(name, input Float32Array) -> Float32Array
Napi::Value SimtRunPlanted(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) lkb::throw_type(info.Env(), "name must be a string");
  const F32 in = lkb::f32(info, 1, "input");
  const std::vector<float> out = lk_emu::run_planted(info[0].As<Napi::String>(), std::vector<float>(in.data, in.data + in.length));
  Napi::Float32Array r = Napi::Float32Array::New(info.Env(), out.size());
  std::copy(out.begin(), out.end(), r.Data());
  return r;
}
Napi::Value SimtPlantedNames(const Napi::CallbackInfo& info) {
  const std::vector<std::string> names = lk_emu::planted_names();
  Napi::Array a = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) a.Set(uint32_t(i), names[i]);
  return a;
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("dwconv2dForward", Napi::Function::New(env, DwForward));
  exports.Set("dwconv2dBackwardInput", Napi::Function::New(env, DwBackwardInput));
  exports.Set("dwconv2dBackwardWeight", Napi::Function::New(env, DwBackwardWeight));
  exports.Set("dwconv2dBackwardBias", Napi::Function::New(env, DwBackwardBias));
  exports.Set("fgsmStep", Napi::Function::New(env, FgsmStep));
  exports.Set("pgdLinfStep", Napi::Function::New(env, PgdLinfStep));
  exports.Set("pgdL2Step", Napi::Function::New(env, PgdL2Step));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
#if LK_CUDA_EMULATED_BUILD
  Napi::Object simt = Napi::Object::New(env);
  simt.Set("setSeed", Napi::Function::New(env, SimtSetSeed));
  simt.Set("threadsRun", Napi::Function::New(env, SimtThreadsRun));
  simt.Set("runPlanted", Napi::Function::New(env, SimtRunPlanted));
  simt.Set("plantedNames", Napi::Function::New(env, SimtPlantedNames));
  exports.Set("simt", simt);
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(lkvit_cuda, Init)
