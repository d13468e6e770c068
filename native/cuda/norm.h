// Normalisation on the device (float32): BatchNorm, GroupNorm / LayerNorm and channels-first
// LayerNorm2d with the layouts, saved statistics and conventions of native/cpu/norm.h; optional
// inputs and unwanted gradients are nullptr. Every pointer is device memory.
#pragma once
#include <cstdint>

namespace lk_cuda {

// x [N, C, S]: statistics per channel. training: batch statistics (two-pass mean / biased
// variance) into mean/rstd and the running stats (if non-null) updated in place with momentum and
// the unbiased variance, as the CPU does; otherwise mean/rstd come from the running stats.
void batch_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                        bool training, double eps, double momentum, float* running_mean, float* running_var, float* y,
                        float* mean, float* rstd);
void batch_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                         const float* mean, const float* rstd, bool training, float* gx, float* gweight, float* gbias);

// Statistics per (n, group) over the contiguous (C / G) * S values; mean / rstd are [N, G].
void group_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, int64_t G, const float* weight,
                        const float* bias, double eps, float* y, float* mean, float* rstd);
void group_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, int64_t G,
                         const float* weight, const float* mean, const float* rstd, float* gx, float* gweight,
                         float* gbias);

// Statistics per (n, s) over the C values at stride S; mean / rstd are [N, S].
void channel_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                          double eps, float* y, float* mean, float* rstd);
void channel_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                           const float* mean, const float* rstd, float* gx, float* gweight, float* gbias);

}  // namespace lk_cuda
