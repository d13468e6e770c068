// Engine-wide settings: thread count and the instruction set in use.
#include "../cpu/isa.h"
#include "../cpu/parallel.h"
#include "napi_util.h"

#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), lk::num_threads()); }

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
    lkb::throw_range(info.Env(), std::string("isa '") + name +
                                     "' is not supported by this CPU (best: " + lk::isa_name(lk::best_isa()) + ")");
  return info.Env().Undefined();
}

// Tensor memory is freed in batches by V8's garbage collector. With glibc's default, dynamic
// thresholds those batches are handed back to the OS, and the next tensor of the same size pays a
// page fault per 4 KiB of fresh memory, which costs more than most elementwise kernels (a relu
// over 9.6 MB: about 2x slower). Keeping up to 256 MiB of freed memory for reuse avoids that.
// LKVIT_MALLOC_TUNING=0, or any MALLOC_* setting of the user's own, leaves malloc alone.
bool tune_malloc() {
#if defined(__GLIBC__)
  const char* opt = std::getenv("LKVIT_MALLOC_TUNING");
  if (opt && std::strcmp(opt, "0") == 0) return false;
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") ||
      std::getenv("MALLOC_TOP_PAD_") || std::getenv("GLIBC_TUNABLES"))
    return false;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return true;
#else
  return false;
#endif
}

}  // namespace

void register_core(Napi::Env env, Napi::Object exports) {
  static const bool malloc_tuned = tune_malloc();
  exports.Set("mallocTuned", Napi::Boolean::New(env, malloc_tuned));
  lkb::def(env, exports, "getNumThreads", GetNumThreads);
  lkb::def(env, exports, "setNumThreads", SetNumThreads);
  lkb::def(env, exports, "getIsa", GetIsa);
  lkb::def(env, exports, "setIsa", SetIsa);
}
