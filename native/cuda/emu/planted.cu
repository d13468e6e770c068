// Planted bugs for the SIMT emulation's own tests. Each kernel is what a kernel author could write
// by mistake; the test checks the emulation reports it (an error, NaN output, or a wrong result in
// most seeds). Compiled by g++ in the emulated build only.
#include "planted.h"

#include <functional>
#include <map>

#include "../lk_cuda.h"
#include "../runtime.h"

namespace {

constexpr int kBlock = 128;

// Rotates each block's values by one through shared memory; `barrier` = 0 plants a missing
// __syncthreads between the stores and the loads (a race: the neighbour may not have stored yet).
__global__ void rotate_kernel(const float* in, float* out, int barrier) {
  LK_SHARED(float[kBlock], tile);
  const int t = threadIdx.x, base = blockIdx.x * kBlock;
  tile[t] = in[base + t];
  if (barrier) __syncthreads();
  out[base + t] = tile[(t + 1) % kBlock];
}

// Thread 5 returns before the barrier the others wait at.
__global__ void early_return_kernel(const float* in, float* out) {
  LK_SHARED(float[kBlock], tile);
  const int t = threadIdx.x;
  if (t == 5) return;
  tile[t] = in[t];
  __syncthreads();
  out[t] = tile[(t + 1) % kBlock];
}

// Warp sum by xor shuffles; `divergent` = 1 calls the shuffle from half the warp only.
__global__ void warp_sum_kernel(const float* in, float* out, int divergent) {
  float v = in[blockIdx.x * blockDim.x + threadIdx.x];
  const int lane = threadIdx.x % 32;
  if (!divergent || lane < 16)
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

// Lane 3 exits, then the rest shuffle with a full mask that still names it.
__global__ void exited_lane_kernel(const float* in, float* out) {
  const int lane = threadIdx.x % 32;
  if (lane == 3) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, in[threadIdx.x], 1);
}

// Votes: out[t] = ballot of (in[t] > 0) as float bits count, any, all.
__global__ void vote_kernel(const float* in, float* out) {
  const int t = threadIdx.x;
  const int p = in[t] > 0.f;
  const unsigned ballot = __ballot_sync(0xffffffffu, p);
  const int any = __any_sync(0xffffffffu, p), all = __all_sync(0xffffffffu, p);
  out[t * 3 + 0] = float(__builtin_popcount(ballot));
  out[t * 3 + 1] = float(any);
  out[t * 3 + 2] = float(all);
}

// Writes every output but the last (an unwritten output must read as NaN).
__global__ void unwritten_kernel(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n - 1) out[i] = in[i] * 2.f;
}

// Reads one float past the input (ASan reports it in the sanitizer build).
__global__ void overrun_kernel(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i + 1];
}

// Dynamic shared memory round trip; used with too large a size to test the launch limits.
__global__ void dynamic_smem_kernel(const float* in, float* out) {
  LK_DYNAMIC_SHARED(float, buf);
  buf[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  out[threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}

// Shared memory written by one thread and read by all after a barrier (per-block, not per-thread).
__global__ void broadcast_kernel(const float* in, float* out) {
  LK_SHARED(float, value);
  if (threadIdx.x == 0) value = in[blockIdx.x];
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = value;
}

using Runner = std::function<void(const float* in, float* out, int n)>;

const std::map<std::string, std::pair<size_t /*out floats per input float*/, Runner>>& table() {
  using lk_cuda::launch;
  static const std::map<std::string, std::pair<size_t, Runner>> t = {
      {"rotate",
       {1, [](const float* in, float* out,
              int n) { launch("rotate_kernel", rotate_kernel, dim3(n / kBlock), dim3(kBlock), 0, in, out, 1); }}},
      {"rotate-missing-barrier",
       {1, [](const float* in, float* out,
              int n) { launch("rotate_kernel", rotate_kernel, dim3(n / kBlock), dim3(kBlock), 0, in, out, 0); }}},
      {"early-return",
       {1, [](const float* in, float* out,
              int) { launch("early_return_kernel", early_return_kernel, dim3(1), dim3(kBlock), 0, in, out); }}},
      {"warp-sum",
       {1, [](const float* in, float* out,
              int n) { launch("warp_sum_kernel", warp_sum_kernel, dim3(n / 64), dim3(64), 0, in, out, 0); }}},
      {"warp-sum-divergent",
       {1, [](const float* in, float* out,
              int n) { launch("warp_sum_kernel", warp_sum_kernel, dim3(n / 64), dim3(64), 0, in, out, 1); }}},
      {"exited-lane",
       {1, [](const float* in, float* out,
              int) { launch("exited_lane_kernel", exited_lane_kernel, dim3(1), dim3(32), 0, in, out); }}},
      {"vote",
       {3,
        [](const float* in, float* out, int) { launch("vote_kernel", vote_kernel, dim3(1), dim3(32), 0, in, out); }}},
      {"unwritten",
       {1, [](const float* in, float* out,
              int n) { launch("unwritten_kernel", unwritten_kernel, dim3((n + 63) / 64), dim3(64), 0, in, out, n); }}},
      {"overrun",
       {1, [](const float* in, float* out,
              int n) { launch("overrun_kernel", overrun_kernel, dim3((n + 63) / 64), dim3(64), 0, in, out, n); }}},
      {"broadcast",
       {1, [](const float* in, float* out,
              int n) { launch("broadcast_kernel", broadcast_kernel, dim3(n / 32), dim3(32), 0, in, out); }}},
      {"dynamic-smem",
       {1,
        [](const float* in, float* out, int n) {
          launch("dynamic_smem_kernel", dynamic_smem_kernel, dim3(1), dim3(unsigned(n)), sizeof(float) * size_t(n), in,
                 out);
        }}},
      // Over CUDA's limits: each must be refused before anything runs.
      {"launch-1025-threads",
       {1, [](const float* in, float* out,
              int) { launch("dynamic_smem_kernel", dynamic_smem_kernel, dim3(1), dim3(1025), 0, in, out); }}},
      {"launch-block-z-65",
       {1, [](const float* in, float* out,
              int) { launch("dynamic_smem_kernel", dynamic_smem_kernel, dim3(1), dim3(1, 1, 65), 0, in, out); }}},
      {"launch-grid-y-65536",
       {1, [](const float* in, float* out,
              int) { launch("dynamic_smem_kernel", dynamic_smem_kernel, dim3(1, 65536), dim3(32), 0, in, out); }}},
      {"launch-smem-49k",
       {1, [](const float* in, float* out,
              int) { launch("dynamic_smem_kernel", dynamic_smem_kernel, dim3(1), dim3(32), 49 * 1024, in, out); }}},
  };
  return t;
}

}  // namespace

namespace lk_emu {

std::vector<std::string> planted_names() {
  std::vector<std::string> names;
  for (const auto& kv : table()) names.push_back(kv.first);
  return names;
}

std::vector<float> run_planted(const std::string& name, const std::vector<float>& input) {
  auto it = table().find(name);
  if (it == table().end()) throw lk_cuda::Error("run_planted: unknown kernel '" + name + "'");
  const size_t n = input.size();
  lk_cuda::DeviceBuffer in(input.data(), n), out(n * it->second.first);
  it->second.second(in.get(), out.get(), int(n));
  std::vector<float> result(out.size());
  out.to_host(result.data());
  return result;
}

}  // namespace lk_emu
