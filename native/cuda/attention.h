// Fused multi-head attention on the device (float32): out = softmax(scale q k^T) v per head, with
// the same layout and saved log-sum-exp as native/cpu/attention.h; every pointer is device memory.
#pragma once
#include <cstdint>

namespace lk_cuda {

// q [bh, tq, d], k [bh, tk, d], v [bh, tk, dv], out [bh, tq, dv], lse [bh, tq].
struct AttentionShape {
  int64_t bh, tq, tk, d, dv;
  float scale;
};

// out and lse; probs [bh, tq, tk] too when not null.
void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* out, float* lse,
                       float* probs);
// Gradients for grad_out [bh, tq, dv]; each of grad_q, grad_k, grad_v may be null (not computed).
// Deterministic: grad_q is reduced over keys per query tile, grad_k and grad_v over queries per key
// tile, each in a fixed order (no atomics).
void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const float* grad_out, float* grad_q, float* grad_k, float* grad_v);

}  // namespace lk_cuda
