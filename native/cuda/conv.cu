// Dense and grouped conv2d: per image, im2col lays the input patches out as a [cin * kh * kw,
// oh * ow] matrix, and each group is one SGEMM against its weight rows (gemm.cu). The input
// gradient is the transposed SGEMM into columns, folded back by a gather (each input pixel sums
// the columns it fed, so no atomics); the weight gradient adds the images' SGEMMs in order.
#include "conv.h"

#include "gemm.h"
#include "lk_cuda.h"
#include "reduce.h"

namespace lk_cuda {
namespace {

constexpr unsigned kThreads = 256;

// The geometry in 32-bit ints (the binding keeps a plane and a column matrix below 2^31).
struct Geo {
  int h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};

// col[k][p] for k = (ci, ky, kx), p = (oy, ox): the input pixel tap k of output p meets, or 0 in the padding.
__global__ void __launch_bounds__(kThreads)
    im2col_kernel(Geo g, long long total, const float* __restrict__ x, float* __restrict__ col) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int P = g.oh * g.ow;
  const int p = int(i % P);
  const long long k = i / P;
  const int kx = int(k % g.kw), ky = int(k / g.kw % g.kh);
  const long long ci = k / ((long long)g.kh * g.kw);
  const int iy = p / g.ow * g.sh - g.ph + ky * g.dh, ix = p % g.ow * g.sw - g.pw + kx * g.dw;
  col[i] = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? x[(ci * g.h + iy) * g.w + ix] : 0.f;
}

// x[ci][iy][ix] = the sum of the columns entries that read it, taps in (ky, kx) order.
__global__ void __launch_bounds__(kThreads)
    col2im_kernel(Geo g, long long total, const float* __restrict__ col, float* __restrict__ x) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int ix = int(i % g.w), iy = int(i / g.w % g.h);
  const long long ci = i / ((long long)g.h * g.w);
  const long long P = (long long)g.oh * g.ow;
  float acc = 0.f;
  for (int ky = 0; ky < g.kh; ++ky) {
    const int ty = iy + g.ph - ky * g.dh;
    if (ty < 0 || ty % g.sh) continue;
    const int oy = ty / g.sh;
    if (oy >= g.oh) continue;
    for (int kx = 0; kx < g.kw; ++kx) {
      const int tx = ix + g.pw - kx * g.dw;
      if (tx < 0 || tx % g.sw) continue;
      const int ox = tx / g.sw;
      if (ox >= g.ow) continue;
      acc += col[((ci * g.kh + ky) * g.kw + kx) * P + (long long)oy * g.ow + ox];
    }
  }
  x[i] = acc;
}

// y[n][c][p] += bias[c]
__global__ void __launch_bounds__(kThreads) add_bias_kernel(long long total, long long cout, long long P,
                                                            const float* __restrict__ bias, float* __restrict__ y) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < total) y[i] += bias[i / P % cout];
}

// grad_bias[c]: one block per channel over (n, p), thread-strided partials and a fixed tree.
__global__ void __launch_bounds__(kThreads)
    conv_backward_bias_kernel(long long n, long long cout, long long P, const float* __restrict__ grad_y,
                              float* __restrict__ grad_bias) {
  const long long c = blockIdx.x;
  float acc = 0.f;
  for (long long i = threadIdx.x; i < n * P; i += blockDim.x) acc += grad_y[(i / P * cout + c) * P + i % P];
  const float total = block_sum(acc);
  if (threadIdx.x == 0) grad_bias[c] = total;
}

Geo geo_of(const ConvShape& s) {
  return Geo{int(s.h),  int(s.w),  int(s.kh), int(s.kw), int(s.sh), int(s.sw),
             int(s.ph), int(s.pw), int(s.dh), int(s.dw), int(s.oh), int(s.ow)};
}

// A 1x1 stride-1 unpadded conv reads the image itself as its column matrix.
bool direct(const ConvShape& s) { return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0; }

// Per-image sizes: P output pixels, K = (cin / groups) kh kw rows of a group's columns.
struct Sizes {
  int64_t P, K, cin_g, cout_g, in_image, out_image, cols;
  explicit Sizes(const ConvShape& s)
      : P(s.oh * s.ow),
        K(s.cin / s.groups * s.kh * s.kw),
        cin_g(s.cin / s.groups),
        cout_g(s.cout / s.groups),
        in_image(s.cin * s.h * s.w),
        out_image(s.cout * s.oh * s.ow),
        cols(s.cin * s.kh * s.kw * s.oh * s.ow) {}
};

// The column matrix of image b: x itself for a direct conv, else im2col into scratch.
const float* columns(const ConvShape& s, const Sizes& z, const float* x, int64_t b, float* scratch) {
  const float* image = x + b * z.in_image;
  if (direct(s)) return image;
  launch("im2col_kernel", im2col_kernel, blocks_for(z.cols, kThreads), dim3(kThreads), 0, geo_of(s), (long long)z.cols,
         image, scratch);
  return scratch;
}

}  // namespace

void conv2d_forward(const ConvShape& s, const float* x, const float* weight, const float* bias, float* y) {
  const Sizes z(s);
  DeviceBuffer scratch(direct(s) ? 0 : size_t(z.cols));
  for (int64_t b = 0; b < s.n; ++b) {
    const float* col = columns(s, z, x, b, scratch.get());
    for (int64_t g = 0; g < s.groups; ++g)
      sgemm(false, false, z.cout_g, z.P, z.K, 1.f, weight + g * z.cout_g * z.K, z.K, col + g * z.K * z.P, z.P, 0.f,
            y + b * z.out_image + g * z.cout_g * z.P, z.P);
  }
  if (bias) {
    const long long total = s.n * z.out_image;
    launch("add_bias_kernel", add_bias_kernel, blocks_for(total, kThreads), dim3(kThreads), 0, total, (long long)s.cout,
           (long long)z.P, bias, y);
  }
}

void conv2d_backward_input(const ConvShape& s, const float* grad_y, const float* weight, float* grad_x) {
  const Sizes z(s);
  DeviceBuffer scratch(direct(s) ? 0 : size_t(z.cols));
  for (int64_t b = 0; b < s.n; ++b) {
    float* col = direct(s) ? grad_x + b * z.in_image : scratch.get();
    for (int64_t g = 0; g < s.groups; ++g)
      sgemm(true, false, z.K, z.P, z.cout_g, 1.f, weight + g * z.cout_g * z.K, z.K,
            grad_y + b * z.out_image + g * z.cout_g * z.P, z.P, 0.f, col + g * z.K * z.P, z.P);
    if (!direct(s))
      launch("col2im_kernel", col2im_kernel, blocks_for(z.in_image, kThreads), dim3(kThreads), 0, geo_of(s),
             (long long)z.in_image, col, grad_x + b * z.in_image);
  }
}

void conv2d_backward_weight(const ConvShape& s, const float* grad_y, const float* x, float* grad_weight) {
  const Sizes z(s);
  DeviceBuffer scratch(direct(s) ? 0 : size_t(z.cols));
  for (int64_t b = 0; b < s.n; ++b) {
    const float* col = columns(s, z, x, b, scratch.get());
    for (int64_t g = 0; g < s.groups; ++g)
      sgemm(false, true, z.cout_g, z.K, z.P, 1.f, grad_y + b * z.out_image + g * z.cout_g * z.P, z.P,
            col + g * z.K * z.P, z.P, b == 0 ? 0.f : 1.f, grad_weight + g * z.cout_g * z.K, z.K);
  }
}

void conv2d_backward_bias(const ConvShape& s, const float* grad_y, float* grad_bias) {
  launch("conv_backward_bias_kernel", conv_backward_bias_kernel, grid_1d(s.cout), dim3(kThreads), 0, (long long)s.n,
         (long long)s.cout, (long long)(s.oh * s.ow), grad_y, grad_bias);
}

}  // namespace lk_cuda
