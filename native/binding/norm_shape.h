// The dims of a normalisation call, read the same way by the CPU and CUDA bindings (both addons
// take the same arguments): N, C, S at info[first..first+2], with the element counts they imply.
#pragma once
#include <cstdint>

#include "napi_util.h"

namespace lkb {

struct NormDims {
  int64_t N, C, S;
  int64_t numel;  // x [N, C, S]
  int64_t NS;     // per-pixel statistics [N, S] (LayerNorm2d)
};

inline NormDims read_norm_dims(const Napi::CallbackInfo& info, size_t first) {
  NormDims d{i64(info, first, "N"), i64(info, first + 1, "C"), i64(info, first + 2, "S"), 0, 0};
  d.numel = numel(info.Env(), "x [N, C, S]", {d.N, d.C, d.S});
  d.NS = numel(info.Env(), "mean [N, S]", {d.N, d.S});
  return d;
}

}  // namespace lkb
