// Normalisation (norm.cc): BatchNorm, GroupNorm / LayerNorm and channels-first LayerNorm.
// Generic C++ compiled once (memory-bound kernels: plain loops the compiler vectorises, split
// over the pool with lk::parallel_for).
//
// Conventions: raw pointers + dims, arguments already validated by the binding; outputs are
// caller-allocated. Optional inputs (weight, bias, running stats) and optional gradient outputs
// are nullptr when absent / not wanted.
#pragma once
#include <cstdint>

namespace lk {

// All three normalise xhat = (x - mean) * rstd and apply y = xhat * weight[c] + bias[c]; they
// differ only in which elements share statistics. Saved mean / rstd feed the backward, whose
// input gradient is, over the M elements sharing statistics,
//   gx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)).

// BatchNorm over x [N, C, S] (S = H*W): statistics per channel over (N, S).
// training: batch statistics (biased variance) into mean/rstd, and running stats (if non-null)
// updated in place with momentum and the unbiased variance. Otherwise mean/rstd come from the
// running stats (required then).
void batch_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                        bool training, double eps, double momentum, float* running_mean, float* running_var, float* y,
                        float* mean, float* rstd);
// With training = false the statistics are constants: gx = g * w * rstd.
void batch_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                         const float* mean, const float* rstd, bool training, float* gx, float* gweight, float* gbias);

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

}  // namespace lk
