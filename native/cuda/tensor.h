// The tensor layer's shape, broadcasting and reduction work on the device (float32): strided copy,
// strided binary arithmetic and a strided sum. Shapes and strides are in elements, rank at most 8,
// left-padded by the caller (the binding) to exactly kMaxRank dims of extent 1 and stride 0; every
// offset reached was checked against its array. Every pointer is device memory.
#pragma once
#include <cstdint>

namespace lk_cuda {

constexpr int kMaxRank = 8;

struct Strides {
  int64_t v[kMaxRank];
};

// dst[dst_offset + sum i_d dst_strides_d] = src[src_offset + sum i_d src_strides_d] for every
// multi-index i of shape. dst must not map two indices to one element (the binding checks), and
// src and dst must not overlap (the caller's duty: the threads run in no particular order); y of
// binary_strided and reduce_sum must not overlap their inputs either.
void strided_copy(const Strides& shape, const float* src, int64_t src_offset, const Strides& src_strides, float* dst,
                  int64_t dst_offset, const Strides& dst_strides);
// y (contiguous over shape)[i] = a[...] op b[...], op: 0 add, 1 sub, 2 mul (lk::ArithOp's codes).
void binary_strided(int op, const Strides& shape, const float* a, int64_t a_offset, const Strides& a_strides,
                    const float* b, int64_t b_offset, const Strides& b_strides, float* y);
// y (contiguous over out_shape)[i] = scale * sum over j of x[x_offset + i . out_strides + j . red_strides],
// in a fixed order: sequentially in row-major j for short reductions, else thread-strided partials of
// a block per output and a fixed shuffle tree. An empty red_shape (all 1) sums one term; a 0 gives 0.
void reduce_sum(const float* x, int64_t x_offset, const Strides& out_shape, const Strides& out_strides,
                const Strides& red_shape, const Strides& red_strides, float scale, float* y);

}  // namespace lk_cuda
