// N-API entry points for the fused gradient-sign attack steps. Every array is checked against
// the length of x before a pointer reaches a kernel.
#include "../cpu/steps.h"
#include "napi_util.h"

namespace {

using lkb::f32;
using lkb::i64;

// fgsmStep(x, g, eps, min, max, out)
Napi::Value FgsmStep(const Napi::CallbackInfo& info) {
  const lkb::F32 x = f32(info, 0, "x");
  const int64_t n = int64_t(x.length);
  const float* g = f32(info, 1, "g", n).data;
  const float eps = float(lkb::f64(info, 2, "eps")), lo = float(lkb::f64(info, 3, "min")),
              hi = float(lkb::f64(info, 4, "max"));
  lk::fgsm_step(x.data, g, n, eps, lo, hi, f32(info, 5, "out", n).data);
  return info.Env().Undefined();
}

// pgdLinfStep(x, g, x0, eps, alpha, min, max, out)
Napi::Value PgdLinfStep(const Napi::CallbackInfo& info) {
  const lkb::F32 x = f32(info, 0, "x");
  const int64_t n = int64_t(x.length);
  const float* g = f32(info, 1, "g", n).data;
  const float* x0 = f32(info, 2, "x0", n).data;
  const float eps = float(lkb::f64(info, 3, "eps")), alpha = float(lkb::f64(info, 4, "alpha")),
              lo = float(lkb::f64(info, 5, "min")), hi = float(lkb::f64(info, 6, "max"));
  lk::pgd_linf_step(x.data, g, x0, n, eps, alpha, lo, hi, f32(info, 7, "out", n).data);
  return info.Env().Undefined();
}

// pgdL2Step(x, g, x0, N, eps, alpha, min, max, out): N samples of x.length / N values.
Napi::Value PgdL2Step(const Napi::CallbackInfo& info) {
  const lkb::F32 x = f32(info, 0, "x");
  const int64_t n = int64_t(x.length);
  const float* g = f32(info, 1, "g", n).data;
  const float* x0 = f32(info, 2, "x0", n).data;
  const int64_t N = i64(info, 3, "N", 1);
  if (n % N != 0) lkb::throw_range(info.Env(), "N must divide the length of x");
  const float eps = float(lkb::f64(info, 4, "eps")), alpha = float(lkb::f64(info, 5, "alpha")),
              lo = float(lkb::f64(info, 6, "min")), hi = float(lkb::f64(info, 7, "max"));
  float* out = f32(info, 8, "out", n).data;
  if (n == 0) return info.Env().Undefined();  // N empty samples: nothing to write, no per-sample sums
  lk::pgd_l2_step(x.data, g, x0, N, n / N, eps, alpha, lo, hi, out);
  return info.Env().Undefined();
}

}  // namespace

void register_steps(Napi::Env env, Napi::Object exports) {
  lkb::def(env, exports, "fgsmStep", FgsmStep);
  lkb::def(env, exports, "pgdLinfStep", PgdLinfStep);
  lkb::def(env, exports, "pgdL2Step", PgdL2Step);
}
