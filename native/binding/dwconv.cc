// N-API binding for the depthwise conv2d kernels. Every argument is checked here (geometry first,
// then each array's length against it), so a direct call with wrong arguments throws instead of
// touching memory out of bounds.
#include "../cpu/dwconv.h"

#include <string>

#include "dwconv_shape.h"
#include "napi_util.h"

namespace {

using lk::kMaxDepthwiseKernel;
using lkb::kMaxDim;

lk::DwConvShape read_shape(const Napi::CallbackInfo& info, size_t first) {
  return lkb::read_dwconv_shape<lk::DwConvShape>(info, first);
}

int64_t input_size(Napi::Env env, const lk::DwConvShape& s) {
  return lkb::numel(env, "x [N, C, H, W]", {s.n, s.c, s.h, s.w});
}
int64_t output_size(Napi::Env env, const lk::DwConvShape& s) {
  return lkb::numel(env, "y [N, C, OH, OW]", {s.n, s.c, s.oh, s.ow});
}
int64_t weight_size(Napi::Env env, const lk::DwConvShape& s) {
  return lkb::numel(env, "weight [C, 1, KH, KW]", {s.c, s.kh, s.kw});
}

// dwconv2dForward(x, weight, bias | null, y, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value Forward(const Napi::CallbackInfo& info) {
  const lk::DwConvShape s = read_shape(info, 4);
  const Napi::Env env = info.Env();
  lkb::F32 x = lkb::f32(info, 0, "x", input_size(env, s));
  lkb::F32 w = lkb::f32(info, 1, "weight", weight_size(env, s));
  lkb::F32 b = lkb::f32_opt(info, 2, "bias", s.c);
  lkb::F32 y = lkb::f32(info, 3, "y", output_size(env, s));
  LK_DISPATCH(dwconv2d_forward, s, x.data, w.data, b.data, y.data);
  return env.Undefined();
}

// dwconv2dBackwardInput(gradY, weight, gradX, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value BackwardInput(const Napi::CallbackInfo& info) {
  const lk::DwConvShape s = read_shape(info, 3);
  const Napi::Env env = info.Env();
  lkb::F32 gy = lkb::f32(info, 0, "gradY", output_size(env, s));
  lkb::F32 w = lkb::f32(info, 1, "weight", weight_size(env, s));
  lkb::F32 gx = lkb::f32(info, 2, "gradX", input_size(env, s));
  LK_DISPATCH(dwconv2d_backward_input, s, gy.data, w.data, gx.data);
  return env.Undefined();
}

// dwconv2dBackwardWeight(gradY, x, gradWeight, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value BackwardWeight(const Napi::CallbackInfo& info) {
  const lk::DwConvShape s = read_shape(info, 3);
  const Napi::Env env = info.Env();
  lkb::F32 gy = lkb::f32(info, 0, "gradY", output_size(env, s));
  lkb::F32 x = lkb::f32(info, 1, "x", input_size(env, s));
  lkb::F32 gw = lkb::f32(info, 2, "gradWeight", weight_size(env, s));
  LK_DISPATCH(dwconv2d_backward_weight, s, gy.data, x.data, gw.data);
  return env.Undefined();
}

}  // namespace

void register_dwconv(Napi::Env env, Napi::Object exports) {
  exports.Set("maxDepthwiseKernel", Napi::Number::New(env, double(kMaxDepthwiseKernel)));
  exports.Set("maxDepthwisePadding", Napi::Number::New(env, double(lkb::kMaxDwPadding)));
  lkb::def(env, exports, "dwconv2dForward", Forward);
  lkb::def(env, exports, "dwconv2dBackwardInput", BackwardInput);
  lkb::def(env, exports, "dwconv2dBackwardWeight", BackwardWeight);
}
