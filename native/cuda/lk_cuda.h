// What every kernel file includes. The same .cu source is compiled by nvcc for the GPU and by g++
// against the SIMT emulation (native/cuda/emu/simt.h) for the tests, so kernel files follow these
// rules:
//  1. Launch only through lk_cuda::launch(kernel, grid, block, dynamic_smem_bytes, args...); never
//     <<<...>>>. Above 48 KiB of dynamic shared memory call lk_cuda::allow_dynamic_smem(kernel,
//     bytes) first (both builds reject the launch otherwise).
//  2. Static shared memory: LK_SHARED(type, name), with the whole type, e.g.
//     LK_SHARED(float[32][33], tile); — one array per block (a plain `__shared__` would be one per
//     emulated thread). Dynamic shared memory: LK_DYNAMIC_SHARED(float, name); once per kernel.
//  3. No inline PTX or other device-only code outside `#if LK_CUDA_DEVICE_CODE` with a portable
//     `#else` branch; no float atomics where results must be deterministic.
//  4. Exact float arithmetic that must match the CPU bit for bit uses __fadd_rn / __fmul_rn (nvcc
//     contracts a * b + c into an FMA otherwise).
//  5. Kernels take plain pointers and sizes; host wrappers in the same file compute the launch
//     geometry, so the binding never sees a dim3.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "runtime.h"  // lk_cuda::Error

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define LK_CUDA_EMULATED 0
#if defined(__CUDA_ARCH__)
#define LK_CUDA_DEVICE_CODE 1
#else
#define LK_CUDA_DEVICE_CODE 0
#endif
namespace lk_cuda {
template <typename T>
using type_t = T;
}
#define LK_SHARED(type, name) __shared__ ::lk_cuda::type_t<type> name
#define LK_DYNAMIC_SHARED(type, name)          \
  extern __shared__ float4 lk_dynamic_smem_[]; \
  type* name = reinterpret_cast<type*>(lk_dynamic_smem_)
#else
#include "emu/simt.h"
#define LK_CUDA_EMULATED 1
#define LK_CUDA_DEVICE_CODE 0
namespace lk_cuda {
template <typename T>
using type_t = T;
}
#define LK_SHARED(type, name)                                             \
  static const char lk_shared_key_##name = 0;                             \
  ::lk_cuda::type_t<type>& name = *static_cast<::lk_cuda::type_t<type>*>( \
      ::lk_emu::shared_slot(&lk_shared_key_##name, sizeof(::lk_cuda::type_t<type>), alignof(::lk_cuda::type_t<type>)))
#define LK_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::lk_emu::dynamic_shared())
#endif

namespace lk_cuda {

#if LK_CUDA_EMULATED
template <typename... Params, typename... Args>
void launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Args... args) {
  try {
    lk_emu::launch(reinterpret_cast<const void*>(kernel), name, grid, block, smem,
                   [&] { kernel(static_cast<Params>(args)...); });
  } catch (const lk_emu::Error& e) {
    throw Error(e.what());
  }
}
template <typename... Params>
void allow_dynamic_smem(void (*kernel)(Params...), size_t bytes) {
  try {
    lk_emu::set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), bytes);
  } catch (const lk_emu::Error& e) {
    throw Error(e.what());
  }
}
#else
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw Error(std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}
template <typename... Params, typename... Args>
void launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Args... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = 0;
  check(cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...), name);
}
template <typename... Params>
void allow_dynamic_smem(void (*kernel)(Params...), size_t bytes) {
  check(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(bytes)),
        "cudaFuncSetAttribute");
}
#endif

// A 1-D grid of `blocks` blocks; more than CUDA's 2^31 - 1 is an Error here, not a wrapped count.
inline dim3 grid_1d(int64_t blocks) {
  if (blocks < 1 || blocks > 0x7fffffffLL)
    throw Error("grid of " + std::to_string(blocks) + " blocks: outside CUDA's [1, 2^31 - 1]");
  return dim3(unsigned(blocks));
}
// Blocks of `per_block` threads covering n items.
inline dim3 blocks_for(int64_t n, unsigned per_block) { return grid_1d((n + per_block - 1) / per_block); }

}  // namespace lk_cuda
