// Engine-wide settings: thread count and the instruction set in use.
#include "../cpu/isa.h"
#include "../cpu/parallel.h"
#include "napi_util.h"

namespace {

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), lk::num_threads());
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  lk::set_num_threads(static_cast<int>(lkb::i64(info, 0, "threads", 0, 1024)));
  return info.Env().Undefined();
}

Napi::Value GetIsa(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("active", lk::isa_name(lk::active_isa()));
  o.Set("best", lk::isa_name(lk::best_isa()));
  return o;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) lkb::throw_type(info.Env(), "isa must be a string");
  std::string name = info[0].As<Napi::String>();
  lk::Isa isa;
  if (!lk::parse_isa(name.c_str(), &isa))
    lkb::throw_range(info.Env(), "isa must be one of 'generic', 'avx2', 'avx512', got '" + name + "'");
  if (!lk::set_isa(isa))
    lkb::throw_range(info.Env(), std::string("isa '") + name + "' is not supported by this CPU (best: " +
                                     lk::isa_name(lk::best_isa()) + ")");
  return info.Env().Undefined();
}

}  // namespace

void register_core(Napi::Env env, Napi::Object exports) {
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getIsa", Napi::Function::New(env, GetIsa));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
}
