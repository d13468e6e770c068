// N-API entry points for normalisation (BatchNorm, GroupNorm / LayerNorm, channels-first
// LayerNorm). Every array is checked against the dims before a pointer reaches a kernel.
#include "../cpu/norm.h"
#include "napi_util.h"
#include "norm_shape.h"

namespace {

using lkb::f32;
using lkb::f32_opt;
using lkb::i64;

// Dims of a normalisation call (native/binding/norm_shape.h).
using NCS = lkb::NormDims;
NCS ncs(const Napi::CallbackInfo& info, size_t first) { return lkb::read_norm_dims(info, first); }

// batchNorm2dForward(x, N, C, S, weight?, bias?, training, eps, momentum, runningMean?, runningVar?, y, mean, rstd)
Napi::Value BatchNorm2dForward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 1);
  const float* x = f32(info, 0, "x", d.numel).data;
  const float* w = f32_opt(info, 4, "weight", d.C).data;
  const float* b = f32_opt(info, 5, "bias", d.C).data;
  const bool training = lkb::boolean(info, 6, "training");
  const double eps = lkb::f64(info, 7, "eps"), momentum = lkb::f64(info, 8, "momentum");
  float* rm = f32_opt(info, 9, "runningMean", d.C).data;
  float* rv = f32_opt(info, 10, "runningVar", d.C).data;
  if (!training && d.C > 0 && (!rm || !rv))
    lkb::throw_type(info.Env(), "runningMean and runningVar are required when not training");
  float* y = f32(info, 11, "y", d.numel).data;
  float* mean = f32(info, 12, "mean", d.C).data;
  float* rstd = f32(info, 13, "rstd", d.C).data;
  lk::batch_norm_forward(x, d.N, d.C, d.S, w, b, training, eps, momentum, rm, rv, y, mean, rstd);
  return info.Env().Undefined();
}

// batchNorm2dBackward(x, g, N, C, S, weight?, mean, rstd, training, gx?, gweight?, gbias?)
Napi::Value BatchNorm2dBackward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 2);
  const float* x = f32(info, 0, "x", d.numel).data;
  const float* g = f32(info, 1, "g", d.numel).data;
  const float* w = f32_opt(info, 5, "weight", d.C).data;
  const float* mean = f32(info, 6, "mean", d.C).data;
  const float* rstd = f32(info, 7, "rstd", d.C).data;
  const bool training = lkb::boolean(info, 8, "training");
  float* gx = f32_opt(info, 9, "gx", d.numel).data;
  float* gw = f32_opt(info, 10, "gweight", d.C).data;
  float* gb = f32_opt(info, 11, "gbias", d.C).data;
  lk::batch_norm_backward(x, g, d.N, d.C, d.S, w, mean, rstd, training, gx, gw, gb);
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
  const float* x = f32(info, 0, "x", d.numel).data;
  const float* w = f32_opt(info, 5, "weight", d.C).data;
  const float* b = f32_opt(info, 6, "bias", d.C).data;
  const double eps = lkb::f64(info, 7, "eps");
  float* y = f32(info, 8, "y", d.numel).data;
  const int64_t NG = lkb::numel(info.Env(), "mean [N, G]", {d.N, G});
  float* mean = f32(info, 9, "mean", NG).data;
  float* rstd = f32(info, 10, "rstd", NG).data;
  lk::group_norm_forward(x, d.N, d.C, d.S, G, w, b, eps, y, mean, rstd);
  return info.Env().Undefined();
}

// groupNormBackward(x, g, N, C, S, G, weight?, mean, rstd, gx?, gweight?, gbias?)
Napi::Value GroupNormBackward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 2);
  const int64_t G = groups(info, 5, d.C);
  const float* x = f32(info, 0, "x", d.numel).data;
  const float* g = f32(info, 1, "g", d.numel).data;
  const float* w = f32_opt(info, 6, "weight", d.C).data;
  const int64_t NG = lkb::numel(info.Env(), "mean [N, G]", {d.N, G});
  const float* mean = f32(info, 7, "mean", NG).data;
  const float* rstd = f32(info, 8, "rstd", NG).data;
  float* gx = f32_opt(info, 9, "gx", d.numel).data;
  float* gw = f32_opt(info, 10, "gweight", d.C).data;
  float* gb = f32_opt(info, 11, "gbias", d.C).data;
  lk::group_norm_backward(x, g, d.N, d.C, d.S, G, w, mean, rstd, gx, gw, gb);
  return info.Env().Undefined();
}

// layerNorm2dForward(x, N, C, S, weight?, bias?, eps, y, mean, rstd); mean / rstd are [N, S].
Napi::Value LayerNorm2dForward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 1);
  const float* x = f32(info, 0, "x", d.numel).data;
  const float* w = f32_opt(info, 4, "weight", d.C).data;
  const float* b = f32_opt(info, 5, "bias", d.C).data;
  const double eps = lkb::f64(info, 6, "eps");
  float* y = f32(info, 7, "y", d.numel).data;
  float* mean = f32(info, 8, "mean", d.NS).data;
  float* rstd = f32(info, 9, "rstd", d.NS).data;
  lk::channel_norm_forward(x, d.N, d.C, d.S, w, b, eps, y, mean, rstd);
  return info.Env().Undefined();
}

// layerNorm2dBackward(x, g, N, C, S, weight?, mean, rstd, gx?, gweight?, gbias?)
Napi::Value LayerNorm2dBackward(const Napi::CallbackInfo& info) {
  const NCS d = ncs(info, 2);
  const float* x = f32(info, 0, "x", d.numel).data;
  const float* g = f32(info, 1, "g", d.numel).data;
  const float* w = f32_opt(info, 5, "weight", d.C).data;
  const float* mean = f32(info, 6, "mean", d.NS).data;
  const float* rstd = f32(info, 7, "rstd", d.NS).data;
  float* gx = f32_opt(info, 8, "gx", d.numel).data;
  float* gw = f32_opt(info, 9, "gweight", d.C).data;
  float* gb = f32_opt(info, 10, "gbias", d.C).data;
  lk::channel_norm_backward(x, g, d.N, d.C, d.S, w, mean, rstd, gx, gw, gb);
  return info.Env().Undefined();
}

}  // namespace

void register_norm(Napi::Env env, Napi::Object exports) {
  lkb::def(env, exports, "batchNorm2dForward", BatchNorm2dForward);
  lkb::def(env, exports, "batchNorm2dBackward", BatchNorm2dBackward);
  lkb::def(env, exports, "groupNormForward", GroupNormForward);
  lkb::def(env, exports, "groupNormBackward", GroupNormBackward);
  lkb::def(env, exports, "layerNorm2dForward", LayerNorm2dForward);
  lkb::def(env, exports, "layerNorm2dBackward", LayerNorm2dBackward);
}
