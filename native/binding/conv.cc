// N-API binding for the dense and grouped conv2d kernels. Every array length is checked against
// the dimensions before a pointer reaches a kernel.
#include "../cpu/conv.h"
#include "conv_shape.h"
#include "napi_util.h"

namespace {

using lkb::kMaxDim;

// The geometry both addons read the same way (conv_shape.h).
int64_t x_len(Napi::Env env, const lk::ConvShape& s) { return lkb::conv_x_len(env, s); }
int64_t y_len(Napi::Env env, const lk::ConvShape& s) { return lkb::conv_y_len(env, s); }
int64_t w_len(Napi::Env env, const lk::ConvShape& s) { return lkb::conv_w_len(env, s); }
lk::ConvShape read_conv_shape(const Napi::CallbackInfo& info, size_t i) {
  return lkb::read_conv_shape<lk::ConvShape>(info, i);
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

void register_conv(Napi::Env env, Napi::Object exports) {
  lkb::def(env, exports, "conv2dForward", Conv2dForward);
  lkb::def(env, exports, "conv2dBackwardInput", Conv2dBackwardInput);
  lkb::def(env, exports, "conv2dBackwardWeight", Conv2dBackwardWeight);
  lkb::def(env, exports, "conv2dBackwardBias", Conv2dBackwardBias);
}
