// Fused multi-head attention, flash-attention style: out = softmax(q k^T * scale) v per (batch,
// head), computed block by block with an online softmax so no Tq x Tk matrix is materialised.
// Layouts (contiguous, row-major): q [BH, Tq, d], k [BH, Tk, d], v [BH, Tk, dv], out [BH, Tq, dv],
// lse [BH, Tq] (per-row log-sum-exp of the scaled logits, saved for the backward).
#pragma once
#include <cstdint>

#include "isa.h"

// probs (optional, nullptr to skip): [BH, Tq, Tk], the normalised attention probabilities.
LK_ISA_DECLARE(void attention_forward(int64_t BH, int64_t Tq, int64_t Tk, int64_t d, int64_t dv, float scale,
                                      const float* q, const float* k, const float* v, float* out, float* lse,
                                      float* probs))

// Gradients of the forward above given gradOut [BH, Tq, dv]; the forward's out and lse are inputs.
// Each of grad_q / grad_k / grad_v may be nullptr (not needed); the others are overwritten.
LK_ISA_DECLARE(void attention_backward(int64_t BH, int64_t Tq, int64_t Tk, int64_t d, int64_t dv, float scale,
                                       const float* q, const float* k, const float* v, const float* out,
                                       const float* lse, const float* grad_out, float* grad_q, float* grad_k,
                                       float* grad_v))
