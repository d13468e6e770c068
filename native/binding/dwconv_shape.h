// The depthwise-conv geometry every binding reads the same way (the CPU addon and the CUDA addon
// take the same arguments): N, C, H, W, KH, KW, strideH, strideW, padH, padW from
// info[first..first+9], checked, with the output size by PyTorch's rule. `Shape` is the backend's
// struct with the fields n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow.
#pragma once
#include <cstdint>
#include <string>

#include "../cpu/dwconv.h"
#include "napi_util.h"

namespace lkb {

// The largest padding accepted (the kernel limit is lk::kMaxDepthwiseKernel); the CPU addon exports
// both (maxDepthwiseKernel, maxDepthwisePadding) for the TypeScript checks.
constexpr int64_t kMaxDwPadding = int64_t(1) << 20;

template <class Shape>
Shape read_dwconv_shape(const Napi::CallbackInfo& info, size_t first) {
  Shape s;
  s.n = i64(info, first + 0, "N", 1, kMaxDim);
  s.c = i64(info, first + 1, "C", 1, kMaxDim);
  s.h = i64(info, first + 2, "H", 1, kMaxDim);
  s.w = i64(info, first + 3, "W", 1, kMaxDim);
  s.kh = i64(info, first + 4, "KH", 1, lk::kMaxDepthwiseKernel);
  s.kw = i64(info, first + 5, "KW", 1, lk::kMaxDepthwiseKernel);
  s.sh = i64(info, first + 6, "strideH", 1, 2);
  s.sw = i64(info, first + 7, "strideW", 1, 2);
  s.ph = i64(info, first + 8, "padH", 0, kMaxDwPadding);
  s.pw = i64(info, first + 9, "padW", 0, kMaxDwPadding);
  if (s.h + 2 * s.ph < s.kh || s.w + 2 * s.pw < s.kw)
    throw_range(info.Env(), "KH, KW: the padded input (" + std::to_string(s.h + 2 * s.ph) + "x" +
                                std::to_string(s.w + 2 * s.pw) + ") is smaller than the kernel (" +
                                std::to_string(s.kh) + "x" + std::to_string(s.kw) + ")");
  s.oh = (s.h + 2 * s.ph - s.kh) / s.sh + 1;
  s.ow = (s.w + 2 * s.pw - s.kw) / s.sw + 1;
  return s;
}

}  // namespace lkb
