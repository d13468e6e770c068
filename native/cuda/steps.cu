// Fused attack steps. Every float operation is written with an explicitly rounded intrinsic in the
// CPU engine's order (native/cpu/steps.cc), so the results match it bit for bit. The L2 step
// reproduces the CPU's sums exactly: per piece of a sample, blocks of 1024 floats summed in 16 float
// lanes (pass 1, one thread per lane), then the piece's double total in the CPU's order (pass 2),
// the pieces of a sample in order (pass 3), and the update (pass 4).
#include "steps.h"

#include "lk_cuda.h"
#include "runtime.h"

namespace lk_cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kLanes = 16;
constexpr long long kBlock = 1024;

// sign(0) = 0 and NaN stays NaN; clamp lets NaN through (as the CPU's).
__device__ __forceinline__ float sign_of(float v) {
  const float s = __fsub_rn(float(v > 0.f), float(v < 0.f));
  return v != v ? v : s;
}
__device__ __forceinline__ float clamp(float v, float lo, float hi) {
  const float a = v < lo ? lo : v;
  return a > hi ? hi : a;
}

__global__ void fgsm_kernel(const float* __restrict__ x, const float* __restrict__ g, long long n, float eps, float lo,
                            float hi, float* __restrict__ out) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = clamp(__fadd_rn(x[i], __fmul_rn(eps, sign_of(g[i]))), lo, hi);
}

__global__ void pgd_linf_kernel(const float* __restrict__ x, const float* __restrict__ g, const float* __restrict__ x0,
                                long long n, float eps, float alpha, float lo, float hi, float* __restrict__ out) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float stepped =
      clamp(__fadd_rn(x[i], __fmul_rn(alpha, sign_of(g[i]))), __fsub_rn(x0[i], eps), __fadd_rn(x0[i], eps));
  out[i] = clamp(stepped, lo, hi);
}

// Piece t of sample s = t / parts covers [begin, end) (the CPU's part_range).
__device__ __forceinline__ void piece_range(long long t, long long parts, long long D, long long* b, long long* e) {
  const long long s = t / parts, k = t % parts;
  *b = s * D + D * k / parts;
  *e = s * D + D * (k + 1) / parts;
}

// Pass 1: thread (piece, block, lane) sums lane `lane` of the block's whole 16-float groups.
__global__ void l2_lanes_kernel(const float* __restrict__ x, const float* __restrict__ g, const float* __restrict__ x0,
                                long long pieces, long long parts, long long D, long long blocks_per_piece,
                                float* __restrict__ lanes) {
  const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (id >= pieces * blocks_per_piece * kLanes) return;
  const int lane = int(id % kLanes);
  const long long blk = id / kLanes % blocks_per_piece, t = id / kLanes / blocks_per_piece;
  long long b, e;
  piece_range(t, parts, D, &b, &e);
  const long long bb = b + blk * kBlock;
  if (bb >= e) return;
  const long long eb = bb + kBlock < e ? bb + kBlock : e;
  const long long full = bb + (eb - bb) / kLanes * kLanes;
  float gg = 0.f, dd = 0.f, dg = 0.f;
  for (long long i = bb + lane; i < full; i += kLanes) {
    const float gv = g[i], d = __fsub_rn(x[i], x0[i]);
    gg = __fadd_rn(gg, __fmul_rn(gv, gv));
    dd = __fadd_rn(dd, __fmul_rn(d, d));
    dg = __fadd_rn(dg, __fmul_rn(d, gv));
  }
  float* o = lanes + id * 3;
  o[0] = gg, o[1] = dd, o[2] = dg;
}

// Pass 2: one thread per piece adds, block by block, the tail floats then the 16 lanes in double.
__global__ void l2_pieces_kernel(const float* __restrict__ x, const float* __restrict__ g, const float* __restrict__ x0,
                                 long long pieces, long long parts, long long D, long long blocks_per_piece,
                                 const float* __restrict__ lanes, double* __restrict__ sums) {
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= pieces) return;
  long long b, e;
  piece_range(t, parts, D, &b, &e);
  double gg = 0, dd = 0, dg = 0;
  for (long long blk = 0; b + blk * kBlock < e; ++blk) {
    const long long bb = b + blk * kBlock;
    const long long eb = bb + kBlock < e ? bb + kBlock : e;
    for (long long i = bb + (eb - bb) / kLanes * kLanes; i < eb; ++i) {
      const float gv = g[i], d = __fsub_rn(x[i], x0[i]);
      gg = __dadd_rn(gg, double(__fmul_rn(gv, gv)));
      dd = __dadd_rn(dd, double(__fmul_rn(d, d)));
      dg = __dadd_rn(dg, double(__fmul_rn(d, gv)));
    }
    const float* l = lanes + (t * blocks_per_piece + blk) * kLanes * 3;
    for (int j = 0; j < kLanes; ++j) {
      gg = __dadd_rn(gg, double(l[j * 3 + 0]));
      dd = __dadd_rn(dd, double(l[j * 3 + 1]));
      dg = __dadd_rn(dg, double(l[j * 3 + 2]));
    }
  }
  sums[t * 3 + 0] = gg, sums[t * 3 + 1] = dd, sums[t * 3 + 2] = dg;
}

// Pass 3: per sample, the pieces in order, then the step and projection factors (as the CPU).
__global__ void l2_factors_kernel(const double* __restrict__ sums, long long N, long long parts, float eps, float alpha,
                                  float* __restrict__ factors) {
  const long long s = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= N) return;
  double gg = 0, dd = 0, dg = 0;
  for (long long k = 0; k < parts; ++k) {
    gg = __dadd_rn(gg, sums[(s * parts + k) * 3 + 0]);
    dd = __dadd_rn(dd, sums[(s * parts + k) * 3 + 1]);
    dg = __dadd_rn(dg, sums[(s * parts + k) * 3 + 2]);
  }
  const double gnorm = sqrt(gg);
  const double step = gnorm > 0 ? double(alpha) / gnorm : 0.0;
  const double sq = __dadd_rn(__dadd_rn(dd, __dmul_rn(__dmul_rn(2.0, step), dg)), __dmul_rn(__dmul_rn(step, step), gg));
  const double delta_norm = sqrt(0.0 < sq ? sq : 0.0);  // std::max(0.0, sq), NaN included
  const double f = delta_norm > double(eps) ? double(eps) / delta_norm : 1.0;
  factors[s * 2 + 0] = float(f);
  factors[s * 2 + 1] = float(__dmul_rn(f, step));
}

// Pass 4: out = clamp(x0 + fs (x - x0) + fu g).
__global__ void l2_update_kernel(const float* __restrict__ x, const float* __restrict__ g, const float* __restrict__ x0,
                                 long long n, long long D, const float* __restrict__ factors, float lo, float hi,
                                 float* __restrict__ out) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float fs = factors[i / D * 2], fu = factors[i / D * 2 + 1];
  const float v = __fadd_rn(__fadd_rn(x0[i], __fmul_rn(fs, __fsub_rn(x[i], x0[i]))), __fmul_rn(fu, g[i]));
  out[i] = clamp(v, lo, hi);
}

}  // namespace

void fgsm_step(const float* x, const float* g, int64_t n, float eps, float lo, float hi, float* out) {
  if (n == 0) return;
  launch("fgsm_kernel", fgsm_kernel, blocks_for(n, kThreads), dim3(kThreads), 0, x, g, (long long)n, eps, lo, hi, out);
}

void pgd_linf_step(const float* x, const float* g, const float* x0, int64_t n, float eps, float alpha, float lo,
                   float hi, float* out) {
  if (n == 0) return;
  launch("pgd_linf_kernel", pgd_linf_kernel, blocks_for(n, kThreads), dim3(kThreads), 0, x, g, x0, (long long)n, eps,
         alpha, lo, hi, out);
}

void pgd_l2_step(const float* x, const float* g, const float* x0, int64_t N, int64_t D, int64_t parts, float eps,
                 float alpha, float lo, float hi, float* out) {
  if (N == 0 || D == 0) return;
  const long long pieces = N * parts;
  const long long longest = (D + parts - 1) / parts;
  const long long blocks_per_piece = (longest + kBlock - 1) / kBlock;
  const long long lane_threads = pieces * blocks_per_piece * kLanes;
  DeviceBuffer lanes(size_t(lane_threads * 3));
  DeviceBuffer sums(size_t(pieces * 3 * 2));  // doubles
  DeviceBuffer factors(size_t(N * 2));
  double* sums_d = reinterpret_cast<double*>(sums.get());
  launch("l2_lanes_kernel", l2_lanes_kernel, blocks_for(lane_threads, kThreads), dim3(kThreads), 0, x, g, x0, pieces,
         (long long)parts, (long long)D, blocks_per_piece, lanes.get());
  launch("l2_pieces_kernel", l2_pieces_kernel, blocks_for(pieces, kThreads), dim3(kThreads), 0, x, g, x0, pieces,
         (long long)parts, (long long)D, blocks_per_piece, static_cast<const float*>(lanes.get()), sums_d);
  launch("l2_factors_kernel", l2_factors_kernel, blocks_for(N, kThreads), dim3(kThreads), 0,
         static_cast<const double*>(sums_d), (long long)N, (long long)parts, eps, alpha, factors.get());
  launch("l2_update_kernel", l2_update_kernel, blocks_for(N * D, kThreads), dim3(kThreads), 0, x, g, x0,
         (long long)(N * D), (long long)D, static_cast<const float*>(factors.get()), lo, hi, out);
  synchronize("pgd_l2_step");  // the scratch buffers are freed on return
}

}  // namespace lk_cuda
