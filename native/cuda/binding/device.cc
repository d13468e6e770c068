// DeviceArray, the argument reader and the device-wide functions of the CUDA addon: info(),
// memoryStats(), emptyCache(), synchronize(). See args.h.
#include <cmath>
#include <cstring>
#include <string>

#include "../cublas.h"
#include "../memory.h"
#include "args.h"

namespace lkc {
namespace {

// The DeviceArray constructor of each environment (the main thread and each worker).
struct Instance {
  Napi::FunctionReference device_array;
};

constexpr int64_t kMaxLength = (int64_t(1) << 31) - 1;  // a tensor's limit (src/tensor/tensor.ts)

[[noreturn]] void rethrow_cuda(Napi::Env env, const lk_cuda::Error& e) {
  throw Napi::Error::New(env, std::string("lkvit cuda: ") +
                                  (lkb::current_function ? std::string(lkb::current_function) + ": " : "") + e.what());
}

// The first element of a typed array, wherever its buffer lives (an ArrayBuffer or a
// SharedArrayBuffer: TypedArray::ArrayBuffer().Data() refuses the latter with "Invalid argument").
void* typed_data(Napi::Env env, Napi::TypedArray a) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value buffer;
  if (napi_get_typedarray_info(env, a, &type, &length, &data, &buffer, &offset) != napi_ok)
    lkb::throw_type(env, "could not read a typed array argument");
  return data;
}

bool is_typed(Napi::Value v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

}  // namespace

// ---- DeviceArray ------------------------------------------------------------------------------------

void DeviceArray::define(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "DeviceArray",
      {InstanceAccessor<&DeviceArray::Length>("length"), InstanceAccessor<&DeviceArray::Disposed>("disposed"),
       InstanceMethod<&DeviceArray::Dispose>("dispose"), InstanceMethod<&DeviceArray::Upload>("upload"),
       InstanceMethod<&DeviceArray::Download>("download"), InstanceMethod<&DeviceArray::CopyFrom>("copyFrom"),
       InstanceMethod<&DeviceArray::Fill>("fill")});
  auto* inst = new Instance();
  inst->device_array = Napi::Persistent(ctor);
  env.SetInstanceData<Instance>(inst);
  exports.Set("DeviceArray", ctor);
}

DeviceArray* DeviceArray::from(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  Instance* inst = env.GetInstanceData<Instance>();
  if (!inst || !v.As<Napi::Object>().InstanceOf(inst->device_array.Value())) return nullptr;
  return DeviceArray::Unwrap(v.As<Napi::Object>());
}

DeviceArray::DeviceArray(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceArray>(info) {
  const Napi::Env env = info.Env();
  lkb::current_function = "DeviceArray";
  n_ = lkb::i64(info, 0, "length", 0, kMaxLength);
  lkb::current_function = nullptr;
  try {
    p_ = static_cast<float*>(lk_cuda::cached_alloc(size_t(n_) * sizeof(float)));
  } catch (const lk_cuda::Error& e) {
    throw Napi::Error::New(env, std::string("lkvit cuda: DeviceArray: ") + e.what());
  }
  Napi::MemoryManagement::AdjustExternalMemory(env, n_ * int64_t(sizeof(float)));
}

DeviceArray::~DeviceArray() { release(true); }

void DeviceArray::release(bool adjust) {
  if (disposed_) return;
  disposed_ = true;
  try {
    lk_cuda::cached_free(p_);
  } catch (...) {
    // A finaliser must not throw; the allocator only throws on its own internal error.
  }
  p_ = nullptr;
  if (adjust) Napi::MemoryManagement::AdjustExternalMemory(Env(), -n_ * int64_t(sizeof(float)));
}

Napi::Value DeviceArray::Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(n_)); }
Napi::Value DeviceArray::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }
Napi::Value DeviceArray::Dispose(const Napi::CallbackInfo& info) {
  release(true);
  return info.Env().Undefined();
}

Napi::Value DeviceArray::Upload(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  lkb::current_function = "DeviceArray.upload";
  if (disposed_) lkb::throw_type(env, "the DeviceArray was disposed");
  if (info.Length() < 1 || !(is_typed(info[0], napi_float32_array) || is_typed(info[0], napi_int32_array)))
    lkb::throw_type(env, "src must be a Float32Array or an Int32Array");
  auto src = info[0].As<Napi::TypedArray>();
  const int64_t offset = info.Length() > 1 && !info[1].IsUndefined() ? lkb::i64(info, 1, "offset", 0, n_) : 0;
  const int64_t count = int64_t(src.ElementLength());
  if (count > n_ - offset)
    lkb::throw_range(env, "src holds " + std::to_string(count) + " elements, more than the " +
                              std::to_string(n_ - offset) + " from offset " + std::to_string(offset) + " to the end");
  lkb::current_function = nullptr;
  if (count == 0) return env.Undefined();
  const void* bytes = typed_data(env, src);
  try {
    lk_cuda::copy_to_device(p_ + offset, bytes, size_t(count) * 4);
  } catch (const lk_cuda::Error& e) {
    rethrow_cuda(env, e);
  }
  return env.Undefined();
}

Napi::Value DeviceArray::Download(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  lkb::current_function = "DeviceArray.download";
  if (disposed_) lkb::throw_type(env, "the DeviceArray was disposed");
  Napi::Float32Array dst;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!is_typed(info[0], napi_float32_array) && !is_typed(info[0], napi_int32_array))
      lkb::throw_type(env, "dst must be a Float32Array or an Int32Array");
    auto t = info[0].As<Napi::TypedArray>();
    if (int64_t(t.ElementLength()) != n_)
      lkb::throw_range(env,
                       "dst must hold " + std::to_string(n_) + " elements, got " + std::to_string(t.ElementLength()));
    lkb::current_function = nullptr;
    try {
      if (n_) lk_cuda::copy_to_host(typed_data(env, t), p_, size_t(n_) * 4);
    } catch (const lk_cuda::Error& e) {
      rethrow_cuda(env, e);
    }
    return info[0];
  }
  lkb::current_function = nullptr;
  dst = Napi::Float32Array::New(env, size_t(n_));
  try {
    if (n_) lk_cuda::copy_to_host(dst.Data(), p_, size_t(n_) * 4);
  } catch (const lk_cuda::Error& e) {
    rethrow_cuda(env, e);
  }
  return dst;
}

Napi::Value DeviceArray::CopyFrom(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  lkb::current_function = "DeviceArray.copyFrom";
  if (disposed_) lkb::throw_type(env, "the DeviceArray was disposed");
  DeviceArray* src = info.Length() > 0 ? from(env, info[0]) : nullptr;
  if (!src) lkb::throw_type(env, "src must be a DeviceArray");
  if (src->disposed_) lkb::throw_type(env, "src was disposed");
  if (src->n_ != n_)
    lkb::throw_range(env, "src must hold " + std::to_string(n_) + " elements, got " + std::to_string(src->n_));
  lkb::current_function = nullptr;
  try {
    if (n_ && src != this) lk_cuda::copy_on_device(p_, src->p_, size_t(n_) * 4);
  } catch (const lk_cuda::Error& e) {
    rethrow_cuda(env, e);
  }
  return env.Undefined();
}

Napi::Value DeviceArray::Fill(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  lkb::current_function = "DeviceArray.fill";
  if (disposed_) lkb::throw_type(env, "the DeviceArray was disposed");
  const float v = float(lkb::f64(info, 0, "value"));
  lkb::current_function = nullptr;
  try {
    if (n_) lk_cuda::fill(p_, n_, v);
  } catch (const lk_cuda::Error& e) {
    rethrow_cuda(env, e);
  }
  return env.Undefined();
}

// ---- Args ---------------------------------------------------------------------------------------------

float* Args::take(size_t i, const char* name, int64_t n, bool optional, bool read, bool write, bool i32, bool exact) {
  const Napi::Env env = info_.Env();
  if (n < 0 || n > lkb::kMaxElements)
    lkb::throw_range(env, std::string(name) + ": expected length " + std::to_string(n) + " is out of range");
  const Napi::Value v = i < info_.Length() ? info_[i] : env.Undefined();
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (DeviceArray* d = DeviceArray::from(env, v)) {
    if (d->disposed()) lkb::throw_type(env, std::string(name) + " was disposed");
    if (exact ? d->length() != n : d->length() < n)
      lkb::throw_range(env, std::string(name) + " must hold " + (exact ? "" : "at least ") + std::to_string(n) +
                                " elements, got " + std::to_string(d->length()));
    return d->data();
  }
  const napi_typedarray_type type = i32 ? napi_int32_array : napi_float32_array;
  if (!is_typed(v, type))
    lkb::throw_type(env, std::string(name) + " must be a DeviceArray or " + (i32 ? "an Int32Array" : "a Float32Array"));
  auto a = v.As<Napi::TypedArray>();
  if (exact ? int64_t(a.ElementLength()) != n : int64_t(a.ElementLength()) < n)
    lkb::throw_range(env, std::string(name) + " must hold " + (exact ? "" : "at least ") + std::to_string(n) + " " +
                              (i32 ? "integers" : "floats") + ", got " + std::to_string(a.ElementLength()));
  n = int64_t(a.ElementLength());
  if (n == 0) return nullptr;
  void* host = typed_data(env, a);
  try {
    scratch_.push_back(std::make_unique<lk_cuda::DeviceBuffer>(size_t(n)));
    lk_cuda::DeviceBuffer* d = scratch_.back().get();
    if (read) lk_cuda::copy_to_device(d->get(), host, size_t(n) * 4);
    if (write) back_.push_back(Back{d, host, size_t(n) * 4});
    return d->get();
  } catch (const lk_cuda::Error& e) {
    rethrow_cuda(env, e);
  }
}

int64_t Args::length(size_t i, const char* name) {
  const Napi::Env env = info_.Env();
  const Napi::Value v = i < info_.Length() ? info_[i] : env.Undefined();
  if (DeviceArray* d = DeviceArray::from(env, v)) return d->length();
  if (v.IsTypedArray()) return int64_t(v.As<Napi::TypedArray>().ElementLength());
  lkb::throw_type(env, std::string(name) + " must be a DeviceArray or a typed array");
}

void Args::finish() {
  if (back_.empty()) return;
  try {
    lk_cuda::synchronize("kernel");
    for (const Back& b : back_) lk_cuda::copy_to_host(b.host, b.device->get(), b.bytes);
  } catch (const lk_cuda::Error& e) {
    rethrow_cuda(info_.Env(), e);
  }
  back_.clear();
}

void def(Napi::Env env, Napi::Object exports, const char* name, Entry fn) {
  auto named = [name, fn](const Napi::CallbackInfo& info) -> Napi::Value {
    struct Scope {
      const char* saved = lkb::current_function;
      ~Scope() { lkb::current_function = saved; }
    } scope;
    lkb::current_function = name;
    try {
      return fn(info);
    } catch (const lk_cuda::Error& e) {
      rethrow_cuda(info.Env(), e);
    }
  };
  exports.Set(name, Napi::Function::New(env, named, name));
}

// ---- device-wide functions ------------------------------------------------------------------------

namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  const lk_cuda::DeviceInfo d = lk_cuda::device_info();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("available", d.available);
  o.Set("backend", d.backend);
  o.Set("name", d.available ? Napi::Value(Napi::String::New(info.Env(), d.name)) : info.Env().Null());
  o.Set("reason", d.available ? info.Env().Null() : Napi::Value(Napi::String::New(info.Env(), d.reason)));
  o.Set("totalMemory", double(d.total_memory));
  o.Set("computeCapability", std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor));
  o.Set("runtimeVersion", d.runtime_version);
  o.Set("driverVersion", d.driver_version);
  // Which GEMM runs: cuBLAS when found (only asked on a working device), else the own kernel.
  std::string gemm = "lkvit tiled SGEMM";
  if (d.available && d.backend == "cuda") {
    const lk_cuda::CublasInfo& c = lk_cuda::cublas_info();
    gemm = c.loaded ? "cuBLAS (" + c.library + ", version " + std::to_string(c.version) + ")"
                    : "lkvit tiled SGEMM (cuBLAS: " + c.reason + ")";
  } else if (d.backend == "cuda-emulated") {
    gemm = "lkvit tiled SGEMM (the emulation runs the project's kernels only)";
  }
  o.Set("gemm", gemm);
  return o;
}

// memoryStats() -> { allocated, reserved, peakAllocated, cachedBlocks, deviceAllocs } in bytes/counts.
Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  const lk_cuda::MemoryStats s = lk_cuda::memory_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("allocated", double(s.allocated));
  o.Set("reserved", double(s.reserved));
  o.Set("peakAllocated", double(s.peak_allocated));
  o.Set("cachedBlocks", double(s.cached_blocks));
  o.Set("deviceAllocs", double(s.device_allocs));
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  lk_cuda::empty_cache();
  return info.Env().Undefined();
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  lk_cuda::synchronize("synchronize");
  return info.Env().Undefined();
}

}  // namespace

void register_device(Napi::Env env, Napi::Object exports) {
  DeviceArray::define(env, exports);
  def(env, exports, "info", Info);
  def(env, exports, "memoryStats", MemoryStats);
  def(env, exports, "emptyCache", EmptyCache);
  def(env, exports, "synchronize", Synchronize);
}

}  // namespace lkc
