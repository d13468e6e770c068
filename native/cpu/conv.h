// Dense and grouped 2-D convolution on NCHW float32 (native/cpu/conv.cc): im2col / direct / patch
// rearrangement + the blocked SGEMM. PyTorch semantics: weight [Cout, Cin/groups, KH, KW],
// OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1.
#pragma once
#include <cstdint>

#include "isa.h"

namespace lk {

struct ConvShape {
  int64_t n, cin, h, w;  // input
  int64_t cout, kh, kw;  // weight [cout, cin / groups, kh, kw]
  int64_t sh, sw, ph, pw, dh, dw, groups;
  int64_t oh, ow;  // output size (the caller computes and checks it is >= 1)
};

}  // namespace lk

// y [n, cout, oh, ow] = conv(x, w) + bias (bias may be null).
LK_ISA_DECLARE(void conv2d_forward(const lk::ConvShape& s, const float* x, const float* w, const float* bias, float* y))
// gx [n, cin, h, w] = gradient of the input (overwritten).
LK_ISA_DECLARE(void conv2d_backward_input(const lk::ConvShape& s, const float* gy, const float* w, float* gx))
// gw [cout, cin / groups, kh, kw] = gradient of the weight (overwritten).
LK_ISA_DECLARE(void conv2d_backward_weight(const lk::ConvShape& s, const float* gy, const float* x, float* gw))
// gb [cout] = sum of gy over n, oh, ow (overwritten).
LK_ISA_DECLARE(void conv2d_backward_bias(const lk::ConvShape& s, const float* gy, float* gb))
