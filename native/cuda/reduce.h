// Deterministic block-wide sum for the reduction kernels: a fixed shuffle tree inside each warp,
// then warp 0 adds the warp totals in warp order. The same inputs in the same threads always give
// the same bits, whatever the scheduling (checked under several emulation seeds).
#pragma once
#include "lk_cuda.h"

namespace lk_cuda {

// Every thread of the block must call it (it holds two barriers); the total is returned to all.
__device__ __forceinline__ float block_sum(float v) {
  LK_SHARED(float[32], warp_totals);
  LK_SHARED(float, total);
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;  // a multiple of 32 (checked by callers)
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  if (t % 32 == 0) warp_totals[t / 32] = v;
  __syncthreads();
  if (t < 32) {
    float w = t < nthreads / 32 ? warp_totals[t] : 0.f;
    for (int off = 16; off > 0; off >>= 1) w += __shfl_down_sync(0xffffffffu, w, off);
    if (t == 0) total = w;
  }
  __syncthreads();
  return total;
}

}  // namespace lk_cuda
