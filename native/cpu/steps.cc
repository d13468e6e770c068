// Fused gradient-sign attack steps: each reads x, grad (and x0) once and writes the new x, so an
// attack iteration costs one memory pass (two for L2: the norms, then the update).
#include <algorithm>
#include <cmath>
#include <vector>

#include "steps.h"
#include "parallel.h"

namespace lk {
namespace {

constexpr int64_t kGrain = 1 << 14;

// sign(0) = 0 and NaN stays NaN, as torch.sign; written as selects so the loops vectorise.
inline float sign_of(float v) {
  const float s = float(v > 0.f) - float(v < 0.f);
  return v != v ? v : s;
}
// NaN propagates, as torch.clamp.
inline float clamp(float v, float lo, float hi) {
  const float a = v < lo ? lo : v;
  return a > hi ? hi : a;
}

// ||g||^2, ||x - x0||^2 and <x - x0, g> over [0, n) in one pass (blocked_sum's lanes-and-blocks
// scheme with three accumulators).
struct L2Sums {
  double gg = 0, dd = 0, dg = 0;
};
L2Sums l2_sums(const float* x, const float* g, const float* x0, int64_t n) {
  constexpr int kLanes = 16;
  constexpr int64_t kBlock = 1024;
  L2Sums r;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    float gg[kLanes] = {}, dd[kLanes] = {}, dg[kLanes] = {};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const float gv = g[i + j], d = x[i + j] - x0[i + j];
        gg[j] += gv * gv;
        dd[j] += d * d;
        dg[j] += d * gv;
      }
    for (; i < e; ++i) {
      const float gv = g[i], d = x[i] - x0[i];
      r.gg += gv * gv;
      r.dd += d * d;
      r.dg += d * gv;
    }
    for (int j = 0; j < kLanes; ++j) {
      r.gg += gg[j];
      r.dd += dd[j];
      r.dg += dg[j];
    }
  }
  return r;
}

}  // namespace

void fgsm_step(const float* x, const float* g, int64_t n, float eps, float lo, float hi, float* out) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = clamp(x[i] + eps * sign_of(g[i]), lo, hi);
  });
}

void pgd_linf_step(const float* x, const float* g, const float* x0, int64_t n, float eps, float alpha, float lo,
                   float hi, float* out) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float stepped = clamp(x[i] + alpha * sign_of(g[i]), x0[i] - eps, x0[i] + eps);
      out[i] = clamp(stepped, lo, hi);
    }
  });
}

// With d = x - x0 and u = alpha g / ||g||, the new delta d + u has
//   ||d + u||^2 = ||d||^2 + 2 alpha <d, g> / ||g|| + alpha^2,
// so one pass gets ||g||^2, ||d||^2 and <d, g>, and a second writes clamp(x0 + f (d + u)).
void pgd_l2_step(const float* x, const float* g, const float* x0, int64_t N, int64_t D, float eps, float alpha,
                 float lo, float hi, float* out) {
  // Split inside samples too, so one image still uses every thread: task t covers part of a sample.
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>((D + kGrain - 1) / kGrain, num_threads()));
  auto part_range = [&](int64_t t, int64_t* b, int64_t* e) {
    const int64_t s = t / parts, k = t % parts;
    *b = s * D + D * k / parts;
    *e = s * D + D * (k + 1) / parts;
  };
  std::vector<L2Sums> sums(size_t(N * parts));
  parallel_for(N * parts, 1, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      int64_t b, e;
      part_range(t, &b, &e);
      sums[t] = l2_sums(x + b, g + b, x0 + b, e - b);
    }
  });
  parallel_for(N * parts, 1, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      const int64_t s = t / parts;
      double gg = 0, dd = 0, dg = 0;
      for (int64_t k = 0; k < parts; ++k) {
        gg += sums[s * parts + k].gg;
        dd += sums[s * parts + k].dd;
        dg += sums[s * parts + k].dg;
      }
      const double gnorm = std::sqrt(gg);
      const double step = gnorm > 0 ? double(alpha) / gnorm : 0.0;  // zero gradient: no step
      const double delta_norm = std::sqrt(std::max(0.0, dd + 2 * step * dg + step * step * gg));
      const double f = delta_norm > double(eps) ? double(eps) / delta_norm : 1.0;
      const float fs = float(f), fu = float(f * step);
      int64_t b, e;
      part_range(t, &b, &e);
      for (int64_t i = b; i < e; ++i) out[i] = clamp(x0[i] + fs * (x[i] - x0[i]) + fu * g[i], lo, hi);
    }
  });
}

}  // namespace lk
