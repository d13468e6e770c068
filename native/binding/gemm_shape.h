// GEMM operand extents, computed the same way by the CPU and CUDA bindings.
#pragma once
#include <cstdint>
#include <string>

#include "napi_util.h"

namespace lkb {

// Floats spanned by a rows x cols row-major matrix with leading dimension ld (ld >= cols checked).
inline int64_t matrix_extent(Napi::Env env, const char* name, int64_t rows, int64_t cols, int64_t ld) {
  if (ld < (cols > 1 ? cols : 1))
    throw_range(env, std::string(name) + ": leading dimension " + std::to_string(ld) + " < " + std::to_string(cols) +
                         " columns");
  if (rows == 0 || cols == 0) return 0;
  return add_sizes(env, name, numel(env, name, {rows - 1, ld}), cols);
}

}  // namespace lkb
