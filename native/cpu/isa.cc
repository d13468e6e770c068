#include "isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace lk {
namespace {

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::generic;
}

Isa initial() {
  Isa best = detect(), want;
  const char* env = std::getenv("LKVIT_ISA");
  if (env && parse_isa(env, &want) && static_cast<int>(want) <= static_cast<int>(best)) return want;
  return best;
}

std::atomic<int> g_active{static_cast<int>(initial())};

}  // namespace

Isa best_isa() {
  static const Isa b = detect();
  return b;
}
Isa active_isa() { return static_cast<Isa>(g_active.load(std::memory_order_relaxed)); }
bool set_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(best_isa())) return false;
  g_active.store(static_cast<int>(isa));
  return true;
}
const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    default:
      return "generic";
  }
}
bool parse_isa(const char* name, Isa* out) {
  if (!std::strcmp(name, "avx512")) {
    *out = Isa::avx512;
    return true;
  }
  if (!std::strcmp(name, "avx2")) {
    *out = Isa::avx2;
    return true;
  }
  if (!std::strcmp(name, "generic")) {
    *out = Isa::generic;
    return true;
  }
  return false;
}

}  // namespace lk
