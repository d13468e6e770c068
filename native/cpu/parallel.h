// The engine's own thread pool. Kernels split work with lk::parallel_for; the calling
// thread takes part, so a pool of N threads runs N-1 workers.
#pragma once
#include <cstdint>

namespace lk {

using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);

// Runs fn over [0, n) in chunks of at least `grain` items on the pool. Re-entrant calls
// (a kernel inside a kernel, or a second JS thread while the pool is busy) run inline.
void parallel_for_raw(int64_t n, int64_t grain, RangeFn fn, void* ctx);

int num_threads();
void set_num_threads(int n);  // n <= 0 restores the default (LKVIT_NUM_THREADS or the core count)

// Header-only adaptor: the closure type is unique to each translation unit, so this is safe
// to use from the ISA-specific files (no shared inline code compiled with different flags).
template <class F>
inline void parallel_for(int64_t n, int64_t grain, const F& f) {
  parallel_for_raw(
      n, grain, [](void* c, int64_t b, int64_t e) { (*static_cast<const F*>(c))(b, e); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

// Aligned scratch memory, freed on scope exit. Out-of-line so ISA files share no inline code.
class Scratch {
 public:
  explicit Scratch(int64_t floats);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* data() const { return p_; }

 private:
  float* p_;
};

}  // namespace lk
