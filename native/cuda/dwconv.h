// Depthwise 2-D convolution on the device (float32, NCHW), forward and the three gradients. The
// same geometry and conventions as native/cpu/dwconv.h; every pointer is device memory.
#pragma once
#include <cstdint>

namespace lk_cuda {

// x [n, c, h, w], weight [c, 1, kh, kw], y [n, c, oh, ow], oh = (h + 2 ph - kh) / sh + 1.
struct DwConvShape {
  int64_t n, c, h, w;
  int64_t kh, kw;
  int64_t sh, sw;
  int64_t ph, pw;
  int64_t oh, ow;
};

// y = depthwise_conv(x, weight) + bias (bias may be null).
void dwconv2d_forward(const DwConvShape& s, const float* x, const float* weight, const float* bias, float* y);
// grad_x [n, c, h, w], overwritten: the flipped-filter forward over grad_y (stride 1), a gather otherwise.
void dwconv2d_backward_input(const DwConvShape& s, const float* grad_y, const float* weight, float* grad_x);
// grad_weight [c, 1, kh, kw], overwritten; a fixed-order reduction over n, oh, ow (no atomics).
void dwconv2d_backward_weight(const DwConvShape& s, const float* grad_y, const float* x, float* grad_weight);
// grad_bias [c] = sum of grad_y over n, oh, ow, in a fixed order.
void dwconv2d_backward_bias(const DwConvShape& s, const float* grad_y, float* grad_bias);

}  // namespace lk_cuda
