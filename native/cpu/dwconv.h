// Depthwise 2-D convolution (float32, NCHW at the boundary), forward and the input and weight
// gradients (the bias gradient is conv2d's per-channel sum, conv2d_backward_bias).
// Compiled once per instruction set (see isa.h); the binding calls them through LK_DISPATCH.
#pragma once
#include <cstdint>

#include "isa.h"

namespace lk {

// The largest kernel side (KH, KW) accepted. The addon exports it (maxDepthwiseKernel) and the
// TypeScript checks read it from there.
constexpr int64_t kMaxDepthwiseKernel = 63;

// Geometry of one depthwise convolution: x [n, c, h, w], weight [c, 1, kh, kw], y [n, c, oh, ow]
// with PyTorch's rule oh = (h + 2 ph - kh) / sh + 1 (the binding computes oh, ow and checks them).
struct DwConvShape {
  int64_t n, c, h, w;
  int64_t kh, kw;
  int64_t sh, sw;  // stride
  int64_t ph, pw;  // symmetric zero padding
  int64_t oh, ow;
};

}  // namespace lk

// y = depthwise_conv(x, weight) + bias (bias may be null).
LK_ISA_DECLARE(void dwconv2d_forward(const lk::DwConvShape& s, const float* x, const float* weight, const float* bias,
                                     float* y))
// grad_x = d(sum(grad_y * y)) / dx, overwritten.
LK_ISA_DECLARE(void dwconv2d_backward_input(const lk::DwConvShape& s, const float* grad_y, const float* weight,
                                            float* grad_x))
// grad_weight [c, 1, kh, kw], overwritten.
LK_ISA_DECLARE(void dwconv2d_backward_weight(const lk::DwConvShape& s, const float* grad_y, const float* x,
                                             float* grad_weight))
