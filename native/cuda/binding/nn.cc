// Activations, softmax / cross-entropy and pooling on the device: the CPU addon's nn functions
// (native/binding/nn.cc), same arguments, order and checks. Index arrays (labels, argmax) are a
// host Int32Array, range-checked here as on the CPU, or a DeviceArray read as int32, which the
// kernels guard instead (see native/cuda/nn.h).
#include <string>

#include "../../cpu/nn.h"  // lk::ArithOp: the op codes both addons export as arithOps
#include "../nn.h"
#include "../../binding/pool_shape.h"
#include "args.h"

namespace lkc {
namespace {

using lkb::i64;

// Every entry of a host Int32Array index argument must lie in [0, hi); a DeviceArray is not read.
void check_host_indices(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t hi) {
  if (i >= info.Length() || !info[i].IsTypedArray()) return;
  auto t = info[i].As<Napi::TypedArray>();
  if (t.TypedArrayType() != napi_int32_array) return;  // Args::in_i32 reports the wrong type
  const auto a = info[i].As<Napi::Int32Array>();
  for (size_t k = 0; k < a.ElementLength(); ++k)
    if (a[k] < 0 || a[k] >= hi)
      lkb::throw_range(info.Env(), std::string(name) + "[" + std::to_string(k) + "] = " + std::to_string(a[k]) +
                                       " is outside [0, " + std::to_string(hi) + ")");
}

using Unary = void (*)(const float*, int64_t, float*);
using UnaryBackward = void (*)(const float*, const float*, int64_t, float*);

// fn(x, y): y gets x's length.
template <Unary fn>
Napi::Value UnaryForward(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t n = a.length(0, "x");
  const float* x = a.in(0, "x", n);
  fn(x, n, a.out(1, "y", n));
  a.finish();
  return info.Env().Undefined();
}

// fn(x, g, gx)
template <UnaryBackward fn>
Napi::Value UnaryGrad(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t n = a.length(0, "x");
  const float* x = a.in(0, "x", n);
  const float* g = a.in(1, "g", n);
  fn(x, g, n, a.out(2, "gx", n));
  a.finish();
  return info.Env().Undefined();
}

// arith(op, a, b | null, s, y): op (arithOps) add, sub, mul of same-length a and b, or scale: a * s.
Napi::Value Arith(const Napi::CallbackInfo& info) {
  const int64_t op = i64(info, 0, "op", 0, int64_t(lk::ArithOp::scale));
  const bool scale = op == int64_t(lk::ArithOp::scale);
  Args a(info);
  const int64_t n = a.length(1, "a");
  const float* x = a.in(1, "a", n);
  const float* b = scale ? nullptr : a.in(2, "b", n);
  const double s = scale ? lkb::f64(info, 3, "s") : 0.0;
  // y may be a itself (in-place accumulation): with host arrays each gets its own scratch copy.
  lk_cuda::arith(int(op), x, b, float(s), n, a.out(4, "y", n));
  a.finish();
  return info.Env().Undefined();
}

// softmaxForward(x, outer, L, inner, log, y)
Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  const int64_t outer = i64(info, 1, "outer"), L = i64(info, 2, "L"), inner = i64(info, 3, "inner");
  const int64_t n = lkb::numel(info.Env(), "x [outer, L, inner]", {outer, L, inner});
  const bool log = lkb::boolean(info, 4, "log");
  Args a(info);
  const float* x = a.in(0, "x", n);
  float* y = a.out(5, "y", n);
  lk_cuda::softmax_forward(x, outer, L, inner, log, y);
  a.finish();
  return info.Env().Undefined();
}

// softmaxBackward(y, g, outer, L, inner, log, gx)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const int64_t outer = i64(info, 2, "outer"), L = i64(info, 3, "L"), inner = i64(info, 4, "inner");
  const int64_t n = lkb::numel(info.Env(), "y [outer, L, inner]", {outer, L, inner});
  const bool log = lkb::boolean(info, 5, "log");
  Args a(info);
  const float* y = a.in(0, "y", n);
  const float* g = a.in(1, "g", n);
  float* gx = a.out(6, "gx", n);
  lk_cuda::softmax_backward(y, g, outer, L, inner, log, gx);
  a.finish();
  return info.Env().Undefined();
}

struct CrossEntropyDims {
  int64_t N, K, NK;
  double smoothing;
};
// (logits, labels, N, K, smoothing) at args 0..4; the arrays are taken by the caller.
CrossEntropyDims cross_entropy_dims(const Napi::CallbackInfo& info) {
  CrossEntropyDims d;
  d.N = i64(info, 2, "N");
  d.K = i64(info, 3, "K", 1);
  d.NK = lkb::numel(info.Env(), "logits [N, K]", {d.N, d.K});
  d.smoothing = lkb::f64(info, 4, "smoothing");
  return d;
}

// crossEntropyForward(logits, labels, N, K, smoothing, loss[N], lse[N])
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const CrossEntropyDims d = cross_entropy_dims(info);
  Args a(info);
  const float* logits = a.in(0, "logits", d.NK);
  const int32_t* labels = a.in_i32(1, "labels", d.N);
  check_host_indices(info, 1, "labels", d.K);
  float* loss = a.out(5, "loss", d.N);
  float* lse = a.out(6, "lse", d.N);
  lk_cuda::cross_entropy_forward(logits, labels, d.N, d.K, d.smoothing, loss, lse);
  a.finish();
  return info.Env().Undefined();
}

// crossEntropyBackward(logits, labels, N, K, smoothing, lse[N], gloss[N], gx[N, K])
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const CrossEntropyDims d = cross_entropy_dims(info);
  Args a(info);
  const float* logits = a.in(0, "logits", d.NK);
  const int32_t* labels = a.in_i32(1, "labels", d.N);
  check_host_indices(info, 1, "labels", d.K);
  const float* lse = a.in(5, "lse", d.N);
  const float* gloss = a.in(6, "gloss", d.N);
  float* gx = a.out(7, "gx", d.NK);
  lk_cuda::cross_entropy_backward(logits, labels, d.N, d.K, d.smoothing, lse, gloss, gx);
  a.finish();
  return info.Env().Undefined();
}

// globalAvgPool2dForward(x, planes, S, y[planes])
Napi::Value GlobalAvgPool2dForward(const Napi::CallbackInfo& info) {
  const int64_t planes = i64(info, 1, "planes"), S = i64(info, 2, "S");
  const int64_t n = lkb::numel(info.Env(), "x [planes, S]", {planes, S});
  Args a(info);
  const float* x = a.in(0, "x", n);
  lk_cuda::global_avg_pool_forward(x, planes, S, a.out(3, "y", planes));
  a.finish();
  return info.Env().Undefined();
}

// globalAvgPool2dBackward(g[planes], planes, S, gx)
Napi::Value GlobalAvgPool2dBackward(const Napi::CallbackInfo& info) {
  const int64_t planes = i64(info, 1, "planes"), S = i64(info, 2, "S");
  const int64_t n = lkb::numel(info.Env(), "gx [planes, S]", {planes, S});
  Args a(info);
  const float* g = a.in(0, "g", planes);
  lk_cuda::global_avg_pool_backward(g, planes, S, a.out(3, "gx", n));
  a.finish();
  return info.Env().Undefined();
}

// The CPU binding's pooling geometry (native/binding/pool_shape.h), plus the kernels' int indices.
using PoolArgs = lkb::PoolArgs<lk_cuda::Pool2d>;
PoolArgs pool_args(const Napi::CallbackInfo& info, size_t first) {
  const PoolArgs a = lkb::read_pool_args<lk_cuda::Pool2d>(info, first);
  const lk_cuda::Pool2d& p = a.p;
  if (p.H * p.W > INT32_MAX || p.kh * p.kw > INT32_MAX || p.H + 2 * p.ph > INT32_MAX || p.W + 2 * p.pw > INT32_MAX)
    lkb::throw_range(info.Env(), "plane too large for int32 indices");
  return a;
}

// maxPool2dForward(x, planes, H, W, kh, kw, sh, sw, ph, pw, y, argmax)
Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info) {
  const PoolArgs p = pool_args(info, 1);
  Args a(info);
  const float* x = a.in(0, "x", p.in);
  float* y = a.out(10, "y", p.out);
  int32_t* argmax = a.out_i32(11, "argmax", p.out);
  lk_cuda::max_pool2d_forward(x, p.p, y, argmax);
  a.finish();
  return info.Env().Undefined();
}

// maxPool2dBackward(g, argmax, planes, H, W, kh, kw, sh, sw, ph, pw, gx)
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  const PoolArgs p = pool_args(info, 2);
  Args a(info);
  const float* g = a.in(0, "g", p.out);
  const int32_t* argmax = a.in_i32(1, "argmax", p.out);
  check_host_indices(info, 1, "argmax", p.p.H * p.p.W);
  lk_cuda::max_pool2d_backward(g, argmax, p.p, a.out(11, "gx", p.in));
  a.finish();
  return info.Env().Undefined();
}

// avgPool2dForward(x, planes, H, W, kh, kw, sh, sw, ph, pw, y)
Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info) {
  const PoolArgs p = pool_args(info, 1);
  Args a(info);
  const float* x = a.in(0, "x", p.in);
  lk_cuda::avg_pool2d_forward(x, p.p, a.out(10, "y", p.out));
  a.finish();
  return info.Env().Undefined();
}

// avgPool2dBackward(g, planes, H, W, kh, kw, sh, sw, ph, pw, gx)
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  const PoolArgs p = pool_args(info, 1);
  Args a(info);
  const float* g = a.in(0, "g", p.out);
  lk_cuda::avg_pool2d_backward(g, p.p, a.out(10, "gx", p.in));
  a.finish();
  return info.Env().Undefined();
}

}  // namespace

void register_nn(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  ops.Set("add", int(lk::ArithOp::add));
  ops.Set("sub", int(lk::ArithOp::sub));
  ops.Set("mul", int(lk::ArithOp::mul));
  ops.Set("scale", int(lk::ArithOp::scale));
  ops.Freeze();
  exports.Set("arithOps", ops);
  def(env, exports, "arith", Arith);
  def(env, exports, "reluForward", UnaryForward<lk_cuda::relu_forward>);
  def(env, exports, "reluBackward", UnaryGrad<lk_cuda::relu_backward>);
  def(env, exports, "geluForward", UnaryForward<lk_cuda::gelu_forward>);
  def(env, exports, "geluBackward", UnaryGrad<lk_cuda::gelu_backward>);
  def(env, exports, "softmaxForward", SoftmaxForward);
  def(env, exports, "softmaxBackward", SoftmaxBackward);
  def(env, exports, "crossEntropyForward", CrossEntropyForward);
  def(env, exports, "crossEntropyBackward", CrossEntropyBackward);
  def(env, exports, "globalAvgPool2dForward", GlobalAvgPool2dForward);
  def(env, exports, "globalAvgPool2dBackward", GlobalAvgPool2dBackward);
  def(env, exports, "maxPool2dForward", MaxPool2dForward);
  def(env, exports, "maxPool2dBackward", MaxPool2dBackward);
  def(env, exports, "avgPool2dForward", AvgPool2dForward);
  def(env, exports, "avgPool2dBackward", AvgPool2dBackward);
}

}  // namespace lkc
