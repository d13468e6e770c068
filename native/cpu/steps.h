// The fused gradient-sign attack steps (steps.cc): one memory pass per step. Generic C++
// compiled once; arguments already validated by the binding, outputs caller-allocated.
#pragma once
#include <cstdint>

namespace lk {

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
