// Activations, softmax / cross-entropy and pooling kernels. Elementwise ops are one thread per
// element; softmax and cross-entropy take one block per row and reduce it with fixed shuffle trees
// (max, then sums), so results never depend on scheduling; the pooling gradients are gathers per
// input pixel over the windows that hold it, adding in the CPU's output order (no atomics).
#include "nn.h"

#include "lk_cuda.h"
#include "reduce.h"

namespace lk_cuda {
namespace {

constexpr unsigned kThreads = 256;

enum Activation { kReluForward, kReluBackward, kGeluForward, kGeluBackward };
enum Arith { kAdd = 0, kSub = 1, kMul = 2, kScale = 3 };

// Phi(x) = erfc(-x / sqrt 2) / 2 with Numerical Recipes' erfcc, as native/cpu/nn.cc computes it.
__device__ __forceinline__ float normal_cdf(float x) {
  const float u = x * -0.70710678118654752f;
  const float z = fabsf(u);
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
  const float half_erfc = 0.5f * t * expf(q - z * z);
  return u >= 0.f ? half_erfc : 1.f - half_erfc;
}

// y may be x or g (in place): each thread reads its element before writing it.
__global__ void __launch_bounds__(kThreads)
    activation_kernel(int kind, long long n, const float* x, const float* g, float* y) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  switch (kind) {
    case kReluForward:  // keeps NaN, maps -0 to +0
      y[i] = !(v <= 0.f) ? v : 0.f;
      break;
    case kReluBackward:
      y[i] = v > 0.f ? g[i] : 0.f;
      break;
    case kGeluForward:
      y[i] = v * normal_cdf(v);
      break;
    default:
      y[i] = g[i] * (normal_cdf(v) + v * 0.39894228040143268f * expf(-0.5f * v * v));
      break;
  }
}

// a and y may be the same array (in-place accumulation): each element is read before it is written.
__global__ void __launch_bounds__(kThreads)
    arith_kernel(int op, long long n, const float* a, const float* b, float s, float* y) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = a[i];
  y[i] = op == kAdd ? v + b[i] : op == kSub ? v - b[i] : op == kMul ? v * b[i] : v * s;
}

// Block-wide maximum (ignoring NaN, like the CPU's max_of), the same shape as block_sum.
__device__ __forceinline__ float block_max(float v) {
  LK_SHARED(float[32], warp_max);
  LK_SHARED(float, result);
  const unsigned t = threadIdx.x, nthreads = blockDim.x;
  for (int off = 16; off > 0; off >>= 1) {
    const float o = __shfl_down_sync(0xffffffffu, v, off);
    v = o > v ? o : v;
  }
  if (t % 32 == 0) warp_max[t / 32] = v;
  __syncthreads();
  if (t < 32) {
    float w = t < nthreads / 32 ? warp_max[t] : -INFINITY;
    for (int off = 16; off > 0; off >>= 1) {
      const float o = __shfl_down_sync(0xffffffffu, w, off);
      w = o > w ? o : w;
    }
    if (t == 0) result = w;
  }
  __syncthreads();
  return result;
}

// Row r of [outer, L, inner] starts at (r / inner) * L * inner + r % inner, stride inner.
__global__ void __launch_bounds__(kThreads)
    softmax_forward_kernel(const float* __restrict__ x, long long L, long long inner, int log, float* __restrict__ y) {
  const long long r = blockIdx.x;
  const long long base = r / inner * L * inner + r % inner;
  float m = -INFINITY;
  for (long long l = threadIdx.x; l < L; l += blockDim.x) {
    const float v = x[base + l * inner];
    m = v > m ? v : m;
  }
  m = block_max(m);
  float s = 0.f;
  for (long long l = threadIdx.x; l < L; l += blockDim.x) {
    const float e = expf(x[base + l * inner] - m);
    y[base + l * inner] = e;
    s += e;
  }
  s = block_sum(s);
  if (log) {
    const float shift = m + logf(s);
    for (long long l = threadIdx.x; l < L; l += blockDim.x) y[base + l * inner] = x[base + l * inner] - shift;
  } else {
    const float inv = 1.f / s;
    for (long long l = threadIdx.x; l < L; l += blockDim.x) y[base + l * inner] *= inv;
  }
}

// softmax: gx = y (g - sum g y); log-softmax: gx = g - exp(y) sum g.
__global__ void __launch_bounds__(kThreads)
    softmax_backward_kernel(const float* __restrict__ y, const float* __restrict__ g, long long L, long long inner,
                            int log, float* __restrict__ gx) {
  const long long r = blockIdx.x;
  const long long base = r / inner * L * inner + r % inner;
  float s = 0.f;
  for (long long l = threadIdx.x; l < L; l += blockDim.x) {
    const long long i = base + l * inner;
    s += log ? g[i] : g[i] * y[i];
  }
  s = block_sum(s);
  for (long long l = threadIdx.x; l < L; l += blockDim.x) {
    const long long i = base + l * inner;
    gx[i] = log ? g[i] - expf(y[i]) * s : y[i] * (g[i] - s);
  }
}

__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(const float* __restrict__ logits, const int32_t* __restrict__ labels, long long K,
                                 double smoothing, float* __restrict__ loss, float* __restrict__ lse) {
  const float* z = logits + (long long)blockIdx.x * K;
  float m = -INFINITY;
  for (long long k = threadIdx.x; k < K; k += blockDim.x) m = z[k] > m ? z[k] : m;
  m = block_max(m);
  float se = 0.f, sz = 0.f;
  for (long long k = threadIdx.x; k < K; k += blockDim.x) {
    se += expf(z[k] - m);
    sz += z[k];
  }
  se = block_sum(se);
  sz = smoothing != 0 ? block_sum(sz) : 0.f;
  if (threadIdx.x == 0) {
    const double l = double(m) + ::log(double(se));
    const int32_t label = labels[blockIdx.x];
    lse[blockIdx.x] = float(l);
    loss[blockIdx.x] =
        label >= 0 && label < K ? float(l - (1 - smoothing) * z[label] - smoothing / double(K) * sz) : NAN;
  }
}

__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(const float* __restrict__ logits, const int32_t* __restrict__ labels, long long N,
                                  long long K, float off, float hit, const float* __restrict__ lse,
                                  const float* __restrict__ gloss, float* __restrict__ gx) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * K) return;
  const long long row = i / K, k = i % K;
  const int32_t label = labels[row];
  const float gl = gloss[row];
  float v = gl * (expf(logits[i] - lse[row]) - off);
  if (k == label) v -= gl * hit;
  gx[i] = label >= 0 && label < K ? v : NAN;
}

__global__ void __launch_bounds__(kThreads)
    global_avg_pool_forward_kernel(const float* __restrict__ x, long long S, float* __restrict__ y) {
  const float* xp = x + (long long)blockIdx.x * S;
  float s = 0.f;
  for (long long i = threadIdx.x; i < S; i += blockDim.x) s += xp[i];
  s = block_sum(s);
  if (threadIdx.x == 0) y[blockIdx.x] = float(double(s) / double(S));
}

__global__ void __launch_bounds__(kThreads)
    global_avg_pool_backward_kernel(const float* __restrict__ g, long long planes, long long S,
                                    float* __restrict__ gx) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < planes * S) gx[i] = g[i / S] / float(S);
}

// Pooling geometry in 32-bit ints (a plane has fewer than 2^31 pixels; the binding checks).
struct Geo {
  int H, W, kh, kw, sh, sw, ph, pw, OH, OW;
};

__device__ __forceinline__ int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Windows [oh * sh - ph, + kh) clipped to the plane: one thread per output.
__global__ void __launch_bounds__(kThreads)
    pool_forward_kernel(Geo g, long long total, int is_max, const float* __restrict__ x, float* __restrict__ y,
                        int32_t* __restrict__ argmax) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int ow = int(i % g.OW), oh = int(i / g.OW % g.OH);
  const float* xp = x + i / ((long long)g.OH * g.OW) * g.H * g.W;
  const int hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  const int h0 = max(hs, 0), h1 = min(hs + g.kh, g.H), w0 = max(ws, 0), w1 = min(ws + g.kw, g.W);
  if (is_max) {
    float best = -INFINITY;
    int at = h0 * g.W + w0;
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) {
        const float v = xp[h * g.W + w];
        if (v > best || v != v) best = v, at = h * g.W + w;  // the first maximum; NaN wins
      }
    y[i] = best;
    argmax[i] = at;
  } else {
    float s = 0.f;
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) s += xp[h * g.W + w];
    y[i] = s * (1.f / float(g.kh * g.kw));
  }
}

// gx at one input pixel: the windows holding it, in output order (argmax == pixel for max): the
// CPU's additions in the CPU's order, so the result is the CPU's bit for bit.
__global__ void __launch_bounds__(kThreads)
    pool_backward_kernel(Geo g, long long total, int is_max, const float* __restrict__ grad_y,
                         const int32_t* __restrict__ argmax, float* __restrict__ gx) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int ix = int(i % g.W), iy = int(i / g.W % g.H);
  const long long out0 = i / ((long long)g.H * g.W) * g.OH * g.OW;
  const int oh_lo = max(0, floor_div(iy + g.ph - g.kh, g.sh) + 1), oh_hi = min(g.OH - 1, floor_div(iy + g.ph, g.sh));
  const int ow_lo = max(0, floor_div(ix + g.pw - g.kw, g.sw) + 1), ow_hi = min(g.OW - 1, floor_div(ix + g.pw, g.sw));
  const int pixel = iy * g.W + ix;
  const float inv = 1.f / float(g.kh * g.kw);
  float acc = 0.f;
  for (int oh = oh_lo; oh <= oh_hi; ++oh)
    for (int ow = ow_lo; ow <= ow_hi; ++ow) {
      const long long o = out0 + (long long)oh * g.OW + ow;
      if (!is_max)
        acc += __fmul_rn(grad_y[o], inv);  // rounded product, as the CPU adds it (no FMA)
      else if (argmax[o] == pixel)
        acc += grad_y[o];
    }
  gx[i] = acc;
}

// Threads for a block that reduces a row of L values: a multiple of 32, at most kThreads.
unsigned row_threads(int64_t L) { return L <= 32 ? 32u : L <= 512 ? 128u : kThreads; }

void elementwise(int kind, const float* x, const float* g, int64_t n, float* y) {
  if (n == 0) return;
  launch("activation_kernel", activation_kernel, blocks_for(n, kThreads), dim3(kThreads), 0, kind, (long long)n, x, g,
         y);
}

Geo geo_of(const Pool2d& p) {
  return Geo{int(p.H),  int(p.W),  int(p.kh), int(p.kw), int(p.sh),
             int(p.sw), int(p.ph), int(p.pw), int(p.OH), int(p.OW)};
}

void pool_forward(const float* x, const Pool2d& p, float* y, int32_t* argmax) {
  const long long total = p.planes * p.OH * p.OW;
  if (total == 0) return;
  launch("pool_forward_kernel", pool_forward_kernel, blocks_for(total, kThreads), dim3(kThreads), 0, geo_of(p), total,
         int(argmax != nullptr), x, y, argmax);
}

void pool_backward(const float* g, const int32_t* argmax, const Pool2d& p, float* gx) {
  const long long total = p.planes * p.H * p.W;
  if (total == 0) return;
  launch("pool_backward_kernel", pool_backward_kernel, blocks_for(total, kThreads), dim3(kThreads), 0, geo_of(p), total,
         int(argmax != nullptr), g, argmax, gx);
}

}  // namespace

void arith(int op, const float* a, const float* b, float s, int64_t n, float* y) {
  if (n == 0) return;
  launch("arith_kernel", arith_kernel, blocks_for(n, kThreads), dim3(kThreads), 0, op, (long long)n, a, b, s, y);
}

void relu_forward(const float* x, int64_t n, float* y) { elementwise(kReluForward, x, nullptr, n, y); }
void relu_backward(const float* x, const float* g, int64_t n, float* gx) { elementwise(kReluBackward, x, g, n, gx); }
void gelu_forward(const float* x, int64_t n, float* y) { elementwise(kGeluForward, x, nullptr, n, y); }
void gelu_backward(const float* x, const float* g, int64_t n, float* gx) { elementwise(kGeluBackward, x, g, n, gx); }

void softmax_forward(const float* x, int64_t outer, int64_t L, int64_t inner, bool log, float* y) {
  if (outer * L * inner == 0) return;
  launch("softmax_forward_kernel", softmax_forward_kernel, grid_1d(outer * inner), dim3(row_threads(L)), 0, x,
         (long long)L, (long long)inner, int(log), y);
}

void softmax_backward(const float* y, const float* g, int64_t outer, int64_t L, int64_t inner, bool log, float* gx) {
  if (outer * L * inner == 0) return;
  launch("softmax_backward_kernel", softmax_backward_kernel, grid_1d(outer * inner), dim3(row_threads(L)), 0, y, g,
         (long long)L, (long long)inner, int(log), gx);
}

void cross_entropy_forward(const float* logits, const int32_t* labels, int64_t N, int64_t K, double smoothing,
                           float* loss, float* lse) {
  if (N == 0) return;
  launch("cross_entropy_forward_kernel", cross_entropy_forward_kernel, grid_1d(N), dim3(row_threads(K)), 0, logits,
         labels, (long long)K, smoothing, loss, lse);
}

void cross_entropy_backward(const float* logits, const int32_t* labels, int64_t N, int64_t K, double smoothing,
                            const float* lse, const float* gloss, float* gx) {
  if (N * K == 0) return;
  launch("cross_entropy_backward_kernel", cross_entropy_backward_kernel, blocks_for(N * K, kThreads), dim3(kThreads), 0,
         logits, labels, (long long)N, (long long)K, float(smoothing / double(K)), float(1 - smoothing), lse, gloss,
         gx);
}

void global_avg_pool_forward(const float* x, int64_t planes, int64_t S, float* y) {
  if (planes == 0) return;
  launch("global_avg_pool_forward_kernel", global_avg_pool_forward_kernel, grid_1d(planes), dim3(row_threads(S)), 0, x,
         (long long)S, y);
}

void global_avg_pool_backward(const float* g, int64_t planes, int64_t S, float* gx) {
  if (planes * S == 0) return;
  launch("global_avg_pool_backward_kernel", global_avg_pool_backward_kernel, blocks_for(planes * S, kThreads),
         dim3(kThreads), 0, g, (long long)planes, (long long)S, gx);
}

void max_pool2d_forward(const float* x, const Pool2d& p, float* y, int32_t* argmax) { pool_forward(x, p, y, argmax); }
void max_pool2d_backward(const float* g, const int32_t* argmax, const Pool2d& p, float* gx) {
  pool_backward(g, argmax, p, gx);
}
void avg_pool2d_forward(const float* x, const Pool2d& p, float* y) { pool_forward(x, p, y, nullptr); }
void avg_pool2d_backward(const float* g, const Pool2d& p, float* gx) { pool_backward(g, nullptr, p, gx); }

}  // namespace lk_cuda
