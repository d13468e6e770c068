// Strided copy, strided binary arithmetic and strided sums: one thread per output element, whose
// multi-index is taken apart from its linear index over all 8 (left-padded) dims, so the loops
// unroll fully and keep the index in registers. Long reductions take a block per output instead.
#include "tensor.h"

#include "lk_cuda.h"
#include "reduce.h"

namespace lk_cuda {
namespace {

constexpr unsigned kThreads = 256;
// Reductions of at least this many terms take a block per output (a fixed tree); shorter ones a thread.
constexpr int64_t kBlockReduce = 256;

// Offsets of the element with linear index i (row-major over shape) in up to two strided layouts.
struct Offsets {
  long long a, b;
};
__device__ __forceinline__ Offsets offsets_of(long long i, const Strides& shape, const Strides& sa, const Strides& sb) {
  Offsets o{0, 0};
#pragma unroll
  for (int d = kMaxRank - 1; d >= 0; --d) {
    const long long e = shape.v[d];
    if (e == 1) continue;  // the padding dims (and any extent-1 dim) cost no division
    const long long k = i % e;
    i /= e;
    o.a += k * sa.v[d];
    o.b += k * sb.v[d];
  }
  return o;
}

__global__ void __launch_bounds__(kThreads)
    strided_copy_kernel(long long total, Strides shape, const float* __restrict__ src, Strides src_strides,
                        float* __restrict__ dst, Strides dst_strides) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const Offsets o = offsets_of(i, shape, src_strides, dst_strides);
  dst[o.b] = src[o.a];
}

__global__ void __launch_bounds__(kThreads)
    binary_strided_kernel(long long total, int op, Strides shape, const float* __restrict__ a, Strides a_strides,
                          const float* __restrict__ b, Strides b_strides, float* __restrict__ y) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const Offsets o = offsets_of(i, shape, a_strides, b_strides);
  const float u = a[o.a], v = b[o.b];
  y[i] = op == 0 ? u + v : op == 1 ? u - v : u * v;
}

// One thread per output, its terms in row-major order.
__global__ void __launch_bounds__(kThreads)
    reduce_sum_thread_kernel(long long outputs, long long terms, const float* __restrict__ x, Strides out_shape,
                             Strides out_strides, Strides red_shape, Strides red_strides, float scale,
                             float* __restrict__ y) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= outputs) return;
  const float* base = x + offsets_of(i, out_shape, out_strides, out_strides).a;
  float acc = 0.f;
  for (long long j = 0; j < terms; ++j) acc += base[offsets_of(j, red_shape, red_strides, red_strides).a];
  y[i] = scale * acc;
}

// One block per output: thread t adds terms t, t + blockDim, ..., then a fixed shuffle tree.
__global__ void __launch_bounds__(kThreads)
    reduce_sum_block_kernel(long long terms, const float* __restrict__ x, Strides out_shape, Strides out_strides,
                            Strides red_shape, Strides red_strides, float scale, float* __restrict__ y) {
  const long long i = blockIdx.x;
  const float* base = x + offsets_of(i, out_shape, out_strides, out_strides).a;
  float acc = 0.f;
  for (long long j = threadIdx.x; j < terms; j += blockDim.x)
    acc += base[offsets_of(j, red_shape, red_strides, red_strides).a];
  const float total = block_sum(acc);
  if (threadIdx.x == 0) y[i] = scale * total;
}

int64_t count(const Strides& shape) {
  int64_t n = 1;
  for (int d = 0; d < kMaxRank; ++d) n *= shape.v[d];
  return n;
}

}  // namespace

void strided_copy(const Strides& shape, const float* src, int64_t src_offset, const Strides& src_strides, float* dst,
                  int64_t dst_offset, const Strides& dst_strides) {
  const int64_t total = count(shape);
  if (total == 0) return;
  launch("strided_copy_kernel", strided_copy_kernel, blocks_for(total, kThreads), dim3(kThreads), 0, (long long)total,
         shape, src + src_offset, src_strides, dst + dst_offset, dst_strides);
}

void binary_strided(int op, const Strides& shape, const float* a, int64_t a_offset, const Strides& a_strides,
                    const float* b, int64_t b_offset, const Strides& b_strides, float* y) {
  const int64_t total = count(shape);
  if (total == 0) return;
  launch("binary_strided_kernel", binary_strided_kernel, blocks_for(total, kThreads), dim3(kThreads), 0,
         (long long)total, op, shape, a + a_offset, a_strides, b + b_offset, b_strides, y);
}

void reduce_sum(const float* x, int64_t x_offset, const Strides& out_shape, const Strides& out_strides,
                const Strides& red_shape, const Strides& red_strides, float scale, float* y) {
  const int64_t outputs = count(out_shape), terms = count(red_shape);
  if (outputs == 0) return;
  if (terms < kBlockReduce)
    launch("reduce_sum_thread_kernel", reduce_sum_thread_kernel, blocks_for(outputs, kThreads), dim3(kThreads), 0,
           (long long)outputs, (long long)terms, terms ? x + x_offset : x, out_shape, out_strides, red_shape,
           red_strides, scale, y);
  else
    launch("reduce_sum_block_kernel", reduce_sum_block_kernel, grid_1d(outputs), dim3(kThreads), 0, (long long)terms,
           x + x_offset, out_shape, out_strides, red_shape, red_strides, scale, y);
}

}  // namespace lk_cuda
