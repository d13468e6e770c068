// The device memory of device tensors: a caching allocator over runtime.h's device_alloc, as
// PyTorch's. Freed blocks go to a free list by size and are handed out again without a
// cudaMalloc (which synchronises the device and costs ~100 us). Blocks are reused only after the
// default stream has passed them: every kernel runs on that one stream, so a kernel launched after
// the free sees the block only after the kernels that used it. When cudaMalloc fails the cache is
// emptied and the allocation tried once more; then the error names the request and the cache.
//
// Sizes: requests round up to 512 bytes (below 1 MiB) or to 2 MiB multiples, and a cached block
// serves a request of at least half its size, so ragged shapes (the last batch) still hit. The
// emulated build keeps exact sizes (no rounding, no sharing of a block between sizes) and fills a
// reused block with NaN again, so ASan and the NaN poisoning keep seeing overruns and unwritten
// outputs. LKVIT_CUDA_CACHE=0 turns caching off (every free is a cudaFree): the ASan script uses it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lk_cuda {

void* cached_alloc(size_t bytes);
void cached_free(void* p);

struct MemoryStats {
  size_t allocated = 0;       // bytes in live blocks (as rounded)
  size_t reserved = 0;        // live + cached bytes held from the device
  size_t peak_allocated = 0;  // high-water mark of `allocated`
  size_t cached_blocks = 0;
  size_t device_allocs = 0;  // cudaMalloc calls so far
};
MemoryStats memory_stats();
// Returns every cached block to the device.
void empty_cache();

}  // namespace lk_cuda
