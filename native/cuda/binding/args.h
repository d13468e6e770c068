// Arguments of the CUDA addon's functions. Every array argument is either a DeviceArray (a device
// tensor's memory, used in place) or a host Float32Array / Int32Array, which is copied to a
// scratch device buffer and, for outputs, copied back when the call finishes: the device path of
// the ops passes DeviceArrays; the kernel tests pass host arrays. Lengths are checked exactly as
// the CPU addon checks them (native/binding/napi_util.h), and every error names the function.
#pragma once
#include <memory>
#include <vector>

#include "../../binding/napi_util.h"
#include "../runtime.h"

namespace lkc {

// A block of device memory holding `length` 4-byte elements (float32, or int32 where a kernel
// says so), owned by a JS object: new DeviceArray(length). Freed to the caching allocator by
// dispose() or, failing that, by the garbage collector; its bytes are reported to V8 as external
// memory so the collector knows what it holds.
//   .length                      element count
//   .disposed                    whether dispose() ran
//   .dispose()                   frees the memory now (idempotent)
//   .upload(src, offset = 0)     copies a host Float32Array/Int32Array in at element `offset`
//   .download(dst?)              copies out to dst (a Float32Array of .length) or a new Float32Array
//   .copyFrom(other)             device-to-device copy of an equal-length DeviceArray
//   .fill(value)                 every element = value (float32)
class DeviceArray : public Napi::ObjectWrap<DeviceArray> {
 public:
  static void define(Napi::Env env, Napi::Object exports);
  // The DeviceArray in v, or nullptr when v is not one.
  static DeviceArray* from(Napi::Env env, Napi::Value v);

  explicit DeviceArray(const Napi::CallbackInfo& info);
  ~DeviceArray() override;

  float* data() const { return p_; }
  int64_t length() const { return n_; }
  bool disposed() const { return disposed_; }

 private:
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  void release(bool adjust);

  float* p_ = nullptr;
  int64_t n_ = 0;
  bool disposed_ = false;
};

// Reads a call's array arguments (see the top of this file). Declare the inputs, then the
// outputs, launch, then finish(): it copies host outputs back (device outputs need nothing).
class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : info_(info) {}
  Args(const Args&) = delete;
  Args& operator=(const Args&) = delete;

  // Float arrays of exactly n elements: read, written completely, or both.
  float* in(size_t i, const char* name, int64_t n) { return take(i, name, n, false, true, false, false); }
  float* out(size_t i, const char* name, int64_t n) { return take(i, name, n, false, false, true, false); }
  float* inout(size_t i, const char* name, int64_t n) { return take(i, name, n, false, true, true, false); }
  // The same, where null or undefined means absent (nullptr).
  float* in_opt(size_t i, const char* name, int64_t n) { return take(i, name, n, true, true, false, false); }
  float* out_opt(size_t i, const char* name, int64_t n) { return take(i, name, n, true, false, true, false); }
  float* inout_opt(size_t i, const char* name, int64_t n) { return take(i, name, n, true, true, true, false); }
  // int32 arrays: a host Int32Array, or a DeviceArray whose elements the kernel reads as int32.
  const int32_t* in_i32(size_t i, const char* name, int64_t n) {
    return reinterpret_cast<const int32_t*>(take(i, name, n, false, true, false, true));
  }
  int32_t* out_i32(size_t i, const char* name, int64_t n) {
    return reinterpret_cast<int32_t*>(take(i, name, n, false, false, true, true));
  }
  // Arrays of at least n elements (GEMM operands with leading dimensions and batch strides).
  const float* in_span(size_t i, const char* name, int64_t n) {
    return take(i, name, n, false, true, false, false, false);
  }
  float* inout_span(size_t i, const char* name, int64_t n) { return take(i, name, n, false, true, true, false, false); }
  // The element count of array argument i (either kind), for functions whose sizes come from it.
  int64_t length(size_t i, const char* name);
  // Waits for the device where host arrays are to be written back, and copies them.
  void finish();

 private:
  float* take(size_t i, const char* name, int64_t n, bool optional, bool read, bool write, bool i32, bool exact = true);
  struct Back {
    lk_cuda::DeviceBuffer* device;
    void* host;
    size_t bytes;
  };
  const Napi::CallbackInfo& info_;
  std::vector<std::unique_ptr<lk_cuda::DeviceBuffer>> scratch_;
  std::vector<Back> back_;
};

// CUDA errors and emulation findings become JS Errors named after the function:
// "lkvit cuda: dwconv2dForward: cudaErrorIllegalAddress (...)".
using Entry = Napi::Value (*)(const Napi::CallbackInfo&);
void def(Napi::Env env, Napi::Object exports, const char* name, Entry fn);

// One per binding file; addon.cc calls them all.
void register_device(Napi::Env env, Napi::Object exports);
void register_dwconv(Napi::Env env, Napi::Object exports);
void register_steps(Napi::Env env, Napi::Object exports);
void register_gemm(Napi::Env env, Napi::Object exports);
void register_attention(Napi::Env env, Napi::Object exports);
void register_conv(Napi::Env env, Napi::Object exports);
void register_norm(Napi::Env env, Napi::Object exports);
void register_nn(Napi::Env env, Napi::Object exports);
void register_tensor(Napi::Env env, Napi::Object exports);
void register_simt(Napi::Env env, Napi::Object exports);

}  // namespace lkc
