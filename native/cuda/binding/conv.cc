// Dense and grouped conv2d on the device: the CPU addon's conv2d* functions (native/binding/conv.cc),
// same arguments, order and checks.
#include "../conv.h"
#include "../../binding/conv_shape.h"
#include "args.h"

namespace lkc {
namespace {

using lkb::kMaxDim;
constexpr int64_t kMaxIndex = int64_t(1) << 31;

// The CPU binding's geometry (native/binding/conv_shape.h), plus the kernels' 32-bit indices.
int64_t x_len(Napi::Env env, const lk_cuda::ConvShape& s) { return lkb::conv_x_len(env, s); }
int64_t y_len(Napi::Env env, const lk_cuda::ConvShape& s) { return lkb::conv_y_len(env, s); }
int64_t w_len(Napi::Env env, const lk_cuda::ConvShape& s) { return lkb::conv_w_len(env, s); }

lk_cuda::ConvShape read_conv_shape(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Env env = info.Env();
  const lk_cuda::ConvShape s = lkb::read_conv_shape<lk_cuda::ConvShape>(info, i);
  // The kernels index a plane, a padded row and one image's column matrix with 32-bit ints.
  const int64_t cols = lkb::numel(env, "the column matrix [cin * kh * kw, oh * ow]", {s.cin, s.kh, s.kw, s.oh, s.ow});
  if (s.h * s.w >= kMaxIndex || s.oh * s.ow >= kMaxIndex || cols >= kMaxIndex || s.h + 2 * s.ph >= kMaxIndex ||
      s.w + 2 * s.pw >= kMaxIndex || s.dh * s.kh >= kMaxIndex || s.dw * s.kw >= kMaxIndex)
    lkb::throw_range(env,
                     "one image's planes and column matrix (cin * kh * kw * oh * ow) must stay below 2^31 elements on "
                     "the CUDA backend");
  return s;
}

// conv2dForward(x, weight, bias | null, y, n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
Napi::Value Forward(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const lk_cuda::ConvShape s = read_conv_shape(info, 4);
  Args a(info);
  const float* x = a.in(0, "x", x_len(env, s));
  const float* w = a.in(1, "weight", w_len(env, s));
  const float* b = a.in_opt(2, "bias", s.cout);
  float* y = a.out(3, "y", y_len(env, s));
  lk_cuda::conv2d_forward(s, x, w, b, y);
  a.finish();
  return env.Undefined();
}

// conv2dBackwardInput(gradY, weight, gradX, n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
Napi::Value BackwardInput(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const lk_cuda::ConvShape s = read_conv_shape(info, 3);
  Args a(info);
  const float* gy = a.in(0, "gradY", y_len(env, s));
  const float* w = a.in(1, "weight", w_len(env, s));
  float* gx = a.out(2, "gradX", x_len(env, s));
  lk_cuda::conv2d_backward_input(s, gy, w, gx);
  a.finish();
  return env.Undefined();
}

// conv2dBackwardWeight(gradY, x, gradWeight, n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups)
Napi::Value BackwardWeight(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const lk_cuda::ConvShape s = read_conv_shape(info, 3);
  Args a(info);
  const float* gy = a.in(0, "gradY", y_len(env, s));
  const float* x = a.in(1, "x", x_len(env, s));
  float* gw = a.out(2, "gradWeight", w_len(env, s));
  lk_cuda::conv2d_backward_weight(s, gy, x, gw);
  a.finish();
  return env.Undefined();
}

// conv2dBackwardBias(gradY, gradBias, n, cout, oh, ow): gradBias[c] = sum of gradY[:, c].
Napi::Value BackwardBias(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  lk_cuda::ConvShape s{};
  s.n = lkb::i64(info, 2, "n", 1, kMaxDim);
  s.cout = lkb::i64(info, 3, "cout", 1, kMaxDim);
  s.oh = lkb::i64(info, 4, "oh", 1, kMaxDim);
  s.ow = lkb::i64(info, 5, "ow", 1, kMaxDim);
  const int64_t n = y_len(env, s);
  Args a(info);
  const float* gy = a.in(0, "gradY", n);
  float* gb = a.out(1, "gradBias", s.cout);
  lk_cuda::conv2d_backward_bias(s, gy, gb);
  a.finish();
  return env.Undefined();
}

}  // namespace

void register_conv(Napi::Env env, Napi::Object exports) {
  def(env, exports, "conv2dForward", Forward);
  def(env, exports, "conv2dBackwardInput", BackwardInput);
  def(env, exports, "conv2dBackwardWeight", BackwardWeight);
  def(env, exports, "conv2dBackwardBias", BackwardBias);
}

}  // namespace lkc
