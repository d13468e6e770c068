// The caching allocator described in memory.h. Plain C++ over runtime.h, shared by both builds.
#include "memory.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "runtime.h"

namespace lk_cuda {
namespace {

#if LK_CUDA_EMULATED_BUILD
constexpr bool kExact = true;
#else
constexpr bool kExact = false;
#endif

size_t rounded(size_t bytes) {
  if (kExact) return bytes;
  if (bytes < (size_t(1) << 20)) return (bytes + 511) / 512 * 512;
  const size_t two_mib = size_t(2) << 20;
  return (bytes + two_mib - 1) / two_mib * two_mib;
}

struct State {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // size -> block
  std::unordered_map<void*, size_t> live;    // block -> size
  MemoryStats stats;
  bool caching = [] {
    const char* v = std::getenv("LKVIT_CUDA_CACHE");
    return !(v && std::strcmp(v, "0") == 0);
  }();
};

State& state() {
  static State* s = new State();  // never destroyed: blocks may be freed by finalizers at exit
  return *s;
}

void release_cached(State& s) {
  for (auto& [size, p] : s.free_blocks) {
    device_free(p);
    s.stats.reserved -= size;
  }
  s.free_blocks.clear();
  s.stats.cached_blocks = 0;
}

void poison(void* p, size_t bytes) {
  // Emulated device memory is host memory: a reused block reads NaN again until written.
  float* f = static_cast<float*>(p);
  for (size_t i = 0; i < bytes / sizeof(float); ++i) f[i] = std::nanf("");
}

}  // namespace

void* cached_alloc(size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  const size_t size = rounded(bytes);
  if (size == 0) return nullptr;
  void* p = nullptr;
  size_t got = size;
  if (s.caching) {
    auto it = s.free_blocks.lower_bound(size);
    if (it != s.free_blocks.end() && (kExact ? it->first == size : it->first <= 2 * size)) {
      got = it->first;
      p = it->second;
      s.free_blocks.erase(it);
      s.stats.cached_blocks--;
      if (kExact) poison(p, got);
    }
  }
  if (!p) {
    try {
      p = device_alloc(size);
    } catch (const Error&) {
      const size_t cached = s.stats.reserved - s.stats.allocated;
      release_cached(s);
      try {
        p = device_alloc(size);
      } catch (const Error& e) {
        throw Error(std::string("out of device memory: ") + std::to_string(bytes) + " bytes requested with " +
                    std::to_string(s.stats.allocated) + " bytes in live tensors (" + std::to_string(cached) +
                    " cached bytes were released first); free tensors with dispose() or lower the batch size. " +
                    e.what());
      }
    }
    s.stats.reserved += size;
    s.stats.device_allocs++;
  }
  s.live.emplace(p, got);
  s.stats.allocated += got;
  if (s.stats.allocated > s.stats.peak_allocated) s.stats.peak_allocated = s.stats.allocated;
  return p;
}

void cached_free(void* p) {
  if (!p) return;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.live.find(p);
  if (it == s.live.end()) throw Error("internal: cached_free of a pointer the allocator does not hold");
  const size_t size = it->second;
  s.live.erase(it);
  s.stats.allocated -= size;
  if (s.caching) {
    s.free_blocks.emplace(size, p);
    s.stats.cached_blocks++;
  } else {
    device_free(p);
    s.stats.reserved -= size;
  }
}

MemoryStats memory_stats() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.stats;
}

void empty_cache() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  release_cached(s);
}

}  // namespace lk_cuda
