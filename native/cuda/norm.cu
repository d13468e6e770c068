// Normalisation kernels. A block per statistic (a BatchNorm channel, a GroupNorm (n, group)) sums
// its values with thread-strided partials and a fixed shuffle tree (reduce.h), two passes for the
// variance as on the CPU; LayerNorm2d's per-pixel statistics are one thread per pixel walking the
// channels. Weight and bias gradients are a block per channel over (n, s). No atomics anywhere, so
// every result is the same whatever the scheduling.
#include "norm.h"

#include <cmath>

#include "lk_cuda.h"
#include "reduce.h"

namespace lk_cuda {
namespace {

constexpr unsigned kThreads = 256;

// The values of one statistic: element i lies at (i / run) * stride + i % run from the block's base.
struct Segment {
  long long count, run, stride;
  __device__ __forceinline__ long long at(long long i) const { return i / run * stride + i % run; }
};

// Block-wide sum of f(offset) over a segment's elements (every thread must call it).
template <class F>
__device__ __forceinline__ float segment_sum(const Segment& seg, F f) {
  float acc = 0.f;
  for (long long i = threadIdx.x; i < seg.count; i += blockDim.x) acc += f(seg.at(i));
  return block_sum(acc);
}

__device__ __forceinline__ float rstd_of(double var, double eps) { return float(1.0 / sqrt(var + eps)); }

// One block per channel c of x [N, C, S].
__global__ void __launch_bounds__(kThreads)
    batch_norm_forward_kernel(const float* __restrict__ x, long long N, long long C, long long S,
                              const float* __restrict__ weight, const float* __restrict__ bias, int training,
                              double eps, double momentum, float* running_mean, float* running_var,
                              float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd) {
  const long long c = blockIdx.x;
  const Segment seg{N * S, S, C * S};
  const float* xc = x + c * S;
  float m, r;
  if (training) {
    const long long M = N * S;
    m = float(double(segment_sum(seg, [&](long long o) { return xc[o]; })) / double(M));
    const double var = double(segment_sum(seg, [&](long long o) { return (xc[o] - m) * (xc[o] - m); })) / double(M);
    r = rstd_of(var, eps);
    if (threadIdx.x == 0) {
      // PyTorch: running stats take the unbiased variance.
      if (running_mean) running_mean[c] = float((1 - momentum) * running_mean[c] + momentum * m);
      if (running_var)
        running_var[c] = float((1 - momentum) * running_var[c] + momentum * var * double(M) / double(M - 1));
    }
  } else {
    m = running_mean[c];
    r = rstd_of(running_var[c], eps);
  }
  if (threadIdx.x == 0) mean[c] = m, rstd[c] = r;
  const float sc = r * (weight ? weight[c] : 1.f), b = bias ? bias[c] : 0.f;
  float* yc = y + c * S;
  for (long long i = threadIdx.x; i < seg.count; i += blockDim.x) {
    const long long o = seg.at(i);
    yc[o] = (xc[o] - m) * sc + b;
  }
}

// gx = w r (g - mean(g) - xhat mean(g xhat)); the means vanish for fixed (running) statistics.
__global__ void __launch_bounds__(kThreads)
    batch_norm_backward_kernel(const float* __restrict__ x, const float* __restrict__ g, long long N, long long C,
                               long long S, const float* __restrict__ weight, const float* __restrict__ mean,
                               const float* __restrict__ rstd, int training, float* __restrict__ gx,
                               float* __restrict__ gweight, float* __restrict__ gbias) {
  const long long c = blockIdx.x;
  const Segment seg{N * S, S, C * S};
  const float* xc = x + c * S;
  const float* gc = g + c * S;
  const float m = mean[c], r = rstd[c];
  const double M = double(N * S);
  float sg = 0.f, sgd = 0.f;
  if (training || gweight || gbias) {
    sg = segment_sum(seg, [&](long long o) { return gc[o]; });
    sgd = segment_sum(seg, [&](long long o) { return gc[o] * (xc[o] - m); });
  }
  if (threadIdx.x == 0) {
    if (gweight) gweight[c] = float(double(sgd) * r);
    if (gbias) gbias[c] = sg;
  }
  if (!gx) return;
  const float wr = (weight ? weight[c] : 1.f) * r;
  const float a = training ? float(double(sg) / M) : 0.f;
  const float bq = training ? float(double(sgd) * r / M) * r : 0.f;
  float* gxc = gx + c * S;
  for (long long i = threadIdx.x; i < seg.count; i += blockDim.x) {
    const long long o = seg.at(i);
    gxc[o] = wr * (gc[o] - a - (xc[o] - m) * bq);
  }
}

// One block per (n, group): the contiguous span of cg * S values starting at blockIdx.x * span.
__global__ void __launch_bounds__(kThreads)
    group_norm_forward_kernel(const float* __restrict__ x, long long G, long long cg, long long S,
                              const float* __restrict__ weight, const float* __restrict__ bias, double eps,
                              float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd) {
  const long long t = blockIdx.x, span = cg * S, c0 = t % G * cg;
  const Segment seg{span, span, 0};
  const float* xs = x + t * span;
  const float m = float(double(segment_sum(seg, [&](long long o) { return xs[o]; })) / double(span));
  const float r =
      rstd_of(double(segment_sum(seg, [&](long long o) { return (xs[o] - m) * (xs[o] - m); })) / double(span), eps);
  if (threadIdx.x == 0) mean[t] = m, rstd[t] = r;
  float* ys = y + t * span;
  for (long long i = threadIdx.x; i < span; i += blockDim.x) {
    const long long c = c0 + i / S;
    ys[i] = (xs[i] - m) * (r * (weight ? weight[c] : 1.f)) + (bias ? bias[c] : 0.f);
  }
}

__global__ void __launch_bounds__(kThreads)
    group_norm_backward_input_kernel(const float* __restrict__ x, const float* __restrict__ g, long long G,
                                     long long cg, long long S, const float* __restrict__ weight,
                                     const float* __restrict__ mean, const float* __restrict__ rstd,
                                     float* __restrict__ gx) {
  const long long t = blockIdx.x, span = cg * S, c0 = t % G * cg;
  const Segment seg{span, span, 0};
  const float* xs = x + t * span;
  const float* gs = g + t * span;
  const float m = mean[t], r = rstd[t];
  auto w = [&](long long i) { return weight ? weight[c0 + i / S] : 1.f; };
  const float s1 = segment_sum(seg, [&](long long i) { return gs[i] * w(i); });
  const float s2 = segment_sum(seg, [&](long long i) { return gs[i] * w(i) * (xs[i] - m); });
  const float a = float(double(s1) / double(span)), bq = float(double(s2) * r / double(span)) * r;
  float* gxs = gx + t * span;
  for (long long i = threadIdx.x; i < span; i += blockDim.x) gxs[i] = r * (gs[i] * w(i) - a - (xs[i] - m) * bq);
}

// gweight[c] = sum over (n, s) of g (x - mean) rstd and gbias[c] = sum of g, one block per channel,
// for every layout: the statistic of element (n, c, s) is n * stat_n + s * stat_s + c / cg
// (BatchNorm: 0, 0, 1; GroupNorm: G, 0, C / G; LayerNorm2d: S, 1, C).
__global__ void __launch_bounds__(kThreads)
    norm_param_grad_kernel(const float* __restrict__ x, const float* __restrict__ g, long long N, long long C,
                           long long S, const float* __restrict__ mean, const float* __restrict__ rstd,
                           long long stat_n, long long stat_s, long long cg, float* __restrict__ gweight,
                           float* __restrict__ gbias) {
  const long long c = blockIdx.x;
  const Segment seg{N * S, S, C * S};
  const float* xc = x + c * S;
  const float* gc = g + c * S;
  const long long stat_c = c / cg;
  float sw = 0.f, sb = 0.f;
  for (long long i = threadIdx.x; i < seg.count; i += blockDim.x) {
    const long long o = seg.at(i), k = i / S * stat_n + i % S * stat_s + stat_c;
    sw += gc[o] * (xc[o] - mean[k]) * rstd[k];
    sb += gc[o];
  }
  sw = block_sum(sw);
  sb = block_sum(sb);
  if (threadIdx.x == 0) {
    if (gweight) gweight[c] = sw;
    if (gbias) gbias[c] = sb;
  }
}

// One thread per pixel (n, s): its C values at stride S.
__global__ void __launch_bounds__(kThreads)
    channel_norm_forward_kernel(const float* __restrict__ x, long long N, long long C, long long S,
                                const float* __restrict__ weight, const float* __restrict__ bias, double eps,
                                float* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd) {
  const long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= N * S) return;
  const long long base = p / S * C * S + p % S;
  float s = 0.f;
  for (long long c = 0; c < C; ++c) s += x[base + c * S];
  const float m = float(double(s) / double(C));
  float q = 0.f;
  for (long long c = 0; c < C; ++c) {
    const float d = x[base + c * S] - m;
    q += d * d;
  }
  const float r = rstd_of(double(q) / double(C), eps);
  mean[p] = m;
  rstd[p] = r;
  for (long long c = 0; c < C; ++c)
    y[base + c * S] = (x[base + c * S] - m) * r * (weight ? weight[c] : 1.f) + (bias ? bias[c] : 0.f);
}

__global__ void __launch_bounds__(kThreads)
    channel_norm_backward_input_kernel(const float* __restrict__ x, const float* __restrict__ g, long long N,
                                       long long C, long long S, const float* __restrict__ weight,
                                       const float* __restrict__ mean, const float* __restrict__ rstd,
                                       float* __restrict__ gx) {
  const long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= N * S) return;
  const long long base = p / S * C * S + p % S;
  const float m = mean[p], r = rstd[p];
  float s1 = 0.f, s2 = 0.f;  // sum_c g w, sum_c g w xhat
  for (long long c = 0; c < C; ++c) {
    const float gw = g[base + c * S] * (weight ? weight[c] : 1.f);
    s1 += gw;
    s2 += gw * (x[base + c * S] - m) * r;
  }
  const float a = float(double(s1) / double(C)), bq = float(double(s2) / double(C)) * r;
  for (long long c = 0; c < C; ++c) {
    const long long o = base + c * S;
    gx[o] = r * (g[o] * (weight ? weight[c] : 1.f) - a - (x[o] - m) * bq);
  }
}

// The same sums for S == 1 (LayerNorm over rows [N, C]), where a channel's values are C apart: a
// block takes 32 neighbouring channels (reads coalesced along the row) and 8 row slices, whose
// partial sums are added in slice order.
constexpr int kRowChannels = 32, kRowSlices = kThreads / kRowChannels;
__global__ void __launch_bounds__(kThreads)
    norm_param_grad_rows_kernel(const float* __restrict__ x, const float* __restrict__ g, long long N, long long C,
                                const float* __restrict__ mean, const float* __restrict__ rstd, long long stat_n,
                                long long cg, float* __restrict__ gweight, float* __restrict__ gbias) {
  LK_SHARED(float[kRowSlices][kRowChannels], part_w);
  LK_SHARED(float[kRowSlices][kRowChannels], part_b);
  const long long c = (long long)blockIdx.x * kRowChannels + threadIdx.x;
  float sw = 0.f, sb = 0.f;
  if (c < C)
    for (long long n = threadIdx.y; n < N; n += kRowSlices) {
      const long long o = n * C + c, k = n * stat_n + c / cg;
      sw += g[o] * (x[o] - mean[k]) * rstd[k];
      sb += g[o];
    }
  part_w[threadIdx.y][threadIdx.x] = sw;
  part_b[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y != 0 || c >= C) return;
  for (int j = 1; j < kRowSlices; ++j) sw += part_w[j][threadIdx.x], sb += part_b[j][threadIdx.x];
  if (gweight) gweight[c] = sw;
  if (gbias) gbias[c] = sb;
}

// Threads for a block reducing `count` values: a multiple of 32 up to kThreads, so that small
// statistics (a 7x7 BatchNorm plane, a short LayerNorm row) leave fewer threads idle.
unsigned threads_for(int64_t count) { return count <= 32 ? 32u : count <= 128 ? 128u : kThreads; }

void param_grads(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* mean, const float* rstd,
                 int64_t stat_n, int64_t stat_s, int64_t cg, float* gweight, float* gbias) {
  if ((!gweight && !gbias) || C == 0) return;
  if (S == 1)
    launch("norm_param_grad_rows_kernel", norm_param_grad_rows_kernel, blocks_for(C, kRowChannels),
           dim3(kRowChannels, kRowSlices), 0, x, g, (long long)N, (long long)C, mean, rstd, (long long)stat_n,
           (long long)cg, gweight, gbias);
  else
    launch("norm_param_grad_kernel", norm_param_grad_kernel, grid_1d(C), dim3(threads_for(N * S)), 0, x, g,
           (long long)N, (long long)C, (long long)S, mean, rstd, (long long)stat_n, (long long)stat_s, (long long)cg,
           gweight, gbias);
}

}  // namespace

void batch_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                        bool training, double eps, double momentum, float* running_mean, float* running_var, float* y,
                        float* mean, float* rstd) {
  if (C == 0) return;
  launch("batch_norm_forward_kernel", batch_norm_forward_kernel, grid_1d(C), dim3(threads_for(N * S)), 0, x,
         (long long)N, (long long)C, (long long)S, weight, bias, int(training), eps, momentum, running_mean,
         running_var, y, mean, rstd);
}

void batch_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                         const float* mean, const float* rstd, bool training, float* gx, float* gweight, float* gbias) {
  if (C == 0) return;
  launch("batch_norm_backward_kernel", batch_norm_backward_kernel, grid_1d(C), dim3(threads_for(N * S)), 0, x, g,
         (long long)N, (long long)C, (long long)S, weight, mean, rstd, int(training), gx, gweight, gbias);
}

void group_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, int64_t G, const float* weight,
                        const float* bias, double eps, float* y, float* mean, float* rstd) {
  if (N * G == 0) return;
  launch("group_norm_forward_kernel", group_norm_forward_kernel, grid_1d(N * G), dim3(threads_for(C / G * S)), 0, x,
         (long long)G, (long long)(C / G), (long long)S, weight, bias, eps, y, mean, rstd);
}

void group_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, int64_t G,
                         const float* weight, const float* mean, const float* rstd, float* gx, float* gweight,
                         float* gbias) {
  if (gx && N * G > 0)
    launch("group_norm_backward_input_kernel", group_norm_backward_input_kernel, grid_1d(N * G),
           dim3(threads_for(C / G * S)), 0, x, g, (long long)G, (long long)(C / G), (long long)S, weight, mean, rstd,
           gx);
  param_grads(x, g, N, C, S, mean, rstd, G, 0, C / G, gweight, gbias);
}

void channel_norm_forward(const float* x, int64_t N, int64_t C, int64_t S, const float* weight, const float* bias,
                          double eps, float* y, float* mean, float* rstd) {
  if (N * S == 0) return;
  launch("channel_norm_forward_kernel", channel_norm_forward_kernel, blocks_for(N * S, kThreads), dim3(kThreads), 0, x,
         (long long)N, (long long)C, (long long)S, weight, bias, eps, y, mean, rstd);
}

void channel_norm_backward(const float* x, const float* g, int64_t N, int64_t C, int64_t S, const float* weight,
                           const float* mean, const float* rstd, float* gx, float* gweight, float* gbias) {
  if (gx && N * S > 0)
    launch("channel_norm_backward_input_kernel", channel_norm_backward_input_kernel, blocks_for(N * S, kThreads),
           dim3(kThreads), 0, x, g, (long long)N, (long long)C, (long long)S, weight, mean, rstd, gx);
  param_grads(x, g, N, C, S, mean, rstd, S, 1, C > 0 ? C : 1, gweight, gbias);
}

}  // namespace lk_cuda
