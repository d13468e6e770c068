// Device query and memory for the binding: the CUDA runtime (linked statically, so the addon loads
// without a driver and reports why), or the SIMT emulation's NaN-filled host allocations.
#include "lk_cuda.h"
#include "runtime.h"

#include <cstring>

namespace lk_cuda {

#if LK_CUDA_EMULATED

DeviceInfo device_info() {
  DeviceInfo d;
  d.available = true;
  d.backend = "cuda-emulated";
  d.name = "SIMT emulation on the CPU (correctness only)";
  return d;
}
void* device_alloc(size_t bytes) {
  try {
    return lk_emu::device_malloc(bytes);
  } catch (const lk_emu::Error& e) {
    throw Error(e.what());
  }
}
void device_free(void* p) { lk_emu::device_free(p); }
void copy_to_device(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void copy_to_host(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void copy_on_device(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void synchronize(const char*) {}

#else

DeviceInfo device_info() {
  DeviceInfo d;
  d.backend = "cuda";
  cudaRuntimeGetVersion(&d.runtime_version);
  cudaDriverGetVersion(&d.driver_version);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    d.reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    cudaGetLastError();  // clear the sticky-free error so later queries start clean
    return d;
  }
  if (count == 0) {
    d.reason = "no CUDA device";
    return d;
  }
  cudaDeviceProp p;
  const cudaError_t pe = cudaGetDeviceProperties(&p, 0);
  if (pe != cudaSuccess) {
    d.reason = std::string("cudaGetDeviceProperties: ") + cudaGetErrorName(pe);
    return d;
  }
  d.available = true;
  d.name = p.name;
  d.total_memory = p.totalGlobalMem;
  d.compute_major = p.major;
  d.compute_minor = p.minor;
  return d;
}
void* device_alloc(size_t bytes) {
  void* p = nullptr;
  check(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc");
  return p;
}
void device_free(void* p) {
  if (p) cudaFree(p);
}
void copy_to_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to device");
}
void copy_to_host(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
}
void copy_on_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0), "cudaMemcpy on device");
}
void synchronize(const char* what) { check(cudaDeviceSynchronize(), what); }

#endif

namespace {
__global__ void fill_kernel(float* p, int64_t n, float v) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}
}  // namespace

void fill(float* p, int64_t n, float v) {
  if (n > 0) launch("fill", fill_kernel, blocks_for(n, 256), dim3(256), 0, p, n, v);
}

}  // namespace lk_cuda
