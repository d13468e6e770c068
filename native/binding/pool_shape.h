// The 2-D pooling geometry, read the same way by the CPU and CUDA bindings: (planes, H, W, kh, kw,
// sh, sw, ph, pw) at info[first..first+8], with PyTorch's rules: padding at most half the kernel
// (so every window meets the input) and a non-empty output. `Pool` is the backend's struct with
// the fields planes, H, W, kh, kw, sh, sw, ph, pw, OH, OW.
#pragma once
#include <cstdint>
#include <string>

#include "napi_util.h"

namespace lkb {

template <class Pool>
struct PoolArgs {
  Pool p;
  int64_t in, out;  // element counts of x [planes, H, W] and y [planes, OH, OW]
};

template <class Pool>
PoolArgs<Pool> read_pool_args(const Napi::CallbackInfo& info, size_t first) {
  const Napi::Env env = info.Env();
  Pool p;
  p.planes = i64(info, first, "planes");
  p.H = i64(info, first + 1, "H", 1);
  p.W = i64(info, first + 2, "W", 1);
  p.kh = i64(info, first + 3, "kh", 1);
  p.kw = i64(info, first + 4, "kw", 1);
  p.sh = i64(info, first + 5, "sh", 1);
  p.sw = i64(info, first + 6, "sw", 1);
  p.ph = i64(info, first + 7, "ph", 0, p.kh / 2);
  p.pw = i64(info, first + 8, "pw", 0, p.kw / 2);
  numel(env, "the pooling window [kh, kw]", {p.kh, p.kw});
  if (p.H + 2 * p.ph < p.kh || p.W + 2 * p.pw < p.kw)
    throw_range(env, "kh, kw: the window (" + std::to_string(p.kh) + "x" + std::to_string(p.kw) +
                         ") is larger than the padded input (H + 2 ph, W + 2 pw)");
  p.OH = (p.H + 2 * p.ph - p.kh) / p.sh + 1;
  p.OW = (p.W + 2 * p.pw - p.kw) / p.sw + 1;
  return PoolArgs<Pool>{p, numel(env, "x [planes, H, W]", {p.planes, p.H, p.W}),
                        numel(env, "y [planes, OH, OW]", {p.planes, p.OH, p.OW})};
}

}  // namespace lkb
