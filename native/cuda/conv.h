// Dense and grouped conv2d on the device (float32, NCHW) with the geometry of native/cpu/conv.h:
// any stride, padding and dilation; every pointer is device memory.
#pragma once
#include <cstdint>

namespace lk_cuda {

// x [n, cin, h, w], weight [cout, cin / groups, kh, kw], y [n, cout, oh, ow].
struct ConvShape {
  int64_t n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow;
};

// y = conv(x, weight) + bias (bias may be null): im2col per image, then the tiled SGEMM per group;
// 1x1 stride-1 unpadded convs go straight to the SGEMM.
void conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias, float* y);
// grad_x: weight^T grad_y per image and group into columns, then col2im as a gather (no atomics).
void conv2d_backward_input(const ConvShape& s, const float* grad_y, const float* weight, float* grad_x);
// grad_weight = sum over images of grad_y im2col(x)^T, the images added in order (deterministic).
void conv2d_backward_weight(const ConvShape& s, const float* grad_y, const float* x, float* grad_weight);
// grad_bias [cout] = sum of grad_y over n, oh, ow (s.n, s.cout, s.oh, s.ow are read).
void conv2d_backward_bias(const ConvShape& s, const float* grad_y, float* grad_bias);

}  // namespace lk_cuda
