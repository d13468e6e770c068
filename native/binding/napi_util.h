// Argument checks shared by the N-API binding files. The TypeScript layer validates first and
// gives the friendly errors; these checks are the last line that keeps memory safe when the
// addon is called directly: every pointer handed to a kernel is checked against its length.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace lkb {

struct F32 {
  float* data;
  size_t length;
};

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, "lkvit native: " + msg);
}
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, "lkvit native: " + msg);
}

// info[i] must be a Float32Array; with `expected` >= 0 it must hold exactly that many floats.
inline F32 f32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected = -1) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(info.Env(), std::string(name) + " must be a Float32Array");
  auto a = info[i].As<Napi::Float32Array>();
  F32 r{a.Data(), a.ElementLength()};
  if (expected >= 0 && r.length != static_cast<size_t>(expected))
    throw_range(info.Env(), std::string(name) + " must hold " + std::to_string(expected) +
                                " floats, got " + std::to_string(r.length));
  if (r.length == 0) r.data = nullptr;
  return r;
}

// Optional Float32Array: null/undefined gives {nullptr, 0}.
inline F32 f32_opt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return F32{nullptr, 0};
  return f32(info, i, name, expected);
}

// An integer in [lo, hi].
inline int64_t i64(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo = 0,
                   int64_t hi = (int64_t(1) << 40)) {
  if (info.Length() <= i || !info[i].IsNumber()) throw_type(info.Env(), std::string(name) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= double(lo) && d <= double(hi)) || d != static_cast<double>(static_cast<int64_t>(d)))
    throw_range(info.Env(), std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

inline double f64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) throw_type(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

inline bool boolean(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsBoolean()) throw_type(info.Env(), std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// Product of dims with an overflow guard (sizes past 2^40 floats are refused).
inline int64_t numel(Napi::Env env, std::initializer_list<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) throw_range(env, "negative dimension");
    if (d != 0 && n > (int64_t(1) << 40) / d) throw_range(env, "tensor too large");
    n *= d;
  }
  return n;
}

}  // namespace lkb

// Each binding file defines one of these; addon.cc calls them all.
void register_core(Napi::Env env, Napi::Object exports);
void register_dwconv(Napi::Env env, Napi::Object exports);
void register_gemm_conv(Napi::Env env, Napi::Object exports);
void register_attention(Napi::Env env, Napi::Object exports);
void register_nn(Napi::Env env, Napi::Object exports);
