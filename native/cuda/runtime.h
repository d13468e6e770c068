// Host side of the CUDA backend that the binding uses: device query, memory, copies. Plain C++
// (no CUDA headers), so the binding compiles with any C++ compiler; runtime.cu implements it
// with the CUDA runtime, or with the SIMT emulation in the emulated build.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "memory.h"

namespace lk_cuda {

// A CUDA error or an emulation finding, with the CUDA error name in the message.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct DeviceInfo {
  bool available = false;
  std::string backend;  // "cuda" or "cuda-emulated"
  std::string name;
  std::string reason;  // why not available
  size_t total_memory = 0;
  int compute_major = 0, compute_minor = 0;
  int runtime_version = 0, driver_version = 0;
};

DeviceInfo device_info();

void* device_alloc(size_t bytes);
void device_free(void* p);
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);
// p[0..n) = v, by a kernel (runtime.cu).
void fill(float* p, int64_t n, float v);
// Waits for the device and turns an asynchronous kernel fault into an Error.
void synchronize(const char* what);

// A device buffer freed by its destructor: the binding's scratch for host-array arguments
// (device tensors' memory is memory.h's).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : p_(static_cast<float*>(cached_alloc(count * sizeof(float)))), n_(count) {}
  DeviceBuffer(const float* host, size_t count) : DeviceBuffer(count) {
    copy_to_device(p_, host, count * sizeof(float));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(o.n_) {}
  ~DeviceBuffer() { cached_free(p_); }
  float* get() const { return p_; }
  size_t size() const { return n_; }
  void to_host(float* host) const { copy_to_host(host, p_, n_ * sizeof(float)); }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace lk_cuda
