// N-API entry points of the fused attention kernels. Every array length is checked against the
// dims before a pointer reaches a kernel.
//
//   attentionForward(B, H, Tq, Tk, d, dv, scale, q, k, v, out, lse, probs|null)
//   attentionBackward(B, H, Tq, Tk, d, dv, scale, q, k, v, out, lse, gradOut,
//                     gradQ|null, gradK|null, gradV|null)
#include <cmath>

#include "../cpu/attention.h"
#include "napi_util.h"

namespace {

struct AttentionDims {
  int64_t B, H, Tq, Tk, d, dv;
  float scale;
  int64_t q, k, v, out, rows, probs;  // element counts
};

AttentionDims read_dims(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AttentionDims a;
  a.B = lkb::i64(info, 0, "B", 0);
  a.H = lkb::i64(info, 1, "H", 0);
  a.Tq = lkb::i64(info, 2, "Tq", 0);
  a.Tk = lkb::i64(info, 3, "Tk", 1);
  a.d = lkb::i64(info, 4, "d", 1);
  a.dv = lkb::i64(info, 5, "dv", 1);
  const double scale = lkb::f64(info, 6, "scale");
  if (!std::isfinite(scale) || std::fabs(scale) > 3.4e38) lkb::throw_range(env, "scale must be a finite float32");
  a.scale = static_cast<float>(scale);
  a.q = lkb::numel(env, "q [B, H, Tq, d]", {a.B, a.H, a.Tq, a.d});
  a.k = lkb::numel(env, "k [B, H, Tk, d]", {a.B, a.H, a.Tk, a.d});
  a.v = lkb::numel(env, "v [B, H, Tk, dv]", {a.B, a.H, a.Tk, a.dv});
  a.out = lkb::numel(env, "out [B, H, Tq, dv]", {a.B, a.H, a.Tq, a.dv});
  a.rows = lkb::numel(env, "lse [B, H, Tq]", {a.B, a.H, a.Tq});
  a.probs = lkb::numel(env, "probs [B, H, Tq, Tk]", {a.B, a.H, a.Tq, a.Tk});
  return a;
}

Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  const AttentionDims a = read_dims(info);
  const lkb::F32 q = lkb::f32(info, 7, "q", a.q);
  const lkb::F32 k = lkb::f32(info, 8, "k", a.k);
  const lkb::F32 v = lkb::f32(info, 9, "v", a.v);
  const lkb::F32 out = lkb::f32(info, 10, "out", a.out);
  const lkb::F32 lse = lkb::f32(info, 11, "lse", a.rows);
  const lkb::F32 probs = lkb::f32_opt(info, 12, "probs", a.probs);
  if (a.rows == 0) return info.Env().Undefined();
  LK_DISPATCH(attention_forward, a.B * a.H, a.Tq, a.Tk, a.d, a.dv, a.scale, q.data, k.data, v.data, out.data, lse.data,
              probs.data);
  return info.Env().Undefined();
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  const AttentionDims a = read_dims(info);
  const lkb::F32 q = lkb::f32(info, 7, "q", a.q);
  const lkb::F32 k = lkb::f32(info, 8, "k", a.k);
  const lkb::F32 v = lkb::f32(info, 9, "v", a.v);
  const lkb::F32 out = lkb::f32(info, 10, "out", a.out);
  const lkb::F32 lse = lkb::f32(info, 11, "lse", a.rows);
  const lkb::F32 grad_out = lkb::f32(info, 12, "gradOut", a.out);
  const lkb::F32 grad_q = lkb::f32_opt(info, 13, "gradQ", a.q);
  const lkb::F32 grad_k = lkb::f32_opt(info, 14, "gradK", a.k);
  const lkb::F32 grad_v = lkb::f32_opt(info, 15, "gradV", a.v);
  if (a.B * a.H == 0) return info.Env().Undefined();
  LK_DISPATCH(attention_backward, a.B * a.H, a.Tq, a.Tk, a.d, a.dv, a.scale, q.data, k.data, v.data, out.data, lse.data,
              grad_out.data, grad_q.data, grad_k.data, grad_v.data);
  return info.Env().Undefined();
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  lkb::def(env, exports, "attentionForward", AttentionForward);
  lkb::def(env, exports, "attentionBackward", AttentionBackward);
}
