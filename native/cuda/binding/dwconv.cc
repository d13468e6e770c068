// Depthwise conv2d on the device: the CPU addon's dwconv2d* functions (native/binding/dwconv.cc),
// plus dwconv2dBackwardBias.
#include "../../binding/dwconv_shape.h"
#include "../dwconv.h"
#include "args.h"

namespace lkc {
namespace {

constexpr int64_t kMaxIndex = int64_t(1) << 31;

lk_cuda::DwConvShape read_shape(const Napi::CallbackInfo& info, size_t first) {
  auto s = lkb::read_dwconv_shape<lk_cuda::DwConvShape>(info, first);
  // The kernels index one plane and one tile row with 32-bit ints.
  if (s.h * s.w >= kMaxIndex || s.n * s.c >= kMaxIndex)
    lkb::throw_range(info.Env(), "H*W and N*C must each be below 2^31 on the CUDA backend");
  return s;
}
int64_t input_size(Napi::Env env, const lk_cuda::DwConvShape& s) {
  return lkb::numel(env, "x [N, C, H, W]", {s.n, s.c, s.h, s.w});
}
int64_t output_size(Napi::Env env, const lk_cuda::DwConvShape& s) {
  return lkb::numel(env, "y [N, C, OH, OW]", {s.n, s.c, s.oh, s.ow});
}
int64_t weight_size(Napi::Env env, const lk_cuda::DwConvShape& s) {
  return lkb::numel(env, "weight [C, 1, KH, KW]", {s.c, s.kh, s.kw});
}

// dwconv2dForward(x, weight, bias | null, y, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value Forward(const Napi::CallbackInfo& info) {
  const lk_cuda::DwConvShape s = read_shape(info, 4);
  const Napi::Env env = info.Env();
  Args a(info);
  const float* x = a.in(0, "x", input_size(env, s));
  const float* w = a.in(1, "weight", weight_size(env, s));
  const float* b = a.in_opt(2, "bias", s.c);
  float* y = a.out(3, "y", output_size(env, s));
  lk_cuda::dwconv2d_forward(s, x, w, b, y);
  a.finish();
  return env.Undefined();
}

// dwconv2dBackwardInput(gradY, weight, gradX, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value BackwardInput(const Napi::CallbackInfo& info) {
  const lk_cuda::DwConvShape s = read_shape(info, 3);
  const Napi::Env env = info.Env();
  Args a(info);
  const float* gy = a.in(0, "gradY", output_size(env, s));
  const float* w = a.in(1, "weight", weight_size(env, s));
  float* gx = a.out(2, "gradX", input_size(env, s));
  lk_cuda::dwconv2d_backward_input(s, gy, w, gx);
  a.finish();
  return env.Undefined();
}

// dwconv2dBackwardWeight(gradY, x, gradWeight, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value BackwardWeight(const Napi::CallbackInfo& info) {
  const lk_cuda::DwConvShape s = read_shape(info, 3);
  const Napi::Env env = info.Env();
  Args a(info);
  const float* gy = a.in(0, "gradY", output_size(env, s));
  const float* x = a.in(1, "x", input_size(env, s));
  float* gw = a.out(2, "gradWeight", weight_size(env, s));
  lk_cuda::dwconv2d_backward_weight(s, gy, x, gw);
  a.finish();
  return env.Undefined();
}

// dwconv2dBackwardBias(gradY, gradBias, N, C, H, W, KH, KW, strideH, strideW, padH, padW)
Napi::Value BackwardBias(const Napi::CallbackInfo& info) {
  const lk_cuda::DwConvShape s = read_shape(info, 2);
  const Napi::Env env = info.Env();
  Args a(info);
  const float* gy = a.in(0, "gradY", output_size(env, s));
  float* gb = a.out(1, "gradBias", s.c);
  lk_cuda::dwconv2d_backward_bias(s, gy, gb);
  a.finish();
  return env.Undefined();
}

}  // namespace

void register_dwconv(Napi::Env env, Napi::Object exports) {
  // The limits read_dwconv_shape enforces, exported as the CPU addon does for the TypeScript checks.
  exports.Set("maxDepthwiseKernel", Napi::Number::New(env, double(lk::kMaxDepthwiseKernel)));
  exports.Set("maxDepthwisePadding", Napi::Number::New(env, double(lkb::kMaxDwPadding)));
  def(env, exports, "dwconv2dForward", Forward);
  def(env, exports, "dwconv2dBackwardInput", BackwardInput);
  def(env, exports, "dwconv2dBackwardWeight", BackwardWeight);
  def(env, exports, "dwconv2dBackwardBias", BackwardBias);
}

}  // namespace lkc
