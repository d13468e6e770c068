// Normalisation (norm.cc), activations / softmax / cross-entropy / pooling (nn.cc) and the fused
// gradient-sign attack steps (steps.cc). Generic C++ compiled once (memory-bound kernels: plain
// loops the compiler vectorises, split over the pool with lk::parallel_for).
//
// Conventions: raw pointers + dims, arguments already validated by the binding; outputs are
// caller-allocated. Optional inputs (weight, bias, running stats) and optional gradient outputs
// are nullptr when absent / not wanted.
#pragma once
#include <cstdint>

namespace lk {

// ---- Accurate reductions, shared by the three files ---------------------------------------
// sum over i in [0, n) of term(i): float lanes inside blocks of 1024 (independent lanes, so the
// compiler vectorises without -ffast-math), blocks folded into double (accurate for long sums).
template <class Term>
inline double blocked_sum(int64_t n, const Term& term) {
  constexpr int kLanes = 16;
  constexpr int64_t kBlock = 1024;
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = b + kBlock < n ? b + kBlock : n;
    float acc[kLanes] = {};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += term(i + j);
    double s = 0;
    for (; i < e; ++i) s += term(i);
    for (int j = 0; j < kLanes; ++j) s += acc[j];
    total += s;
  }
  return total;
}

// ---- Normalisation (norm.cc) ----------------------------------------------------------------
// All three normalise xhat = (x - mean) * rstd and apply y = xhat * weight[c] + bias[c]; they
// differ only in which elements share statistics. Saved mean / rstd feed the backward, whose
// input gradient is, over the M elements sharing statistics,
//   gx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)).

// BatchNorm over x [N, C, S] (S = H*W): statistics per channel over (N, S).
// training: batch statistics (biased variance) into mean/rstd, and running stats (if non-null)
// updated in place with momentum and the unbiased variance. Otherwise mean/rstd come from the
// running stats (required then).
void batch_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                        bool training, double eps, double momentum, float* running_mean, float* running_var,
                        float* y, float* mean, float* rstd);
// With training = false the statistics are constants: gx = g * w * rstd.
void batch_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                         const float* mean, const float* rstd, bool training, float* gx, float* gweight,
                         float* gbias);

// GroupNorm over x [N, C, S] with G groups: statistics per (n, group) over the contiguous span of
// (C / G) * S values. LayerNorm over the last dim D of [M, D] is the case N = M, C = D, S = 1, G = 1.
void group_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, int64_t G, const float* weight,
                        const float* bias, double eps, float* y, float* mean, float* rstd);
void group_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, int64_t G,
                         const float* weight, const float* mean, const float* rstd, float* gx, float* gweight,
                         float* gbias);

// Channels-first LayerNorm (ConvNeXt's LayerNorm2d) over x [N, C, S]: statistics per (n, s)
// over the C values at stride S; mean / rstd are [N, S].
void channel_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                          double eps, float* y, float* mean, float* rstd);
void channel_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                           const float* mean, const float* rstd, float* gx, float* gweight, float* gbias);

// ---- Activations, softmax, cross-entropy, pooling (nn.cc) -----------------------------------
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
void softmax_backward(const float* y, const float* g, int64_t outer, int64_t L, int64_t inner, bool log,
                      float* gx);

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

// ---- Gradient-sign attack steps (steps.cc) ---------------------------------------------------
// Over N samples of D values each. sign(0) = 0. out = clamp(x + eps * sign(g), lo, hi).
void fgsm_step(const float* x, const float* g, int64_t n, float eps, float lo, float hi, float* out);
// out = clamp(clip(x + alpha * sign(g), x0 - eps, x0 + eps), lo, hi).
void pgd_linf_step(const float* x, const float* g, const float* x0, int64_t n, float eps, float alpha, float lo,
                   float hi, float* out);
// Per sample: x + alpha * g / ||g|| (zero g: no step), delta = that - x0 projected onto the L2 ball
// of radius eps, out = clamp(x0 + delta, lo, hi).
void pgd_l2_step(const float* x, const float* g, const float* x0, int64_t N, int64_t D, float eps, float alpha,
                 float lo, float hi, float* out);

}  // namespace lk
