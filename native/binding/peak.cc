// The yardstick: the machine's measured FP32 FMA peak (active ISA path) and memory bandwidth.
#include "../cpu/peak.h"
#include "napi_util.h"

namespace {

// measureFmaPeak(threads, seconds, repeats) -> GFLOP/s (best of repeats)
Napi::Value MeasureFmaPeak(const Napi::CallbackInfo& info) {
  const int threads = static_cast<int>(lkb::i64(info, 0, "threads", 1, 256));
  const double seconds = lkb::f64(info, 1, "seconds");
  if (!(seconds > 0 && seconds <= 2)) lkb::throw_range(info.Env(), "seconds must be in (0, 2]");
  const int repeats = static_cast<int>(lkb::i64(info, 2, "repeats", 1, 10));
  return Napi::Number::New(info.Env(), lk::measure_fma_peak(threads, seconds, repeats));
}

// measureBandwidth(threads, bytesPerArray, repeats) -> GB/s (best of repeats)
Napi::Value MeasureBandwidth(const Napi::CallbackInfo& info) {
  const int threads = static_cast<int>(lkb::i64(info, 0, "threads", 1, 256));
  const int64_t bytes = lkb::i64(info, 1, "bytesPerArray", 4096, int64_t(1) << 30);
  const int repeats = static_cast<int>(lkb::i64(info, 2, "repeats", 1, 10));
  return Napi::Number::New(info.Env(), lk::measure_bandwidth(threads, bytes, repeats));
}

Napi::Value FmaLanes(const Napi::CallbackInfo& info) {
  int lanes = 1;
  switch (lk::active_isa()) {
    case lk::Isa::avx512:
      lanes = lk_avx512::fma_lanes();
      break;
    case lk::Isa::avx2:
      lanes = lk_avx2::fma_lanes();
      break;
    default:
      lanes = lk_generic::fma_lanes();
      break;
  }
  return Napi::Number::New(info.Env(), lanes);
}

}  // namespace

void register_peak(Napi::Env env, Napi::Object exports) {
  lkb::def(env, exports, "measureFmaPeak", MeasureFmaPeak);
  lkb::def(env, exports, "measureBandwidth", MeasureBandwidth);
  lkb::def(env, exports, "fmaLanes", FmaLanes);
}
