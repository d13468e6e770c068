// N-API binding for the dense and grouped conv2d kernels. Every array length is checked against
// the dimensions before a pointer reaches a kernel.
#include "../cpu/conv.h"
#include "napi_util.h"

namespace {

using lkb::kMaxDim;

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

void register_conv(Napi::Env env, Napi::Object exports) {
  lkb::def(env, exports, "conv2dForward", Conv2dForward);
  lkb::def(env, exports, "conv2dBackwardInput", Conv2dBackwardInput);
  lkb::def(env, exports, "conv2dBackwardWeight", Conv2dBackwardWeight);
  lkb::def(env, exports, "conv2dBackwardBias", Conv2dBackwardBias);
}
