// Argument checks shared by the N-API binding files. The TypeScript layer validates first and
// gives the friendly errors; these checks are the last line that keeps memory safe when the
// addon is called directly: every pointer handed to a kernel is checked against its length.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace lkb {

// The most elements one array may hold: what a Float32Array can (2^32). Every dimension is
// bounded by it, and so is the product of a call's non-zero dimensions (see numel), so no size
// product can overflow int64 and no loop over the other dims of an empty tensor runs longer.
constexpr int64_t kMaxElements = int64_t(1) << 32;
// The largest single dimension (GEMM and conv sizes, leading dimensions).
constexpr int64_t kMaxDim = int64_t(1) << 31;

struct F32 {
  float* data;
  size_t length;
};

// The exported function running on this thread (set by def's wrapper), so that every error says
// which function refused its arguments: "lkvit native: conv2dForward: ...".
inline thread_local const char* current_function = nullptr;

inline std::string prefixed(const std::string& msg) {
  return std::string("lkvit native: ") + (current_function ? std::string(current_function) + ": " : "") + msg;
}
[[noreturn]] inline void throw_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, prefixed(msg));
}
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, prefixed(msg));
}

// info[i] must be a Float32Array (of any length).
inline F32 f32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(info.Env(), std::string(name) + " must be a Float32Array");
  auto a = info[i].As<Napi::Float32Array>();
  F32 r{a.Data(), a.ElementLength()};
  if (r.length == 0 || !r.data) r = F32{nullptr, 0};  // empty or detached
  return r;
}

// info[i] must be a Float32Array of exactly `expected` floats. `expected` comes from numel (so it
// is in [0, kMaxElements]); a negative one is refused rather than taken as "any length".
inline F32 f32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected) {
  if (expected < 0 || expected > kMaxElements)
    throw_range(info.Env(), std::string(name) + ": expected length " + std::to_string(expected) + " is out of range");
  F32 r = f32(info, i, name);
  if (r.length != static_cast<size_t>(expected))
    throw_range(info.Env(), std::string(name) + " must hold " + std::to_string(expected) + " floats, got " +
                                std::to_string(r.length));
  return r;
}

// Optional Float32Array: null/undefined gives {nullptr, 0}.
inline F32 f32_opt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return F32{nullptr, 0};
  return f32(info, i, name, expected);
}

// An integer in [lo, hi] (NaN, fractions and values past hi refused before any cast).
inline int64_t i64(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo = 0,
                   int64_t hi = kMaxElements) {
  if (info.Length() <= i || !info[i].IsNumber()) throw_type(info.Env(), std::string(name) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= double(lo) && d <= double(hi)) || d != static_cast<double>(static_cast<int64_t>(d))) {
    char got[32];
    std::snprintf(got, sizeof got, "%.17g", d);
    throw_range(info.Env(), std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got " + got);
  }
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

// Element count of `what` with the given dims, computed with overflow checks. The product of the
// non-zero dims must stay within kMaxElements even when a zero makes the count 0: kernels loop
// over the other dims (layer norm over N x S when C = 0), and a size derived from a subset of the
// dims (mean [N, S] of x [N, C, S]) must not overflow either.
inline int64_t numel(Napi::Env env, const char* what, std::initializer_list<int64_t> dims) {
  int64_t nonzero = 1;
  bool empty = false;
  bool too_large = false;
  for (int64_t d : dims) {
    if (d < 0)
      too_large = true;
    else if (d == 0)
      empty = true;
    else if (__builtin_mul_overflow(nonzero, d, &nonzero) || nonzero > kMaxElements)
      too_large = true;
    if (too_large) break;
  }
  if (too_large) {
    std::string list;
    for (int64_t d : dims) list += (list.empty() ? "" : ", ") + std::to_string(d);
    throw_range(env, std::string(what) + " dims [" + list +
                         "] are negative or multiply (leaving out zeros) to more than " + std::to_string(kMaxElements) +
                         " elements");
  }
  return empty ? 0 : nonzero;
}

// a + b for sizes from numel, within kMaxElements.
inline int64_t add_sizes(Napi::Env env, const char* what, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r) || r > kMaxElements)
    throw_range(env, std::string(what) + " would span more than " + std::to_string(kMaxElements) + " elements");
  return r;
}

using Entry = Napi::Value (*)(const Napi::CallbackInfo&);

// exports[name] = fn, with `name` in the errors fn throws. `name` must outlive the addon (a literal).
inline void def(Napi::Env env, Napi::Object exports, const char* name, Entry fn) {
  auto named = [name, fn](const Napi::CallbackInfo& info) -> Napi::Value {
    struct Scope {
      const char* saved = current_function;
      ~Scope() { current_function = saved; }
    } scope;
    current_function = name;
    return fn(info);
  };
  exports.Set(name, Napi::Function::New(env, named, name));
}

}  // namespace lkb

// Each binding file defines one of these; addon.cc calls them all.
void register_core(Napi::Env env, Napi::Object exports);
void register_dwconv(Napi::Env env, Napi::Object exports);
void register_gemm(Napi::Env env, Napi::Object exports);
void register_conv(Napi::Env env, Napi::Object exports);
void register_attention(Napi::Env env, Napi::Object exports);
void register_norm(Napi::Env env, Napi::Object exports);
void register_nn(Napi::Env env, Napi::Object exports);
void register_steps(Napi::Env env, Napi::Object exports);
void register_peak(Napi::Env env, Napi::Object exports);
