// Normalisation on the device: the CPU addon's norm functions (native/binding/norm.cc), same
// arguments, order and checks.
#include "../norm.h"
#include "../../binding/norm_shape.h"
#include "args.h"

namespace lkc {
namespace {

using lkb::i64;

// Dims of a normalisation call (native/binding/norm_shape.h).
using NCS = lkb::NormDims;
NCS ncs(const Napi::CallbackInfo& info, size_t first) { return lkb::read_norm_dims(info, first); }

// batchNorm2dForward(x, N, C, S, weight?, bias?, training, eps, momentum, runningMean?, runningVar?, y, mean, rstd)
Napi::Value BatchNorm2dForward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 1);
  const bool training = lkb::boolean(info, 6, "training");
  const double eps = lkb::f64(info, 7, "eps"), momentum = lkb::f64(info, 8, "momentum");
  Args a(info);
  const float* x = a.in(0, "x", d.numel);
  const float* w = a.in_opt(4, "weight", d.C);
  const float* b = a.in_opt(5, "bias", d.C);
  float* rm = a.inout_opt(9, "runningMean", d.C);
  float* rv = a.inout_opt(10, "runningVar", d.C);
  const bool has_rm = !(info[9].IsNull() || info[9].IsUndefined()),
             has_rv = !(info[10].IsNull() || info[10].IsUndefined());
  if (!training && d.C > 0 && (!has_rm || !has_rv))
    lkb::throw_type(info.Env(), "runningMean and runningVar are required when not training");
  float* y = a.out(11, "y", d.numel);
  float* mean = a.out(12, "mean", d.C);
  float* rstd = a.out(13, "rstd", d.C);
  lk_cuda::batch_norm_forward(x, d.N, d.C, d.S, w, b, training, eps, momentum, rm, rv, y, mean, rstd);
  a.finish();
  return info.Env().Undefined();
}

// batchNorm2dBackward(x, g, N, C, S, weight?, mean, rstd, training, gx?, gweight?, gbias?)
Napi::Value BatchNorm2dBackward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 2);
  const bool training = lkb::boolean(info, 8, "training");
  Args a(info);
  const float* x = a.in(0, "x", d.numel);
  const float* g = a.in(1, "g", d.numel);
  const float* w = a.in_opt(5, "weight", d.C);
  const float* mean = a.in(6, "mean", d.C);
  const float* rstd = a.in(7, "rstd", d.C);
  float* gx = a.out_opt(9, "gx", d.numel);
  float* gw = a.out_opt(10, "gweight", d.C);
  float* gb = a.out_opt(11, "gbias", d.C);
  lk_cuda::batch_norm_backward(x, g, d.N, d.C, d.S, w, mean, rstd, training, gx, gw, gb);
  a.finish();
  return info.Env().Undefined();
}

int64_t groups(const Napi::CallbackInfo& info, size_t i, int64_t C) {
  const int64_t G = i64(info, i, "G", 1);
  if (C % G != 0) lkb::throw_range(info.Env(), "G must divide C");
  return G;
}

// groupNormForward(x, N, C, S, G, weight?, bias?, eps, y, mean, rstd); mean / rstd are [N, G].
Napi::Value GroupNormForward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 1);
  const int64_t G = groups(info, 4, d.C);
  const double eps = lkb::f64(info, 7, "eps");
  const int64_t NG = lkb::numel(info.Env(), "mean [N, G]", {d.N, G});
  Args a(info);
  const float* x = a.in(0, "x", d.numel);
  const float* w = a.in_opt(5, "weight", d.C);
  const float* b = a.in_opt(6, "bias", d.C);
  float* y = a.out(8, "y", d.numel);
  float* mean = a.out(9, "mean", NG);
  float* rstd = a.out(10, "rstd", NG);
  lk_cuda::group_norm_forward(x, d.N, d.C, d.S, G, w, b, eps, y, mean, rstd);
  a.finish();
  return info.Env().Undefined();
}

// groupNormBackward(x, g, N, C, S, G, weight?, mean, rstd, gx?, gweight?, gbias?)
Napi::Value GroupNormBackward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 2);
  const int64_t G = groups(info, 5, d.C);
  const int64_t NG = lkb::numel(info.Env(), "mean [N, G]", {d.N, G});
  Args a(info);
  const float* x = a.in(0, "x", d.numel);
  const float* g = a.in(1, "g", d.numel);
  const float* w = a.in_opt(6, "weight", d.C);
  const float* mean = a.in(7, "mean", NG);
  const float* rstd = a.in(8, "rstd", NG);
  float* gx = a.out_opt(9, "gx", d.numel);
  float* gw = a.out_opt(10, "gweight", d.C);
  float* gb = a.out_opt(11, "gbias", d.C);
  lk_cuda::group_norm_backward(x, g, d.N, d.C, d.S, G, w, mean, rstd, gx, gw, gb);
  a.finish();
  return info.Env().Undefined();
}

// layerNorm2dForward(x, N, C, S, weight?, bias?, eps, y, mean, rstd); mean / rstd are [N, S].
Napi::Value LayerNorm2dForward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 1);
  const double eps = lkb::f64(info, 6, "eps");
  Args a(info);
  const float* x = a.in(0, "x", d.numel);
  const float* w = a.in_opt(4, "weight", d.C);
  const float* b = a.in_opt(5, "bias", d.C);
  float* y = a.out(7, "y", d.numel);
  float* mean = a.out(8, "mean", d.NS);
  float* rstd = a.out(9, "rstd", d.NS);
  lk_cuda::channel_norm_forward(x, d.N, d.C, d.S, w, b, eps, y, mean, rstd);
  a.finish();
  return info.Env().Undefined();
}

// layerNorm2dBackward(x, g, N, C, S, weight?, mean, rstd, gx?, gweight?, gbias?)
Napi::Value LayerNorm2dBackward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 2);
  Args a(info);
  const float* x = a.in(0, "x", d.numel);
  const float* g = a.in(1, "g", d.numel);
  const float* w = a.in_opt(5, "weight", d.C);
  const float* mean = a.in(6, "mean", d.NS);
  const float* rstd = a.in(7, "rstd", d.NS);
  float* gx = a.out_opt(8, "gx", d.numel);
  float* gw = a.out_opt(9, "gweight", d.C);
  float* gb = a.out_opt(10, "gbias", d.C);
  lk_cuda::channel_norm_backward(x, g, d.N, d.C, d.S, w, mean, rstd, gx, gw, gb);
  a.finish();
  return info.Env().Undefined();
}

}  // namespace

void register_norm(Napi::Env env, Napi::Object exports) {
  def(env, exports, "batchNorm2dForward", BatchNorm2dForward);
  def(env, exports, "batchNorm2dBackward", BatchNorm2dBackward);
  def(env, exports, "groupNormForward", GroupNormForward);
  def(env, exports, "groupNormBackward", GroupNormBackward);
  def(env, exports, "layerNorm2dForward", LayerNorm2dForward);
  def(env, exports, "layerNorm2dBackward", LayerNorm2dBackward);
}

}  // namespace lkc
