// BatchNorm, GroupNorm / LayerNorm and channels-first LayerNorm2d. Memory-bound: the statistics
// use the two-pass mean / variance (robust when |mean| >> std), partial sums in float lanes
// folded into double, and every kernel is split over the pool along independent statistics.
#include <algorithm>
#include <cmath>
#include <vector>

#include "norm.h"
#include "sum.h"
#include "parallel.h"

namespace lk {
namespace {

float rstd_of(double var, double eps) { return static_cast<float>(1.0 / std::sqrt(var + eps)); }

// Absent weight / bias act as ones / zeros, so the inner loops never branch on them.
struct Affine {
  std::vector<float> fill;
  const float* w;
  const float* b;
  Affine(const float* weight, const float* bias, int64_t C) {
    if (!weight || !bias) {
      fill.assign(size_t(2 * C), 0.f);
      std::fill(fill.begin(), fill.begin() + C, 1.f);
    }
    w = weight ? weight : fill.data();
    b = bias ? bias : fill.data() + C;
  }
};

// Weight / bias gradients sum over work items that share channels. Work over [0, n) is cut into
// at most num_threads() chunks, each accumulating into its own zeroed double rows gw[C], gb[C];
// the rows are summed at the end (no atomics). Without weight / bias gradients the work is
// split finely and body gets nullptr rows.
template <class Body>
void with_channel_partials(int64_t n, int64_t C, float* gweight, float* gbias, const Body& body) {
  if (!gweight && !gbias) {
    parallel_for(n, 1, [&](int64_t b, int64_t e) { body(b, e, nullptr, nullptr); });
    return;
  }
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), n));
  std::vector<double> part(size_t(chunks * 2 * C), 0.0);
  parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t ch = b; ch < e; ++ch)
      body(n * ch / chunks, n * (ch + 1) / chunks, &part[ch * 2 * C], &part[ch * 2 * C + C]);
  });
  for (int64_t c = 0; c < C; ++c) {
    double sw = 0, sb = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) {
      sw += part[ch * 2 * C + c];
      sb += part[ch * 2 * C + C + c];
    }
    if (gweight) gweight[c] = static_cast<float>(sw);
    if (gbias) gbias[c] = static_cast<float>(sb);
  }
}

double sum_of(const float* x, int64_t n) {
  return blocked_sum(n, [&](int64_t i) { return x[i]; });
}
double sum_sq_dev(const float* x, int64_t n, float m) {
  return blocked_sum(n, [&](int64_t i) { return (x[i] - m) * (x[i] - m); });
}
// sum of g * (x - m)
double dot_dev(const float* g, const float* x, int64_t n, float m) {
  return blocked_sum(n, [&](int64_t i) { return g[i] * (x[i] - m); });
}

}  // namespace

// ---- BatchNorm: one channel's statistics span N planes of S values ----------------------------

void batch_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                        bool training, double eps, double momentum, float* running_mean, float* running_var, float* y,
                        float* mean, float* rstd) {
  const Affine aff(weight, bias, C);
  const int64_t M = N * S;
  parallel_for(C, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      if (training) {
        double s = 0;
        for (int64_t n = 0; n < N; ++n) s += sum_of(x + (n * C + c) * S, S);
        const double m = s / double(M);
        double q = 0;
        for (int64_t n = 0; n < N; ++n) q += sum_sq_dev(x + (n * C + c) * S, S, float(m));
        const double var = q / double(M);
        mean[c] = float(m);
        rstd[c] = rstd_of(var, eps);
        // PyTorch: running stats take the unbiased variance.
        if (running_mean) running_mean[c] = float((1 - momentum) * running_mean[c] + momentum * m);
        if (running_var)
          running_var[c] = float((1 - momentum) * running_var[c] + momentum * var * double(M) / double(M - 1));
      } else {
        mean[c] = running_mean[c];
        rstd[c] = rstd_of(running_var[c], eps);
      }
      const float m = mean[c], sc = rstd[c] * aff.w[c], b = aff.b[c];
      for (int64_t n = 0; n < N; ++n) {
        const float* xp = x + (n * C + c) * S;
        float* yp = y + (n * C + c) * S;
        for (int64_t s = 0; s < S; ++s) yp[s] = (xp[s] - m) * sc + b;
      }
    }
  });
}

void batch_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                         const float* mean, const float* rstd, bool training, float* gx, float* gweight, float* gbias) {
  const Affine aff(weight, nullptr, C);
  const double M = double(N * S);
  const bool want_sums = training || gweight || gbias;
  parallel_for(C, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const float m = mean[c], r = rstd[c];
      double sg = 0, sgd = 0;  // sum g, sum g * (x - mean)
      if (want_sums)
        for (int64_t n = 0; n < N; ++n) {
          const int64_t o = (n * C + c) * S;
          sg += sum_of(g + o, S);
          sgd += dot_dev(g + o, x + o, S, m);
        }
      if (gweight) gweight[c] = float(sgd * r);
      if (gbias) gbias[c] = float(sg);
      if (!gx) continue;
      // gx = w r (g - mean(g) - xhat mean(g xhat)); the means vanish for fixed (running) stats.
      const float wr = aff.w[c] * r;
      const float a = training ? float(sg / M) : 0.f;
      const float bq = training ? float(sgd * r / M) * r : 0.f;
      for (int64_t n = 0; n < N; ++n) {
        const int64_t o = (n * C + c) * S;
        for (int64_t s = 0; s < S; ++s) gx[o + s] = wr * (g[o + s] - a - (x[o + s] - m) * bq);
      }
    }
  });
}

// ---- GroupNorm / LayerNorm: statistics over contiguous spans of (C / G) * S values -------------

void group_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, int64_t G, const float* weight,
                        const float* bias, double eps, float* y, float* mean, float* rstd) {
  const Affine aff(weight, bias, C);
  const int64_t Cg = C / G, span = Cg * S;
  parallel_for(N * G, 1, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      const float* xs = x + t * span;
      float* ys = y + t * span;
      const float m = float(sum_of(xs, span) / double(span));
      const float r = rstd_of(sum_sq_dev(xs, span, m) / double(span), eps);
      mean[t] = m;
      rstd[t] = r;
      const float* w = aff.w + (t % G) * Cg;
      const float* b = aff.b + (t % G) * Cg;
      if (S == 1) {  // LayerNorm: vectorise along the channels
        for (int64_t c = 0; c < Cg; ++c) ys[c] = (xs[c] - m) * r * w[c] + b[c];
      } else {
        for (int64_t c = 0; c < Cg; ++c) {
          const float sc = r * w[c], bc = b[c];
          for (int64_t s = 0; s < S; ++s) ys[c * S + s] = (xs[c * S + s] - m) * sc + bc;
        }
      }
    }
  });
}

void group_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, int64_t G,
                         const float* weight, const float* mean, const float* rstd, float* gx, float* gweight,
                         float* gbias) {
  const Affine aff(weight, nullptr, C);
  const int64_t Cg = C / G, span = Cg * S;
  with_channel_partials(N * G, C, gweight, gbias, [&](int64_t tb, int64_t te, double* gwp, double* gbp) {
    for (int64_t t = tb; t < te; ++t) {
      const float* xs = x + t * span;
      const float* gs = g + t * span;
      const float m = mean[t], r = rstd[t];
      const int64_t c0 = (t % G) * Cg;
      const float* w = aff.w + c0;
      double s1 = 0, s2 = 0;  // sum g w, sum g w (x - mean)
      if (S == 1) {
        if (gx) {
          s1 = blocked_sum(Cg, [&](int64_t c) { return gs[c] * w[c]; });
          s2 = blocked_sum(Cg, [&](int64_t c) { return gs[c] * w[c] * (xs[c] - m); });
        }
        if (gwp)
          for (int64_t c = 0; c < Cg; ++c) {
            gwp[c0 + c] += double(gs[c] * (xs[c] - m) * r);
            gbp[c0 + c] += double(gs[c]);
          }
      } else if (gx || gwp) {
        for (int64_t c = 0; c < Cg; ++c) {
          const double sg = sum_of(gs + c * S, S), sgd = dot_dev(gs + c * S, xs + c * S, S, m);
          s1 += w[c] * sg;
          s2 += w[c] * sgd;
          if (gwp) {
            gwp[c0 + c] += sgd * r;
            gbp[c0 + c] += sg;
          }
        }
      }
      if (!gx) continue;
      float* gxs = gx + t * span;
      const float a = float(s1 / double(span)), bq = float(s2 * r / double(span)) * r;
      if (S == 1) {
        for (int64_t c = 0; c < Cg; ++c) gxs[c] = r * (gs[c] * w[c] - a - (xs[c] - m) * bq);
      } else {
        for (int64_t c = 0; c < Cg; ++c) {
          const float wc = w[c];
          for (int64_t s = 0; s < S; ++s) {
            const int64_t i = c * S + s;
            gxs[i] = r * (gs[i] * wc - a - (xs[i] - m) * bq);
          }
        }
      }
    }
  });
}

// ---- Channels-first LayerNorm: statistics per pixel over C values at stride S ------------------
// Tiling: work items are (sample, run of kTile pixels); every loop runs along the pixels of the
// tile (contiguous, vectorised) while walking the channels, with one statistic per pixel.

namespace {
constexpr int64_t kTile = 64;
}

void channel_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                          double eps, float* y, float* mean, float* rstd) {
  const Affine aff(weight, bias, C);
  const int64_t tiles = (S + kTile - 1) / kTile;
  parallel_for(N * tiles, 1, [&](int64_t ib, int64_t ie) {
    double acc[kTile];
    float m[kTile], r[kTile];
    for (int64_t it = ib; it < ie; ++it) {
      const int64_t n = it / tiles, s0 = (it % tiles) * kTile, tw = std::min(kTile, S - s0);
      const float* xs = x + n * C * S + s0;
      float* ys = y + n * C * S + s0;
      std::fill(acc, acc + tw, 0.0);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < tw; ++j) acc[j] += xs[c * S + j];
      for (int64_t j = 0; j < tw; ++j) m[j] = float(acc[j] / double(C));
      std::fill(acc, acc + tw, 0.0);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < tw; ++j) {
          const float d = xs[c * S + j] - m[j];
          acc[j] += d * d;
        }
      for (int64_t j = 0; j < tw; ++j) {
        r[j] = rstd_of(acc[j] / double(C), eps);
        mean[n * S + s0 + j] = m[j];
        rstd[n * S + s0 + j] = r[j];
      }
      for (int64_t c = 0; c < C; ++c) {
        const float wc = aff.w[c], bc = aff.b[c];
        for (int64_t j = 0; j < tw; ++j) ys[c * S + j] = (xs[c * S + j] - m[j]) * r[j] * wc + bc;
      }
    }
  });
}

void channel_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                           const float* mean, const float* rstd, float* gx, float* gweight, float* gbias) {
  const Affine aff(weight, nullptr, C);
  const int64_t tiles = (S + kTile - 1) / kTile;
  with_channel_partials(N * tiles, C, gweight, gbias, [&](int64_t ib, int64_t ie, double* gwp, double* gbp) {
    double s1[kTile], s2[kTile];  // per pixel: sum_c g w, sum_c g w xhat
    float a[kTile], bq[kTile];
    for (int64_t it = ib; it < ie; ++it) {
      const int64_t n = it / tiles, s0 = (it % tiles) * kTile, tw = std::min(kTile, S - s0);
      const float* xs = x + n * C * S + s0;
      const float* gs = g + n * C * S + s0;
      const float* m = mean + n * S + s0;
      const float* r = rstd + n * S + s0;
      if (gwp)
        for (int64_t c = 0; c < C; ++c) {
          gwp[c] += blocked_sum(tw, [&](int64_t j) { return gs[c * S + j] * (xs[c * S + j] - m[j]) * r[j]; });
          gbp[c] += blocked_sum(tw, [&](int64_t j) { return gs[c * S + j]; });
        }
      if (!gx) continue;
      std::fill(s1, s1 + tw, 0.0);
      std::fill(s2, s2 + tw, 0.0);
      for (int64_t c = 0; c < C; ++c) {
        const float wc = aff.w[c];
        for (int64_t j = 0; j < tw; ++j) {
          const float gw = gs[c * S + j] * wc;
          s1[j] += gw;
          s2[j] += gw * (xs[c * S + j] - m[j]) * r[j];
        }
      }
      for (int64_t j = 0; j < tw; ++j) {
        a[j] = float(s1[j] / double(C));
        bq[j] = float(s2[j] / double(C)) * r[j];
      }
      float* gxs = gx + n * C * S + s0;
      for (int64_t c = 0; c < C; ++c) {
        const float wc = aff.w[c];
        for (int64_t j = 0; j < tw; ++j)
          gxs[c * S + j] = r[j] * (gs[c * S + j] * wc - a[j] - (xs[c * S + j] - m[j]) * bq[j]);
      }
    }
  });
}

}  // namespace lk
