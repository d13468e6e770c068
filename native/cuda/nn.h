// Activations, softmax / cross-entropy and 2-D pooling on the device (float32): the CPU addon's
// nn family (native/cpu/nn.h) with the same layouts and conventions; every pointer is device memory.
#pragma once
#include <cstdint>

namespace lk_cuda {

// y = a op b elementwise (op: lk::ArithOp's codes add 0, sub 1, mul 2, scale 3: y = a * s).
void arith(int op, const float* a, const float* b, float s, int64_t n, float* y);

void relu_forward(const float* x, int64_t n, float* y);
void relu_backward(const float* x, const float* g, int64_t n, float* gx);
// Exact GELU x Phi(x), Phi from the same erfc as the CPU's (accurate in both tails).
void gelu_forward(const float* x, int64_t n, float* y);
void gelu_backward(const float* x, const float* g, int64_t n, float* gx);

// Softmax / log-softmax over the middle dim of [outer, L, inner]; one block per (outer, inner) row.
void softmax_forward(const float* x, int64_t outer, int64_t L, int64_t inner, bool log, float* y);
void softmax_backward(const float* y, const float* g, int64_t outer, int64_t L, int64_t inner, bool log, float* gx);

// Cross-entropy of logits [N, K] with label smoothing s; labels are int32 on the device. A label
// outside [0, K) (possible only from a DeviceArray, which the binding cannot read) gives a NaN loss
// and a NaN gradient row instead of a read out of bounds.
void cross_entropy_forward(const float* logits, const int32_t* labels, int64_t N, int64_t K, double smoothing,
                           float* loss, float* lse);
void cross_entropy_backward(const float* logits, const int32_t* labels, int64_t N, int64_t K, double smoothing,
                            const float* lse, const float* gloss, float* gx);

void global_avg_pool_forward(const float* x, int64_t planes, int64_t S, float* y);
void global_avg_pool_backward(const float* g, int64_t planes, int64_t S, float* gx);

// x [planes, H, W] -> y [planes, OH, OW], as lk::Pool2d.
struct Pool2d {
  int64_t planes, H, W, kh, kw, sh, sw, ph, pw, OH, OW;
};
// Max over each window (first maximum wins, NaN wins as on the CPU); argmax: in-plane index.
void max_pool2d_forward(const float* x, const Pool2d& p, float* y, int32_t* argmax);
// A gather per input pixel over the windows that contain it (no atomics); an argmax entry that
// names no pixel of its window (possible only from a DeviceArray) contributes nothing.
void max_pool2d_backward(const float* g, const int32_t* argmax, const Pool2d& p, float* gx);
// Zero padding counted in the divisor (kh * kw).
void avg_pool2d_forward(const float* x, const Pool2d& p, float* y);
void avg_pool2d_backward(const float* g, const Pool2d& p, float* gx);

}  // namespace lk_cuda
