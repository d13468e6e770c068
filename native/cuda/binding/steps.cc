// Attack steps on the device: the CPU addon's fgsmStep, pgdLinfStep, pgdL2Step
// (native/binding/steps.cc), bit-identical to them.
#include "../steps.h"
#include "args.h"

namespace lkc {
namespace {

// fgsmStep(x, g, eps, min, max, out)
Napi::Value FgsmStep(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t n = a.length(0, "x");
  const float* x = a.in(0, "x", n);
  const float* g = a.in(1, "g", n);
  const float eps = float(lkb::f64(info, 2, "eps")), lo = float(lkb::f64(info, 3, "min")),
              hi = float(lkb::f64(info, 4, "max"));
  float* out = a.out(5, "out", n);
  lk_cuda::fgsm_step(x, g, n, eps, lo, hi, out);
  a.finish();
  return info.Env().Undefined();
}

// pgdLinfStep(x, g, x0, eps, alpha, min, max, out)
Napi::Value PgdLinfStep(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t n = a.length(0, "x");
  const float* x = a.in(0, "x", n);
  const float* g = a.in(1, "g", n);
  const float* x0 = a.in(2, "x0", n);
  const float eps = float(lkb::f64(info, 3, "eps")), alpha = float(lkb::f64(info, 4, "alpha")),
              lo = float(lkb::f64(info, 5, "min")), hi = float(lkb::f64(info, 6, "max"));
  float* out = a.out(7, "out", n);
  lk_cuda::pgd_linf_step(x, g, x0, n, eps, alpha, lo, hi, out);
  a.finish();
  return info.Env().Undefined();
}

// pgdL2Step(x, g, x0, N, eps, alpha, min, max, out, parts = 1): as the CPU addon's, plus `parts`,
// how many pieces the CPU engine cuts each sample into (bit-identical results for the same parts).
Napi::Value PgdL2Step(const Napi::CallbackInfo& info) {
  Args a(info);
  const int64_t n = a.length(0, "x");
  const int64_t N = lkb::i64(info, 3, "N", 1);
  if (n % N != 0) lkb::throw_range(info.Env(), "N must divide the length of x");
  const float* x = a.in(0, "x", n);
  const float* g = a.in(1, "g", n);
  const float* x0 = a.in(2, "x0", n);
  const float eps = float(lkb::f64(info, 4, "eps")), alpha = float(lkb::f64(info, 5, "alpha")),
              lo = float(lkb::f64(info, 6, "min")), hi = float(lkb::f64(info, 7, "max"));
  float* out = a.out(8, "out", n);
  const int64_t D = n / N;
  const int64_t parts = info.Length() > 9 && !info[9].IsUndefined() ? lkb::i64(info, 9, "parts", 1, 1024) : 1;
  if (parts > (D > 0 ? D : 1)) lkb::throw_range(info.Env(), "parts must be at most the sample size");
  if (n > 0) lk_cuda::pgd_l2_step(x, g, x0, N, D, parts, eps, alpha, lo, hi, out);
  a.finish();
  return info.Env().Undefined();
}

}  // namespace

void register_steps(Napi::Env env, Napi::Object exports) {
  def(env, exports, "fgsmStep", FgsmStep);
  def(env, exports, "pgdLinfStep", PgdLinfStep);
  def(env, exports, "pgdL2Step", PgdL2Step);
}

}  // namespace lkc
