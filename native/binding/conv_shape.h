// The dense / grouped conv2d geometry, read the same way by the CPU and CUDA bindings (both addons
// take the same arguments): n, cin, h, w, cout, kh, kw, strideH, strideW, padH, padW, dilationH,
// dilationW, groups at info[first..first+13], checked, with the output size by PyTorch's rule.
// `Shape` is the backend's struct with those fields (n, cin, h, w, cout, kh, kw, sh, sw, ph, pw,
// dh, dw, groups) and oh, ow.
#pragma once
#include <cstdint>
#include <string>

#include "napi_util.h"

namespace lkb {

template <class Shape>
int64_t conv_x_len(Napi::Env env, const Shape& s) {
  return numel(env, "x [n, cin, h, w]", {s.n, s.cin, s.h, s.w});
}
template <class Shape>
int64_t conv_y_len(Napi::Env env, const Shape& s) {
  return numel(env, "y [n, cout, oh, ow]", {s.n, s.cout, s.oh, s.ow});
}
template <class Shape>
int64_t conv_w_len(Napi::Env env, const Shape& s) {
  return numel(env, "weight [cout, cin / groups, kh, kw]", {s.cout, s.cin / s.groups, s.kh, s.kw});
}

template <class Shape>
Shape read_conv_shape(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Env env = info.Env();
  Shape s;
  s.n = i64(info, i, "n", 1, kMaxDim);
  s.cin = i64(info, i + 1, "cin", 1, kMaxDim);
  s.h = i64(info, i + 2, "h", 1, kMaxDim);
  s.w = i64(info, i + 3, "w", 1, kMaxDim);
  s.cout = i64(info, i + 4, "cout", 1, kMaxDim);
  s.kh = i64(info, i + 5, "kh", 1, kMaxDim);
  s.kw = i64(info, i + 6, "kw", 1, kMaxDim);
  s.sh = i64(info, i + 7, "strideH", 1, kMaxDim);
  s.sw = i64(info, i + 8, "strideW", 1, kMaxDim);
  s.ph = i64(info, i + 9, "padH", 0, kMaxDim);
  s.pw = i64(info, i + 10, "padW", 0, kMaxDim);
  s.dh = i64(info, i + 11, "dilationH", 1, kMaxDim);
  s.dw = i64(info, i + 12, "dilationW", 1, kMaxDim);
  s.groups = i64(info, i + 13, "groups", 1, kMaxDim);
  if (s.cin % s.groups != 0 || s.cout % s.groups != 0)
    throw_range(env, "groups (" + std::to_string(s.groups) + ") must divide cin (" + std::to_string(s.cin) +
                         ") and cout (" + std::to_string(s.cout) + ")");
  const int64_t spanH = s.h + 2 * s.ph - s.dh * (s.kh - 1) - 1;
  const int64_t spanW = s.w + 2 * s.pw - s.dw * (s.kw - 1) - 1;
  if (spanH < 0 || spanW < 0)
    throw_range(env, "kh, kw: the dilated kernel is larger than the padded input (output size < 1)");
  s.oh = spanH / s.sh + 1;
  s.ow = spanW / s.sw + 1;
  conv_x_len(env, s);  // overflow guards
  conv_y_len(env, s);
  numel(env, "weight [cout, cin, kh, kw]", {s.cout, s.cin, s.kh, s.kw});
  return s;
}

}  // namespace lkb
