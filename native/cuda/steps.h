// Gradient-sign attack steps on the device, bit-identical to native/cpu/steps.cc: the same float
// operations in the same order (no FMA contraction), and for L2 the same blocked sums.
#pragma once
#include <cstdint>

namespace lk_cuda {

void fgsm_step(const float* x, const float* g, int64_t n, float eps, float lo, float hi, float* out);
void pgd_linf_step(const float* x, const float* g, const float* x0, int64_t n, float eps, float alpha, float lo,
                   float hi, float* out);
// N samples of D floats. `parts` is how many pieces the CPU engine cut each sample into for its
// norms (max(1, min(ceil(D / 16384), threads))); the sums are bit-identical for the same parts.
void pgd_l2_step(const float* x, const float* g, const float* x0, int64_t N, int64_t D, int64_t parts, float eps,
                 float alpha, float lo, float hi, float* out);

}  // namespace lk_cuda
