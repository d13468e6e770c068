// Runtime CPU dispatch. Kernels that profit from wide SIMD are compiled three times, once per
// instruction set, each copy inside its own namespace (lk_avx512, lk_avx2, lk_generic), so no
// inline code compiled for AVX-512 can ever be picked by the linker for a CPU without it.
#pragma once

namespace lk {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

Isa best_isa();         // the widest instruction set this CPU (and OS) supports
Isa active_isa();       // best_isa(), or LKVIT_ISA (generic|avx2|avx512) when set and supported
bool set_isa(Isa isa);  // false (and no change) when the CPU lacks it
const char* isa_name(Isa isa);
bool parse_isa(const char* name, Isa* out);

}  // namespace lk

// Declares one function for each ISA namespace.
#define LK_ISA_DECLARE(...) \
  namespace lk_avx512 {     \
  __VA_ARGS__;              \
  }                         \
  namespace lk_avx2 {       \
  __VA_ARGS__;              \
  }                         \
  namespace lk_generic {    \
  __VA_ARGS__;              \
  }

// Calls fn(...) in the namespace of the active instruction set.
#define LK_DISPATCH(fn, ...)         \
  do {                               \
    switch (::lk::active_isa()) {    \
      case ::lk::Isa::avx512:        \
        lk_avx512::fn(__VA_ARGS__);  \
        break;                       \
      case ::lk::Isa::avx2:          \
        lk_avx2::fn(__VA_ARGS__);    \
        break;                       \
      default:                       \
        lk_generic::fn(__VA_ARGS__); \
        break;                       \
    }                                \
  } while (0)
