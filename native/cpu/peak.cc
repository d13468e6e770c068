// Timing and threading of the yardstick (the FMA loop itself is peak_isa.cc, once per ISA).
#include "peak.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "parallel.h"

namespace lk {
namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double run_chains(int64_t iters, float seed) {
  switch (active_isa()) {
    case Isa::avx512:
      return lk_avx512::fma_chains(iters, seed);
    case Isa::avx2:
      return lk_avx2::fma_chains(iters, seed);
    default:
      return lk_generic::fma_chains(iters, seed);
  }
}

// Runs fn on exactly `threads` threads of the pool (one item each), restoring the pool's size.
template <class F>
void on_threads(int threads, const F& fn) {
  const int keep = num_threads();
  set_num_threads(threads);
  parallel_for(threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; t++) fn(t);
  });
  set_num_threads(keep);
}

}  // namespace

double measure_fma_peak(int threads, double seconds, int repeats) {
  // Calibrate on one thread: iterations for about `seconds`.
  int64_t iters = 1 << 14;
  for (;;) {
    const double t0 = now();
    run_chains(iters, 1.0f);
    const double dt = now() - t0;
    if (dt > seconds / 8 || iters > (int64_t(1) << 40)) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(iters * seconds / std::max(dt, 1e-9)));
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int r = 0; r < repeats; r++) {
    std::vector<double> flops(threads, 0.0);
    const double t0 = now();
    on_threads(threads, [&](int64_t t) { flops[t] = run_chains(iters, 1.0f + static_cast<float>(t)); });
    const double dt = now() - t0;
    double total = 0;
    for (double f : flops) total += f;
    best = std::max(best, total / dt * 1e-9);
  }
  return best;
}

double measure_bandwidth(int threads, int64_t bytes_per_array, int repeats) {
  const int64_t n = std::max<int64_t>(1024, bytes_per_array / 4);
  Scratch a(n), b(n), c(n);
  // First touch on the threads that will use each part (NUMA/page placement as in the timed runs).
  const int64_t chunk = (n + threads - 1) / threads;
  auto part = [&](int64_t t, int64_t* lo, int64_t* hi) {
    *lo = std::min(n, t * chunk);
    *hi = std::min(n, *lo + chunk);
  };
  on_threads(threads, [&](int64_t t) {
    int64_t lo, hi;
    part(t, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
      a.data()[i] = 0;
      b.data()[i] = 1;
      c.data()[i] = 2;
    }
  });
  double best = 0;
  for (int r = 0; r < repeats; r++) {
    const double t0 = now();
    on_threads(threads, [&](int64_t t) {
      int64_t lo, hi;
      part(t, &lo, &hi);
      float* __restrict pa = a.data();
      const float* __restrict pb = b.data();
      const float* __restrict pc = c.data();
      for (int64_t i = lo; i < hi; i++) pa[i] = pb[i] + 0.5f * pc[i];
    });
    const double dt = now() - t0;
    best = std::max(best, 3.0 * 4.0 * static_cast<double>(n) / dt * 1e-9);
  }
  return best;
}

}  // namespace lk
