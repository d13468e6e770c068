// Fused multi-head attention on the device: the CPU addon's attentionForward / attentionBackward
// (native/binding/attention.cc), same arguments and checks.
#include <cmath>

#include "../attention.h"
#include "args.h"

namespace lkc {
namespace {

constexpr int64_t kMaxIndex = int64_t(1) << 31;

struct Sizes {
  lk_cuda::AttentionShape s;
  int64_t q, k, v, out, rows, probs;  // element counts
};

Sizes read_sizes(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Sizes a;
  const int64_t B = lkb::i64(info, 0, "B", 0), H = lkb::i64(info, 1, "H", 0), Tq = lkb::i64(info, 2, "Tq", 0);
  const int64_t Tk = lkb::i64(info, 3, "Tk", 1), d = lkb::i64(info, 4, "d", 1), dv = lkb::i64(info, 5, "dv", 1);
  const double scale = lkb::f64(info, 6, "scale");
  if (!std::isfinite(scale) || std::fabs(scale) > 3.4e38) lkb::throw_range(env, "scale must be a finite float32");
  a.q = lkb::numel(env, "q [B, H, Tq, d]", {B, H, Tq, d});
  a.k = lkb::numel(env, "k [B, H, Tk, d]", {B, H, Tk, d});
  a.v = lkb::numel(env, "v [B, H, Tk, dv]", {B, H, Tk, dv});
  a.out = lkb::numel(env, "out [B, H, Tq, dv]", {B, H, Tq, dv});
  a.rows = lkb::numel(env, "lse [B, H, Tq]", {B, H, Tq});
  a.probs = lkb::numel(env, "probs [B, H, Tq, Tk]", {B, H, Tq, Tk});
  if (Tq >= kMaxIndex || Tk >= kMaxIndex || B * H >= kMaxIndex)
    lkb::throw_range(env, "Tq, Tk and B*H must be below 2^31");
  a.s = lk_cuda::AttentionShape{B * H, Tq, Tk, d, dv, float(scale)};
  return a;
}

// attentionForward(B, H, Tq, Tk, d, dv, scale, q, k, v, out, lse, probs|null)
Napi::Value Forward(const Napi::CallbackInfo& info) {
  const Sizes z = read_sizes(info);
  Args a(info);
  const float *q = a.in(7, "q", z.q), *k = a.in(8, "k", z.k), *v = a.in(9, "v", z.v);
  float* out = a.out(10, "out", z.out);
  float* lse = a.out(11, "lse", z.rows);
  float* probs = a.out_opt(12, "probs", z.probs);
  if (z.rows > 0) lk_cuda::attention_forward(z.s, q, k, v, out, lse, probs);
  a.finish();
  return info.Env().Undefined();
}

// attentionBackward(B, H, Tq, Tk, d, dv, scale, q, k, v, out, lse, gradOut, gradQ|null, gradK|null, gradV|null)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  const Sizes z = read_sizes(info);
  Args a(info);
  const float *q = a.in(7, "q", z.q), *k = a.in(8, "k", z.k), *v = a.in(9, "v", z.v);
  const float *out = a.in(10, "out", z.out), *lse = a.in(11, "lse", z.rows), *go = a.in(12, "gradOut", z.out);
  float* gq = a.out_opt(13, "gradQ", z.q);
  float* gk = a.out_opt(14, "gradK", z.k);
  float* gv = a.out_opt(15, "gradV", z.v);
  lk_cuda::attention_backward(z.s, q, k, v, out, lse, go, gq, gk, gv);
  a.finish();
  return info.Env().Undefined();
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  def(env, exports, "attentionForward", Forward);
  def(env, exports, "attentionBackward", Backward);
}

}  // namespace lkc
