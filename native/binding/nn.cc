// N-API entry points for activations, softmax / cross-entropy and pooling. Every array is checked
// against the dims (and index arrays against their range) before a pointer reaches a kernel.
#include <string>

#include "../cpu/nn.h"
#include "napi_util.h"
#include "pool_shape.h"

namespace {

using lkb::f32;
using lkb::i64;

// info[i] must be an Int32Array of exactly `expected` entries.
int32_t* i32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    lkb::throw_type(info.Env(), std::string(name) + " must be an Int32Array");
  auto a = info[i].As<Napi::Int32Array>();
  if (static_cast<int64_t>(a.ElementLength()) != expected)
    lkb::throw_range(info.Env(), std::string(name) + " must hold " + std::to_string(expected) + " integers, got " +
                                     std::to_string(a.ElementLength()));
  return expected ? a.Data() : nullptr;
}

// Every entry of an index array must lie in [0, hi).
void check_indices(Napi::Env env, const int32_t* v, int64_t n, int64_t hi, const char* name) {
  for (int64_t i = 0; i < n; ++i)
    if (v[i] < 0 || v[i] >= hi)
      lkb::throw_range(env, std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(v[i]) +
                                " is outside [0, " + std::to_string(hi) + ")");
}

// ---- Activations ----------------------------------------------------------------------------------

using Unary = void (*)(const float*, int64_t, float*);
using UnaryBackward = void (*)(const float*, const float*, int64_t, float*);

// fn(x, y): y gets x's length.
template <Unary fn>
Napi::Value UnaryForward(const Napi::CallbackInfo& info) {
  const lkb::F32 x = f32(info, 0, "x");
  fn(x.data, int64_t(x.length), f32(info, 1, "y", int64_t(x.length)).data);
  return info.Env().Undefined();
}

// fn(x, g, gx)
template <UnaryBackward fn>
Napi::Value UnaryGrad(const Napi::CallbackInfo& info) {
  const lkb::F32 x = f32(info, 0, "x");
  const int64_t n = int64_t(x.length);
  fn(x.data, f32(info, 1, "g", n).data, n, f32(info, 2, "gx", n).data);
  return info.Env().Undefined();
}

// arith(op, a, b | null, s, y): op (arithOps) add, sub, mul of same-length a and b, or scale: a * s.
Napi::Value Arith(const Napi::CallbackInfo& info) {
  const int64_t op = lkb::i64(info, 0, "op", 0, int64_t(lk::ArithOp::scale));
  const bool scale = op == int64_t(lk::ArithOp::scale);
  const lkb::F32 a = f32(info, 1, "a");
  const int64_t n = int64_t(a.length);
  const lkb::F32 bb = scale ? lkb::F32{nullptr, 0} : f32(info, 2, "b", n);
  const double s = scale ? lkb::f64(info, 3, "s") : 0.0;
  lk::arith(static_cast<lk::ArithOp>(op), a.data, bb.data, float(s), n, f32(info, 4, "y", n).data);
  return info.Env().Undefined();
}

// ---- Softmax / cross-entropy -------------------------------------------------------------------

// softmaxForward(x, outer, L, inner, log, y)
Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  const int64_t outer = i64(info, 1, "outer"), L = i64(info, 2, "L"), inner = i64(info, 3, "inner");
  const int64_t n = lkb::numel(info.Env(), "x [outer, L, inner]", {outer, L, inner});
  const float* x = f32(info, 0, "x", n).data;
  const bool log = lkb::boolean(info, 4, "log");
  float* y = f32(info, 5, "y", n).data;
  if (n == 0) return info.Env().Undefined();  // no rows to normalise (no loop over outer x inner)
  lk::softmax_forward(x, outer, L, inner, log, y);
  return info.Env().Undefined();
}

// softmaxBackward(y, g, outer, L, inner, log, gx)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const int64_t outer = i64(info, 2, "outer"), L = i64(info, 3, "L"), inner = i64(info, 4, "inner");
  const int64_t n = lkb::numel(info.Env(), "y [outer, L, inner]", {outer, L, inner});
  const float* y = f32(info, 0, "y", n).data;
  const float* g = f32(info, 1, "g", n).data;
  const bool log = lkb::boolean(info, 5, "log");
  float* gx = f32(info, 6, "gx", n).data;
  if (n == 0) return info.Env().Undefined();
  lk::softmax_backward(y, g, outer, L, inner, log, gx);
  return info.Env().Undefined();
}

struct CrossEntropyArgs {
  int64_t N, K, NK;
  const float* logits;
  const int32_t* labels;
  double smoothing;
};
// (logits, labels, N, K, smoothing) at args 0..4.
CrossEntropyArgs cross_entropy_args(const Napi::CallbackInfo& info) {
  CrossEntropyArgs a;
  a.N = i64(info, 2, "N");
  a.K = i64(info, 3, "K", 1);
  a.NK = lkb::numel(info.Env(), "logits [N, K]", {a.N, a.K});
  a.logits = f32(info, 0, "logits", a.NK).data;
  a.labels = i32(info, 1, "labels", a.N);
  check_indices(info.Env(), a.labels, a.N, a.K, "labels");
  a.smoothing = lkb::f64(info, 4, "smoothing");
  return a;
}

// crossEntropyForward(logits, labels, N, K, smoothing, loss[N], lse[N])
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const CrossEntropyArgs a = cross_entropy_args(info);
  float* loss = f32(info, 5, "loss", a.N).data;
  float* lse = f32(info, 6, "lse", a.N).data;
  lk::cross_entropy_forward(a.logits, a.labels, a.N, a.K, a.smoothing, loss, lse);
  return info.Env().Undefined();
}

// crossEntropyBackward(logits, labels, N, K, smoothing, lse[N], gloss[N], gx[N, K])
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const CrossEntropyArgs a = cross_entropy_args(info);
  const float* lse = f32(info, 5, "lse", a.N).data;
  const float* gloss = f32(info, 6, "gloss", a.N).data;
  float* gx = f32(info, 7, "gx", a.NK).data;
  lk::cross_entropy_backward(a.logits, a.labels, a.N, a.K, a.smoothing, lse, gloss, gx);
  return info.Env().Undefined();
}

// ---- Pooling ---------------------------------------------------------------------------------------

// globalAvgPool2dForward(x, planes, S, y[planes])
Napi::Value GlobalAvgPool2dForward(const Napi::CallbackInfo& info) {
  const int64_t planes = i64(info, 1, "planes"), S = i64(info, 2, "S");
  const float* x = f32(info, 0, "x", lkb::numel(info.Env(), "x [planes, S]", {planes, S})).data;
  lk::global_avg_pool_forward(x, planes, S, f32(info, 3, "y", planes).data);
  return info.Env().Undefined();
}

// globalAvgPool2dBackward(g[planes], planes, S, gx)
Napi::Value GlobalAvgPool2dBackward(const Napi::CallbackInfo& info) {
  const int64_t planes = i64(info, 1, "planes"), S = i64(info, 2, "S");
  const float* g = f32(info, 0, "g", planes).data;
  lk::global_avg_pool_backward(g, planes, S,
                               f32(info, 3, "gx", lkb::numel(info.Env(), "gx [planes, S]", {planes, S})).data);
  return info.Env().Undefined();
}

using PoolArgs = lkb::PoolArgs<lk::Pool2d>;
PoolArgs pool_args(const Napi::CallbackInfo& info, size_t first) {
  return lkb::read_pool_args<lk::Pool2d>(info, first);
}

// maxPool2dForward(x, planes, H, W, kh, kw, sh, sw, ph, pw, y, argmax: Int32Array)
Napi::Value MaxPool2dForward(const Napi::CallbackInfo& info) {
  const PoolArgs a = pool_args(info, 1);
  const float* x = f32(info, 0, "x", a.in).data;
  float* y = f32(info, 10, "y", a.out).data;
  int32_t* argmax = i32(info, 11, "argmax", a.out);
  if (a.p.H * a.p.W > INT32_MAX) lkb::throw_range(info.Env(), "plane too large for int32 indices");
  lk::max_pool2d_forward(x, a.p, y, argmax);
  return info.Env().Undefined();
}

// maxPool2dBackward(g, argmax, planes, H, W, kh, kw, sh, sw, ph, pw, gx)
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  const PoolArgs a = pool_args(info, 2);
  const float* g = f32(info, 0, "g", a.out).data;
  const int32_t* argmax = i32(info, 1, "argmax", a.out);
  check_indices(info.Env(), argmax, a.out, a.p.H * a.p.W, "argmax");
  lk::max_pool2d_backward(g, argmax, a.p, f32(info, 11, "gx", a.in).data);
  return info.Env().Undefined();
}

// avgPool2dForward(x, planes, H, W, kh, kw, sh, sw, ph, pw, y)
Napi::Value AvgPool2dForward(const Napi::CallbackInfo& info) {
  const PoolArgs a = pool_args(info, 1);
  const float* x = f32(info, 0, "x", a.in).data;
  lk::avg_pool2d_forward(x, a.p, f32(info, 10, "y", a.out).data);
  return info.Env().Undefined();
}

// avgPool2dBackward(g, planes, H, W, kh, kw, sh, sw, ph, pw, gx)
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  const PoolArgs a = pool_args(info, 1);
  const float* g = f32(info, 0, "g", a.out).data;
  lk::avg_pool2d_backward(g, a.p, f32(info, 10, "gx", a.in).data);
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
  lkb::def(env, exports, "arith", Arith);
  lkb::def(env, exports, "reluForward", UnaryForward<lk::relu_forward>);
  lkb::def(env, exports, "reluBackward", UnaryGrad<lk::relu_backward>);
  lkb::def(env, exports, "geluForward", UnaryForward<lk::gelu_forward>);
  lkb::def(env, exports, "geluBackward", UnaryGrad<lk::gelu_backward>);
  lkb::def(env, exports, "softmaxForward", SoftmaxForward);
  lkb::def(env, exports, "softmaxBackward", SoftmaxBackward);
  lkb::def(env, exports, "crossEntropyForward", CrossEntropyForward);
  lkb::def(env, exports, "crossEntropyBackward", CrossEntropyBackward);
  lkb::def(env, exports, "globalAvgPool2dForward", GlobalAvgPool2dForward);
  lkb::def(env, exports, "globalAvgPool2dBackward", GlobalAvgPool2dBackward);
  lkb::def(env, exports, "maxPool2dForward", MaxPool2dForward);
  lkb::def(env, exports, "maxPool2dBackward", MaxPool2dBackward);
  lkb::def(env, exports, "avgPool2dForward", AvgPool2dForward);
  lkb::def(env, exports, "avgPool2dBackward", AvgPool2dBackward);
}
