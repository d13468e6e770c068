// Accurate float sums shared by the memory-bound families (norm.cc, nn.cc, steps.cc).
#pragma once
#include <cstdint>

namespace lk {

// sum over i in [0, n) of term(i): float lanes inside blocks of 1024 (independent lanes, so the
// compiler vectorises without -ffast-math), blocks folded into double (accurate for long sums).
template <class Term>
inline double blocked_sum(int64_t n, const Term& term) {
  constexpr int kLanes = 16;
  constexpr int64_t kBlock = 1024;
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = b + kBlock < n ? b + kBlock : n;
    float acc[kLanes] = {};
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += term(i + j);
    double s = 0;
    for (; i < e; ++i) s += term(i);
    for (int j = 0; j < kLanes; ++j) s += acc[j];
    total += s;
  }
  return total;
}

}  // namespace lk
