// Depthwise conv2d kernels. Forward: one block per 32x32 output tile of one (n, c) plane keeps the
// input tile with its (K-1) halo and the filter in shared memory; each thread slides a register
// window of 4 vertically adjacent outputs, so one shared-memory load feeds up to 4 FMAs.
// Taps that only meet padding are skipped. The input gradient at stride 1 is that same kernel with
// the filter flipped and padding K-1-p.
#include "dwconv.h"

#include "lk_cuda.h"
#include "reduce.h"

namespace lk_cuda {
namespace {

constexpr int kTileW = 32;  // output columns per block (= blockDim.x)
constexpr int kRowsPerThread = 4;
constexpr int kThreadRows = 8;  // blockDim.y
constexpr int kTileH = kThreadRows * kRowsPerThread;

// Geometry in 32-bit ints for the kernels (planes are indexed with 64-bit bases).
struct Geo {
  int h, w, kh, kw, sh, sw, ph, pw, oh, ow, c;
  int tiles_x, tiles_y;
  int in_rows, in_cols;  // shared input tile
};

// y = conv(x, flip ? flipped weight : weight) + bias over one output tile per block.
__global__ void __launch_bounds__(kTileW* kThreadRows)
    dwconv_tile_kernel(Geo g, const float* __restrict__ x, const float* __restrict__ weight,
                       const float* __restrict__ bias, float* __restrict__ y, int flip) {
  LK_DYNAMIC_SHARED(float, smem);
  float* tile = smem;
  float* filter = smem + g.in_rows * g.in_cols;
  const int tiles = g.tiles_x * g.tiles_y;
  const long long plane = blockIdx.x / tiles;  // n * C + c
  const int c = int(plane % g.c);
  const int tile_y = int(blockIdx.x % tiles) / g.tiles_x, tile_x = int(blockIdx.x % tiles) % g.tiles_x;
  const int oy0 = tile_y * kTileH, ox0 = tile_x * kTileW;
  const int iy0 = oy0 * g.sh - g.ph, ix0 = ox0 * g.sw - g.pw;
  const int t = threadIdx.y * kTileW + threadIdx.x, nt = kTileW * kThreadRows;

  const float* xp = x + plane * (long long)g.h * g.w;
  for (int i = t; i < g.in_rows * g.in_cols; i += nt) {
    const int r = i / g.in_cols, col = i % g.in_cols;
    const int iy = iy0 + r, ix = ix0 + col;
    tile[i] = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) ? xp[(long long)iy * g.w + ix] : 0.f;
  }
  const int taps = g.kh * g.kw;
  const float* wp = weight + (long long)c * taps;
  for (int i = t; i < taps; i += nt) filter[i] = flip ? wp[taps - 1 - i] : wp[i];
  __syncthreads();

  // Thread rows: outputs oy0 + ty*R + j (j < R) in column ox0 + tx. Input row m of the thread's
  // window meets output j through filter row ky = m - j*sh.
  float acc[kRowsPerThread];
#pragma unroll
  for (int j = 0; j < kRowsPerThread; ++j) acc[j] = 0.f;
  // Window rows and columns that fall in the padding hold zeros: skip them (with a 31x31 kernel on
  // a 7x7 map that is most of the taps).
  const int window_rows = (kRowsPerThread - 1) * g.sh + g.kh;
  const int iy_base = iy0 + threadIdx.y * kRowsPerThread * g.sh, ix_base = ix0 + threadIdx.x * g.sw;
  const int m_lo = max(0, -iy_base), m_hi = min(window_rows, g.h - iy_base);
  const int kx_lo = max(0, -ix_base), kx_hi = min(g.kw, g.w - ix_base);
  const float* base = tile + (threadIdx.y * kRowsPerThread * g.sh) * g.in_cols + threadIdx.x * g.sw;
  for (int m = m_lo; m < m_hi; ++m) {
    const float* in_row = base + m * g.in_cols;
    for (int kx = kx_lo; kx < kx_hi; ++kx) {
      const float v = in_row[kx];
#pragma unroll
      for (int j = 0; j < kRowsPerThread; ++j) {
        const int ky = m - j * g.sh;
        if (ky >= 0 && ky < g.kh) acc[j] = fmaf(v, filter[ky * g.kw + kx], acc[j]);
      }
    }
  }
  const int ox = ox0 + threadIdx.x;
  if (ox >= g.ow) return;
  const float b = bias ? bias[c] : 0.f;
  float* yp = y + plane * (long long)g.oh * g.ow;
#pragma unroll
  for (int j = 0; j < kRowsPerThread; ++j) {
    const int oy = oy0 + threadIdx.y * kRowsPerThread + j;
    if (oy < g.oh) yp[(long long)oy * g.ow + ox] = acc[j] + b;
  }
}

// grad_x by gathering: each thread sums the outputs its input pixel fed (any stride and padding).
__global__ void dwconv_backward_input_gather_kernel(Geo g, long long total, const float* __restrict__ grad_y,
                                                    const float* __restrict__ weight, float* __restrict__ grad_x) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int ix = int(i % g.w), iy = int(i / g.w % g.h);
  const long long plane = i / ((long long)g.w * g.h);
  const int c = int(plane % g.c);
  const float* gy = grad_y + plane * (long long)g.oh * g.ow;
  const float* wp = weight + (long long)c * g.kh * g.kw;
  float acc = 0.f;
  for (int ky = 0; ky < g.kh; ++ky) {
    const int ty = iy + g.ph - ky;
    if (ty < 0 || ty % g.sh) continue;
    const int oy = ty / g.sh;
    if (oy >= g.oh) continue;
    for (int kx = 0; kx < g.kw; ++kx) {
      const int tx = ix + g.pw - kx;
      if (tx < 0 || tx % g.sw) continue;
      const int ox = tx / g.sw;
      if (ox >= g.ow) continue;
      acc = fmaf(gy[(long long)oy * g.ow + ox], wp[ky * g.kw + kx], acc);
    }
  }
  grad_x[i] = acc;
}

constexpr int kReduceThreads = 256;

__device__ __forceinline__ int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// grad_weight[c][ky][:]: one block per filter row; warp w takes taps kx = w, w + 8, ... For a tap,
// only the outputs whose input pixel is inside the image count: a rectangle of rows and columns,
// which lane l walks at l, l + 32, ... of each image in order; a fixed shuffle tree adds the lanes.
__global__ void __launch_bounds__(kReduceThreads)
    dwconv_backward_weight_kernel(Geo g, int n, const float* __restrict__ grad_y, const float* __restrict__ x,
                                  float* __restrict__ grad_weight) {
  const int c = int(blockIdx.x / g.kh), ky = int(blockIdx.x % g.kh);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const long long per_plane = (long long)g.oh * g.ow;
  // Output rows with 0 <= oy*sh - ph + ky < h.
  const int oy_lo = max(0, -floor_div(ky - g.ph, g.sh)), oy_hi = min(g.oh, floor_div(g.h - 1 + g.ph - ky, g.sh) + 1);
  for (int kx = warp; kx < g.kw; kx += kReduceThreads / 32) {
    const int ox_lo = max(0, -floor_div(kx - g.pw, g.sw)), ox_hi = min(g.ow, floor_div(g.w - 1 + g.pw - kx, g.sw) + 1);
    const int cols = ox_hi - ox_lo;
    const long long count = oy_hi > oy_lo && cols > 0 ? (long long)(oy_hi - oy_lo) * cols : 0;
    float acc = 0.f;
    for (int b = 0; b < n && count; ++b) {
      const long long plane = (long long)b * g.c + c;
      const float* gy = grad_y + plane * per_plane;
      const float* xp = x + plane * g.h * g.w;
      int oy = oy_lo + lane / cols, ox = ox_lo + lane % cols;  // tracked without divisions below
      for (long long r = lane; r < count; r += 32) {
        acc = fmaf(gy[(long long)oy * g.ow + ox], xp[(long long)(oy * g.sh - g.ph + ky) * g.w + ox * g.sw - g.pw + kx],
                   acc);
        ox += 32;
        while (ox >= ox_hi) ox -= cols, ++oy;
      }
    }
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) grad_weight[((long long)c * g.kh + ky) * g.kw + kx] = acc;
  }
}

// grad_bias[c] = sum over n, oy, ox of grad_y: one block per channel, same fixed order.
__global__ void __launch_bounds__(kReduceThreads)
    dwconv_backward_bias_kernel(int n, int c_count, long long per_plane, const float* __restrict__ grad_y,
                                float* __restrict__ grad_bias) {
  const int c = blockIdx.x;
  float acc = 0.f;
  for (long long i = threadIdx.x; i < per_plane * n; i += kReduceThreads) {
    const long long b = i / per_plane;
    acc += grad_y[(b * c_count + c) * per_plane + i % per_plane];
  }
  const float total = block_sum(acc);
  if (threadIdx.x == 0) grad_bias[c] = total;
}

Geo make_geo(const DwConvShape& s, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, int64_t ph, int64_t pw) {
  Geo g;
  g.h = int(in_h), g.w = int(in_w), g.kh = int(s.kh), g.kw = int(s.kw), g.sh = int(s.sh), g.sw = int(s.sw);
  g.ph = int(ph), g.pw = int(pw), g.oh = int(out_h), g.ow = int(out_w), g.c = int(s.c);
  g.tiles_x = int((out_w + kTileW - 1) / kTileW);
  g.tiles_y = int((out_h + kTileH - 1) / kTileH);
  g.in_rows = (kTileH - 1) * g.sh + g.kh;
  g.in_cols = (kTileW - 1) * g.sw + g.kw;
  return g;
}

void launch_tile(const Geo& g, int64_t planes, const float* x, const float* w, const float* b, float* y, bool flip) {
  const size_t smem = sizeof(float) * size_t(g.in_rows * g.in_cols + g.kh * g.kw);
  if (smem > 48 * 1024) allow_dynamic_smem(dwconv_tile_kernel, smem);
  const int64_t blocks = planes * g.tiles_x * g.tiles_y;
  launch("dwconv_tile_kernel", dwconv_tile_kernel, grid_1d(blocks), dim3(kTileW, kThreadRows), smem, g, x, w, b, y,
         int(flip));
}

}  // namespace

void dwconv2d_forward(const DwConvShape& s, const float* x, const float* weight, const float* bias, float* y) {
  launch_tile(make_geo(s, s.h, s.w, s.oh, s.ow, s.ph, s.pw), s.n * s.c, x, weight, bias, y, false);
}

void dwconv2d_backward_input(const DwConvShape& s, const float* grad_y, const float* weight, float* grad_x) {
  if (s.sh == 1 && s.sw == 1 && s.ph <= s.kh - 1 && s.pw <= s.kw - 1) {
    // grad_x[i] = sum_k grad_y[i + p - k] w[k] = forward over grad_y with w flipped, padding K-1-p.
    launch_tile(make_geo(s, s.oh, s.ow, s.h, s.w, s.kh - 1 - s.ph, s.kw - 1 - s.pw), s.n * s.c, grad_y, weight, nullptr,
                grad_x, true);
    return;
  }
  const Geo g = make_geo(s, s.h, s.w, s.oh, s.ow, s.ph, s.pw);
  const long long total = s.n * s.c * s.h * s.w;
  launch("dwconv_backward_input_gather_kernel", dwconv_backward_input_gather_kernel, blocks_for(total, 256), dim3(256),
         0, g, total, grad_y, weight, grad_x);
}

void dwconv2d_backward_weight(const DwConvShape& s, const float* grad_y, const float* x, float* grad_weight) {
  const Geo g = make_geo(s, s.h, s.w, s.oh, s.ow, s.ph, s.pw);
  launch("dwconv_backward_weight_kernel", dwconv_backward_weight_kernel, grid_1d(s.c * s.kh), dim3(kReduceThreads), 0,
         g, int(s.n), grad_y, x, grad_weight);
}

void dwconv2d_backward_bias(const DwConvShape& s, const float* grad_y, float* grad_bias) {
  launch("dwconv_backward_bias_kernel", dwconv_backward_bias_kernel, grid_1d(s.c), dim3(kReduceThreads), 0, int(s.n),
         int(s.c), (long long)(s.oh * s.ow), grad_y, grad_bias);
}

}  // namespace lk_cuda
