// SIMT emulation: runs the project's CUDA kernels on the CPU, compiled by g++, to check them for
// correctness on machines without a GPU. A test tool, not a backend anyone should run for speed.
//
// Each CUDA thread is a fiber with its own guard-paged stack. A fiber runs until it reaches a sync
// point (__syncthreads, a warp shuffle/vote, __syncwarp) or exits; the block's scheduler then
// resumes the others, in an order drawn from a seed, and completes a barrier or a collective once
// every thread it waits for has arrived. Blocks run one after another, also in a seeded order.
// Reported as lk_emu::Error (never an abort): barrier divergence, collectives waiting on exited or
// absent lanes, mismatched collectives, launches over CUDA's limits. Device and shared memory are
// allocated at their exact size and filled with NaN, so ASan sees overruns and unwritten outputs
// read as NaN. What it cannot judge: speed, the memory model (every store is visible at once),
// the hardware's atomics (atomicAdd is sequential here) and warp-synchronous code without *_sync.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};

namespace lk_emu {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The per-fiber view of the launch (what threadIdx & co. read).
struct ThreadState {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
};
// The running fiber's state (set by the scheduler at each switch; a zero state outside kernels).
extern const ThreadState* g_current_state;
inline const ThreadState& current() { return *g_current_state; }

// Seed of the thread and block order: set_seed(), else LKVIT_SIMT_SEED, else 1.
void set_seed(uint64_t seed);
uint64_t seed();

// Launch limits (CUDA's, for compute capability 8.0/9.0).
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDimZ = 64;
constexpr unsigned kMaxGridDimYZ = 65535;
constexpr size_t kDefaultDynamicSmem = 48 * 1024;
constexpr size_t kMaxDynamicSmemOptIn = 227 * 1024;

// Runs body once per CUDA thread of grid x block; throws Error on a limit, divergence or fault.
void launch(const void* kernel_key, const char* name, dim3 grid, dim3 block, size_t dynamic_smem,
            const std::function<void()>& body);
// The emulated cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes).
void set_max_dynamic_smem(const void* kernel_key, size_t bytes);

// Device memory: exact size, NaN-filled. free(nullptr) is a no-op.
void* device_malloc(size_t bytes);
void device_free(void* p);
// Threads and blocks ever run (for the tests' throughput numbers).
uint64_t threads_run();

// Shared memory of the running block: a static array keyed by its declaration, or the dynamic one.
void* shared_slot(const void* key, size_t bytes, size_t align);
void* dynamic_shared();

// Sync points.
void syncthreads();
void syncwarp(unsigned mask);
enum class Collective : int { Shfl, ShflUp, ShflDown, ShflXor, Ballot, Any, All, SyncWarp };
uint64_t collective(Collective kind, unsigned mask, uint64_t value, int arg, int width);

template <typename T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace lk_emu

// ---- CUDA's vocabulary, as seen by a kernel compiled with g++ ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define threadIdx (::lk_emu::current().thread_idx)
#define blockIdx (::lk_emu::current().block_idx)
#define blockDim (::lk_emu::current().block_dim)
#define gridDim (::lk_emu::current().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { lk_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { lk_emu::syncwarp(mask); }

template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return lk_emu::from_bits<T>(lk_emu::collective(lk_emu::Collective::Shfl, mask, lk_emu::to_bits(v), src, width));
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return lk_emu::from_bits<T>(
      lk_emu::collective(lk_emu::Collective::ShflUp, mask, lk_emu::to_bits(v), int(delta), width));
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return lk_emu::from_bits<T>(
      lk_emu::collective(lk_emu::Collective::ShflDown, mask, lk_emu::to_bits(v), int(delta), width));
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return lk_emu::from_bits<T>(
      lk_emu::collective(lk_emu::Collective::ShflXor, mask, lk_emu::to_bits(v), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return unsigned(lk_emu::collective(lk_emu::Collective::Ballot, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) {
  return int(lk_emu::collective(lk_emu::Collective::Any, mask, pred != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int pred) {
  return int(lk_emu::collective(lk_emu::Collective::All, mask, pred != 0, 0, 32));
}

// Fibers of one block never run at the same time, so a plain read-modify-write is atomic here.
template <typename T>
inline T atomicAdd(T* address, T v) {
  const T old = *address;
  *address = old + v;
  return old;
}

// CUDA's integer min/max overloads.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

// Math intrinsics: the fast GPU versions are approximations; here they are the libm functions.
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline float __frcp_rn(float x) { return 1.f / x; }
// Explicitly rounded operations (never contracted into an FMA: the emulated build uses -ffp-contract=off).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
// fmaf, sqrtf, expf, fmaxf... are <cmath>'s (glibc declares them globally).
