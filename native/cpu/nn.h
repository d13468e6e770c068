// Activations, softmax / cross-entropy and pooling (nn.cc). Generic C++ compiled once
// (memory-bound kernels: plain loops the compiler vectorises, split over the pool with
// lk::parallel_for).
//
// Conventions: raw pointers + dims, arguments already validated by the binding; outputs are
// caller-allocated. Optional inputs (weight, bias, running stats) and optional gradient outputs
// are nullptr when absent / not wanted.
#pragma once
#include <cstdint>

namespace lk {

// y = a op b elementwise over n values (scale: y = a * s; b unused).
enum class ArithOp { add = 0, sub = 1, mul = 2, scale = 3 };
void arith(ArithOp op, const float* a, const float* b, float s, int64_t n, float* y);

void relu_forward(const float* x, int64_t n, float* y);
void relu_backward(const float* x, const float* g, int64_t n, float* gx);
// Exact GELU x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), with Phi from an erfc accurate to ~1e-7
// relative in both tails (not the tanh approximation).
void gelu_forward(const float* x, int64_t n, float* y);
void gelu_backward(const float* x, const float* g, int64_t n, float* gx);

// Softmax / log-softmax over the middle dim of x viewed as [outer, L, inner]; the backward uses
// the saved output y.
void softmax_forward(const float* x, int64_t outer, int64_t L, int64_t inner, bool log, float* y);
void softmax_backward(const float* y, const float* g, int64_t outer, int64_t L, int64_t inner, bool log, float* gx);

// Per-sample cross-entropy of logits [N, K] with labels in [0, K) and label smoothing s:
// loss[i] = lse_i - (1 - s) z[i, label] - (s / K) sum_k z[i, k]; lse (log-sum-exp) is saved.
void cross_entropy_forward(const float* logits, const int32_t* labels, int64_t N, int64_t K, double smoothing,
                           float* loss, float* lse);
// gx[i, k] = gloss[i] * (softmax_k - (1 - s) [k == label] - s / K).
void cross_entropy_backward(const float* logits, const int32_t* labels, int64_t N, int64_t K, double smoothing,
                            const float* lse, const float* gloss, float* gx);

// Mean over each of `planes` contiguous planes of `S` values; backward spreads g / S.
void global_avg_pool_forward(const float* x, int64_t planes, int64_t S, float* y);
void global_avg_pool_backward(const float* g, int64_t planes, int64_t S, float* gx);

// 2-D pooling geometry for x [planes, H, W] -> y [planes, OH, OW].
struct Pool2d {
  int64_t planes, H, W, kh, kw, sh, sw, ph, pw, OH, OW;
};
// Max over each window (padding is -inf); argmax holds the in-plane index of the first maximum.
void max_pool2d_forward(const float* x, const Pool2d& p, float* y, int32_t* argmax);
void max_pool2d_backward(const float* g, const int32_t* argmax, const Pool2d& p, float* gx);
// Average with zero padding counted in the divisor (kh * kw, PyTorch's count_include_pad).
void avg_pool2d_forward(const float* x, const Pool2d& p, float* y);
void avg_pool2d_backward(const float* g, const Pool2d& p, float* gx);

}  // namespace lk
