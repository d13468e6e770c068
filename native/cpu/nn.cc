// Activations, softmax / log-softmax, cross-entropy and 2-D pooling. Memory-bound elementwise and
// row-wise kernels: independent rows / planes are split over the pool.
//
// binding.gyp builds with -fno-trapping-math (the engine never unmasks floating-point
// exceptions), which lets GCC turn the selects in exp_f / normal_cdf into vector blends.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "nn.h"
#include "sum.h"
#include "parallel.h"

namespace lk {
namespace {

constexpr int64_t kElemGrain = 1 << 14;  // elementwise work per task: large enough to pay a wake-up

// Maximum of x[0..n) in independent lanes (vectorisable; a plain running max is not).
float max_of(const float* x, int64_t n) {
  constexpr int kLanes = 16;
  float lane[kLanes];
  std::fill(lane, lane + kLanes, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
  float m = -std::numeric_limits<float>::infinity();
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int j = 0; j < kLanes; ++j) m = lane[j] > m ? lane[j] : m;
  return m;
}

// e^x in float without a libm call, so loops around it vectorise. x = n ln2 + r with |r| <= ln2/2
// (Cody-Waite split of ln2), e^r by Cephes' expf polynomial (~1 ulp), 2^n built in the exponent
// bits. Arguments below -87.3 give 0, above 88 give e^88 (only x <= 0 occurs here); NaN propagates.
inline float exp_f(float x) {
  // Unnested selects: each comparison runs unconditionally, so the loop can be if-converted.
  float xc = x < 88.f ? x : 88.f;  // NaN -> 88, restored below
  xc = xc > -87.3f ? xc : -87.3f;
  const float n = (xc * 1.44269504f + 12582912.f) - 12582912.f;  // round to nearest (1.5 * 2^23)
  const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float v = p * scale;
  const float under = x < -87.3f ? 0.f : v;
  return x != x ? x : under;
}
// Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2, with erfc(z), z >= 0, from Numerical
// Recipes' erfcc (fractional error < 1.2e-7 for all z): accurate in both tails, so
// gelu(x) = x Phi(x) keeps its relative accuracy for large negative x.
inline float normal_cdf(float x) {
  const float u = x * -0.70710678118654752f;
  const float z = std::fabs(u);
  const float t = 1.f / (1.f + 0.5f * z);
  float q = 0.17087277f;
  q = q * t - 0.82215223f;
  q = q * t + 1.48851587f;
  q = q * t - 1.13520398f;
  q = q * t + 0.27886807f;
  q = q * t - 0.18628806f;
  q = q * t + 0.09678418f;
  q = q * t + 0.37409196f;
  q = q * t + 1.00002368f;
  q = q * t - 1.26551223f;
  const float half_erfc = 0.5f * t * exp_f(q - z * z);
  return u >= 0.f ? half_erfc : 1.f - half_erfc;
}

}  // namespace

// ---- Activations --------------------------------------------------------------------------------

void relu_forward(const float* x, int64_t n, float* y) {
  parallel_for(n, kElemGrain, [&](int64_t b, int64_t e) {
    // !(x <= 0) keeps NaN (PyTorch propagates it) and still maps -0 to +0.
    for (int64_t i = b; i < e; ++i) y[i] = !(x[i] <= 0.f) ? x[i] : 0.f;
  });
}

void relu_backward(const float* x, const float* g, int64_t n, float* gx) {
  parallel_for(n, kElemGrain, [&](int64_t b, int64_t e) {
    // Both loads unconditional, so this is a select rather than a data-dependent branch.
    for (int64_t i = b; i < e; ++i) {
      const float gv = g[i];
      gx[i] = x[i] > 0.f ? gv : 0.f;
    }
  });
}

namespace {
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
}  // namespace

// GELU is compute-bound (an erfc and an exp per element), so its loops are compiled for AVX-512,
// AVX2 and the baseline, and the loader picks one for the CPU (GCC target_clones, an ifunc).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LK_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LK_MULTIVERSION
#endif

LK_MULTIVERSION static void gelu_forward_range(const float* x, float* y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) y[i] = x[i] * normal_cdf(x[i]);
}

// d/dx [x Phi(x)] = Phi(x) + x phi(x).
LK_MULTIVERSION static void gelu_backward_range(const float* x, const float* g, float* gx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    const float v = x[i];
    gx[i] = g[i] * (normal_cdf(v) + v * kInvSqrt2Pi * exp_f(-0.5f * v * v));
  }
}

// Same-shape arithmetic (residual adds, gradients of broadcasting ops): memory-bound, one loop per
// operation so each vectorises; clones for AVX-512 / AVX2 / baseline like GELU.
LK_MULTIVERSION static void arith_range(ArithOp op, const float* a, const float* b, float s, float* y, int64_t i0,
                                        int64_t i1) {
  switch (op) {
    case ArithOp::add:
      for (int64_t i = i0; i < i1; ++i) y[i] = a[i] + b[i];
      break;
    case ArithOp::sub:
      for (int64_t i = i0; i < i1; ++i) y[i] = a[i] - b[i];
      break;
    case ArithOp::mul:
      for (int64_t i = i0; i < i1; ++i) y[i] = a[i] * b[i];
      break;
    case ArithOp::scale:
      for (int64_t i = i0; i < i1; ++i) y[i] = a[i] * s;
      break;
  }
}

void arith(ArithOp op, const float* a, const float* b, float s, int64_t n, float* y) {
  parallel_for(n, kElemGrain, [&](int64_t i0, int64_t i1) { arith_range(op, a, b, s, y, i0, i1); });
}

void gelu_forward(const float* x, int64_t n, float* y) {
  parallel_for(n, kElemGrain / 4, [&](int64_t b, int64_t e) { gelu_forward_range(x, y, b, e); });
}

void gelu_backward(const float* x, const float* g, int64_t n, float* gx) {
  parallel_for(n, kElemGrain / 4, [&](int64_t b, int64_t e) { gelu_backward_range(x, g, gx, b, e); });
}

// ---- Softmax / log-softmax ------------------------------------------------------------------------
// Contiguous rows (inner == 1) run along the row; otherwise a tile of kTile neighbouring columns
// is processed together, each loop running along the tile (contiguous) while walking L. The exp
// makes these compute-bound, so they get the AVX-512 / AVX2 clones too.

namespace {

constexpr int64_t kTile = 64;

LK_MULTIVERSION void softmax_row(const float* x, int64_t L, bool log, float* y) {
  const float m = max_of(x, L);
  for (int64_t l = 0; l < L; ++l) y[l] = exp_f(x[l] - m);
  const double s = blocked_sum(L, [&](int64_t l) { return y[l]; });
  if (log) {
    const float shift = m + float(std::log(s));
    for (int64_t l = 0; l < L; ++l) y[l] = x[l] - shift;
  } else {
    const float inv = float(1.0 / s);
    for (int64_t l = 0; l < L; ++l) y[l] *= inv;
  }
}

// softmax: gx = y (g - sum g y); log-softmax: gx = g - exp(y) sum g.
LK_MULTIVERSION void softmax_row_backward(const float* y, const float* g, int64_t L, bool log, float* gx) {
  if (log) {
    const float s = float(blocked_sum(L, [&](int64_t l) { return g[l]; }));
    for (int64_t l = 0; l < L; ++l) gx[l] = g[l] - exp_f(y[l]) * s;
  } else {
    const float s = float(blocked_sum(L, [&](int64_t l) { return g[l] * y[l]; }));
    for (int64_t l = 0; l < L; ++l) gx[l] = y[l] * (g[l] - s);
  }
}

// A tile of tw columns at stride `inner`.
LK_MULTIVERSION void softmax_tile(const float* x, int64_t L, int64_t inner, int64_t tw, bool log, float* y) {
  float m[kTile];
  double s[kTile];
  std::fill(m, m + tw, -std::numeric_limits<float>::infinity());
  std::fill(s, s + tw, 0.0);
  for (int64_t l = 0; l < L; ++l)
    for (int64_t j = 0; j < tw; ++j) m[j] = x[l * inner + j] > m[j] ? x[l * inner + j] : m[j];
  for (int64_t l = 0; l < L; ++l)
    for (int64_t j = 0; j < tw; ++j) {
      const float e = exp_f(x[l * inner + j] - m[j]);
      y[l * inner + j] = e;
      s[j] += e;
    }
  float f[kTile];
  for (int64_t j = 0; j < tw; ++j) f[j] = log ? m[j] + float(std::log(s[j])) : float(1.0 / s[j]);
  for (int64_t l = 0; l < L; ++l)
    for (int64_t j = 0; j < tw; ++j) y[l * inner + j] = log ? x[l * inner + j] - f[j] : y[l * inner + j] * f[j];
}

LK_MULTIVERSION void softmax_tile_backward(const float* y, const float* g, int64_t L, int64_t inner, int64_t tw,
                                           bool log, float* gx) {
  double s[kTile];
  std::fill(s, s + tw, 0.0);
  for (int64_t l = 0; l < L; ++l)
    for (int64_t j = 0; j < tw; ++j) s[j] += log ? g[l * inner + j] : g[l * inner + j] * y[l * inner + j];
  float sf[kTile];
  for (int64_t j = 0; j < tw; ++j) sf[j] = float(s[j]);
  for (int64_t l = 0; l < L; ++l)
    for (int64_t j = 0; j < tw; ++j) {
      const int64_t i = l * inner + j;
      gx[i] = log ? g[i] - exp_f(y[i]) * sf[j] : y[i] * (g[i] - sf[j]);
    }
}

// Calls fn(offset, tile width) for every row (inner == 1) or column tile of x [outer, L, inner].
template <class Fn>
void for_each_softmax_tile(int64_t outer, int64_t L, int64_t inner, const Fn& fn) {
  const int64_t tiles = (inner + kTile - 1) / kTile;
  const int64_t grain = std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, L * std::min(inner, kTile)));
  parallel_for(outer * tiles, grain, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; ++it) {
      const int64_t o = it / tiles, j0 = (it % tiles) * kTile;
      fn(o * L * inner + j0, std::min(kTile, inner - j0));
    }
  });
}

}  // namespace

void softmax_forward(const float* x, int64_t outer, int64_t L, int64_t inner, bool log, float* y) {
  for_each_softmax_tile(outer, L, inner, [&](int64_t off, int64_t tw) {
    if (inner == 1)
      softmax_row(x + off, L, log, y + off);
    else
      softmax_tile(x + off, L, inner, tw, log, y + off);
  });
}

void softmax_backward(const float* y, const float* g, int64_t outer, int64_t L, int64_t inner, bool log, float* gx) {
  for_each_softmax_tile(outer, L, inner, [&](int64_t off, int64_t tw) {
    if (inner == 1)
      softmax_row_backward(y + off, g + off, L, log, gx + off);
    else
      softmax_tile_backward(y + off, g + off, L, inner, tw, log, gx + off);
  });
}

// ---- Cross-entropy ---------------------------------------------------------------------------------

void cross_entropy_forward(const float* logits, const int32_t* labels, int64_t N, int64_t K, double smoothing,
                           float* loss, float* lse) {
  parallel_for(N, std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, K)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* z = logits + i * K;
      const float m = max_of(z, K);
      const double se = blocked_sum(K, [&](int64_t k) { return exp_f(z[k] - m); });
      const double l = double(m) + std::log(se);
      const double sz = smoothing != 0 ? blocked_sum(K, [&](int64_t k) { return z[k]; }) : 0.0;
      lse[i] = float(l);
      loss[i] = float(l - (1 - smoothing) * z[labels[i]] - smoothing / double(K) * sz);
    }
  });
}

void cross_entropy_backward(const float* logits, const int32_t* labels, int64_t N, int64_t K, double smoothing,
                            const float* lse, const float* gloss, float* gx) {
  const float off = float(smoothing / double(K)), hit = float(1 - smoothing);
  parallel_for(N, std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, K)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float* z = logits + i * K;
      float* gz = gx + i * K;
      const float gl = gloss[i], l = lse[i];
      for (int64_t k = 0; k < K; ++k) gz[k] = gl * (exp_f(z[k] - l) - off);
      gz[labels[i]] -= gl * hit;
    }
  });
}

// ---- Pooling -----------------------------------------------------------------------------------------

void global_avg_pool_forward(const float* x, int64_t planes, int64_t S, float* y) {
  parallel_for(planes, std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, S)), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) y[p] = float(blocked_sum(S, [&](int64_t i) { return x[p * S + i]; }) / double(S));
  });
}

void global_avg_pool_backward(const float* g, int64_t planes, int64_t S, float* gx) {
  parallel_for(planes, std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, S)), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) std::fill(gx + p * S, gx + (p + 1) * S, g[p] / float(S));
  });
}

namespace {

// Planes per task: about kElemGrain window taps (in double: OH * OW * kh * kw may pass 2^63).
int64_t window_grain(const Pool2d& p) {
  const double taps = double(p.OH) * double(p.OW) * double(p.kh) * double(p.kw);
  return taps >= double(kElemGrain) ? 1 : int64_t(double(kElemGrain) / std::max(1.0, taps));
}

// Calls fn(plane, output index, h0, h1, w0, w1) for every output of one plane, with the window
// clipped to the input ([h0, h1) x [w0, w1)); planes are split over the pool.
template <class Fn>
void for_each_window(const Pool2d& p, const Fn& fn) {
  parallel_for(p.planes, window_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl)
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        const int64_t hs = oh * p.sh - p.ph;
        const int64_t h0 = std::max<int64_t>(hs, 0), h1 = std::min(hs + p.kh, p.H);
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          const int64_t ws = ow * p.sw - p.pw;
          fn(pl, oh * p.OW + ow, h0, h1, std::max<int64_t>(ws, 0), std::min(ws + p.kw, p.W));
        }
      }
  });
}

}  // namespace

// Rounds towards -inf (C++ '/' truncates), for b > 0.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Tiling: one output row at a time; for each window tap (h, j) the loop runs along the row's
// outputs (independent lanes, vectorised), visiting every window in row-major order.
void max_pool2d_forward(const float* x, const Pool2d& p, float* y, int32_t* argmax) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  // Taps that meet the row for some output: 0 <= ow * sw - pw + j < W with ow < OW (a window far
  // wider than the padded row would otherwise cost kw steps per row for nothing).
  const int64_t j0 = std::max<int64_t>(0, p.pw - (p.OW - 1) * p.sw), j1 = std::min(p.kw, p.pw + p.W);
  parallel_for(p.planes, window_grain(p), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const float* xp = x + pl * HW;
      for (int64_t oh = 0; oh < p.OH; ++oh) {
        float* best = y + pl * OHW + oh * p.OW;
        int32_t* at = argmax + pl * OHW + oh * p.OW;
        const int64_t hs = oh * p.sh - p.ph;
        const int64_t h0 = std::max<int64_t>(hs, 0), h1 = std::min(hs + p.kh, p.H);
        for (int64_t ow = 0; ow < p.OW; ++ow) {
          best[ow] = -std::numeric_limits<float>::infinity();
          at[ow] = int32_t(h0 * p.W + std::max<int64_t>(ow * p.sw - p.pw, 0));
        }
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t j = j0; j < j1; ++j) {
            // Outputs whose tap j falls inside the row: 0 <= ow * sw - pw + j < W.
            const int64_t lo = std::max<int64_t>(0, -floor_div(j - p.pw, p.sw));
            const int64_t hi = std::min(p.OW, floor_div(p.W - 1 + p.pw - j, p.sw) + 1);
            const float* row = xp + h * p.W - p.pw + j;
            const int32_t base = int32_t(h * p.W - p.pw + j);
            // Strict '>' keeps the first maximum; NaN wins as in PyTorch.
            for (int64_t ow = lo; ow < hi; ++ow) {
              const float v = row[ow * p.sw];
              const bool take = v > best[ow] || v != v;
              best[ow] = take ? v : best[ow];
              at[ow] = take ? base + int32_t(ow * p.sw) : at[ow];
            }
          }
      }
    }
  });
}

void max_pool2d_backward(const float* g, const int32_t* argmax, const Pool2d& p, float* gx) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  parallel_for(p.planes, std::max<int64_t>(1, kElemGrain / std::max<int64_t>(1, HW)), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      float* gp = gx + pl * HW;
      std::fill(gp, gp + HW, 0.f);
      for (int64_t o = 0; o < OHW; ++o) gp[argmax[pl * OHW + o]] += g[pl * OHW + o];
    }
  });
}

void avg_pool2d_forward(const float* x, const Pool2d& p, float* y) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const float inv = 1.f / float(p.kh * p.kw);
  for_each_window(p, [&](int64_t pl, int64_t o, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    const float* xp = x + pl * HW;
    float s = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += xp[h * p.W + w];
    y[pl * OHW + o] = s * inv;
  });
}

void avg_pool2d_backward(const float* g, const Pool2d& p, float* gx) {
  const int64_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const float inv = 1.f / float(p.kh * p.kw);
  // Zero every plane first; afterwards all windows of a plane are accumulated by one task.
  parallel_for(p.planes, 1, [&](int64_t b, int64_t e) { std::fill(gx + b * HW, gx + e * HW, 0.f); });
  for_each_window(p, [&](int64_t pl, int64_t o, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    float* gp = gx + pl * HW;
    const float v = g[pl * OHW + o] * inv;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) gp[h * p.W + w] += v;
  });
}

}  // namespace lk
