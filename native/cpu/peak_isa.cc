// The FMA loop of the yardstick, compiled once per ISA (binding.gyp's isa_sources). Twelve
// accumulators, each updated only from itself: twelve independent dependency chains, enough to
// cover an FMA latency of 4 cycles on 2 pipes plus slack. (A loop that adds into one accumulator is
// one chain and measures latency, not throughput: 8-12x too low.) The volatile-free trick that
// keeps the compiler from merging or deleting chains: the result is reduced and returned.
#include "peak.h"
#include "simd.h"

namespace LK_ISA_NS {

int fma_lanes() { return kVL; }

double fma_chains(int64_t iters, float seed) {
  const vf m = vset1(0.999999f), a = vset1(1e-7f);
  vf c0 = vset1(seed), c1 = vset1(seed + 1), c2 = vset1(seed + 2), c3 = vset1(seed + 3);
  vf c4 = vset1(seed + 4), c5 = vset1(seed + 5), c6 = vset1(seed + 6), c7 = vset1(seed + 7);
  vf c8 = vset1(seed + 8), c9 = vset1(seed + 9), c10 = vset1(seed + 10), c11 = vset1(seed + 11);
  for (int64_t i = 0; i < iters; i++) {
    c0 = vfma(c0, m, a);
    c1 = vfma(c1, m, a);
    c2 = vfma(c2, m, a);
    c3 = vfma(c3, m, a);
    c4 = vfma(c4, m, a);
    c5 = vfma(c5, m, a);
    c6 = vfma(c6, m, a);
    c7 = vfma(c7, m, a);
    c8 = vfma(c8, m, a);
    c9 = vfma(c9, m, a);
    c10 = vfma(c10, m, a);
    c11 = vfma(c11, m, a);
  }
  const vf s = vadd(vadd(vadd(c0, c1), vadd(c2, c3)), vadd(vadd(c4, c5), vadd(c6, c7)));
  const float keep = vsum(vadd(s, vadd(vadd(c8, c9), vadd(c10, c11))));
  // The result feeds the return value, so no chain can be dropped; it is a tiny positive number.
  return 2.0 * 12.0 * kVL * static_cast<double>(iters) + (keep < 0 ? 1 : 0);
}

}  // namespace LK_ISA_NS
