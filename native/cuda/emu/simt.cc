// The SIMT emulation's scheduler: fibers (a 20-instruction context switch on x86-64, ucontext
// elsewhere) on guard-paged stacks, one block at a time. See simt.h for what it checks.
#include "simt.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <unordered_map>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define LK_EMU_ASAN 1
#else
#define LK_EMU_ASAN 0
#endif

#if defined(__x86_64__)
// void lk_emu_switch(void** save_sp, void* new_sp): saves the callee-saved registers, MXCSR and
// the x87 control word on the current stack, stores its pointer, and resumes the other stack.
asm(R"(
  .text
  .globl lk_emu_switch
  .type lk_emu_switch,@function
lk_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size lk_emu_switch, .-lk_emu_switch
)");
extern "C" void lk_emu_switch(void** save_sp, void* new_sp);
#endif

namespace lk_emu {

namespace {
const ThreadState g_outside_state{};
}  // namespace
const ThreadState* g_current_state = &g_outside_state;

namespace {

constexpr size_t kStackBytes = LK_EMU_ASAN ? 512 * 1024 : 64 * 1024;
constexpr size_t kStaticSmemLimit = 48 * 1024;

enum class Wait { Running, Barrier, Collective, Done };

const char* collective_name(Collective k) {
  switch (k) {
    case Collective::Shfl:
      return "__shfl_sync";
    case Collective::ShflUp:
      return "__shfl_up_sync";
    case Collective::ShflDown:
      return "__shfl_down_sync";
    case Collective::ShflXor:
      return "__shfl_xor_sync";
    case Collective::Ballot:
      return "__ballot_sync";
    case Collective::Any:
      return "__any_sync";
    case Collective::All:
      return "__all_sync";
    case Collective::SyncWarp:
      return "__syncwarp";
  }
  return "?";
}

struct Stack {
  char* map = nullptr;  // guard page, then the stack
  size_t bytes = 0;
  char* lo() const { return map + page_size(); }
  size_t size() const { return bytes - page_size(); }
  static size_t page_size() {
    static const size_t p = size_t(sysconf(_SC_PAGESIZE));
    return p;
  }
};

struct Fiber {
  ThreadState st;
  unsigned linear = 0, warp = 0, lane = 0;
  Wait wait = Wait::Running;
  Collective kind = Collective::Shfl;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int arg = 0, width = 32;
  Stack* stack = nullptr;
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t ctx;
#endif
  void* fake_stack = nullptr;  // ASan's bookkeeping across switches
};

struct Block {
  std::vector<Fiber> fibers;
  std::unordered_map<const void*, void*> shared;
  size_t static_smem = 0;
  void* dynamic = nullptr;
  std::exception_ptr error;
};

struct Launch {
  const char* name = "";
  const std::function<void()>* body = nullptr;
  Block* block = nullptr;
  Fiber* current = nullptr;
#if defined(__x86_64__)
  void* sched_sp = nullptr;
#else
  ucontext_t sched_ctx;
#endif
  void* sched_fake = nullptr;
  const void* main_bottom = nullptr;
  size_t main_size = 0;
};

// One launch runs at a time in a process (launch() holds g_launch_mutex), so plain globals serve:
// thread_local would cost a __tls_get_addr call per threadIdx read in a shared object.
std::mutex g_launch_mutex;
Launch* g_launch = nullptr;
std::deque<Stack> g_stacks;  // reused across blocks and launches; a deque keeps Fiber::stack valid as it grows
uint64_t g_seed = 0;
bool g_seed_set = false;
uint64_t g_launch_counter = 0;
uint64_t g_threads_run = 0;
std::unordered_map<const void*, size_t>& smem_attributes() {
  static std::unordered_map<const void*, size_t> m;
  return m;
}

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(next() % i)]);
  }
};

void poison(void* p, size_t bytes) {
  const uint32_t nan = 0x7fc0dead;  // a quiet NaN as float32, recognisable in a debugger
  unsigned char* b = static_cast<unsigned char*>(p);
  size_t i = 0;
  for (; i + 4 <= bytes; i += 4) std::memcpy(b + i, &nan, 4);
  for (; i < bytes; ++i) b[i] = 0xff;
}

[[noreturn]] void fail(const std::string& what) {
  const Launch* L = g_launch;
  std::string where = L ? std::string("kernel ") + L->name : std::string("SIMT emulation");
  if (L && L->current) {
    const ThreadState& s = L->current->st;
    where += " block (" + std::to_string(s.block_idx.x) + "," + std::to_string(s.block_idx.y) + "," +
             std::to_string(s.block_idx.z) + ") thread (" + std::to_string(s.thread_idx.x) + "," +
             std::to_string(s.thread_idx.y) + "," + std::to_string(s.thread_idx.z) + ")";
  }
  throw Error(where + ": " + what);
}

Stack* stack_for(size_t i) {
  while (g_stacks.size() <= i) {
    Stack s;
    s.bytes = kStackBytes + Stack::page_size();
    void* m = mmap(nullptr, s.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw Error("SIMT emulation: cannot map a fiber stack");
    s.map = static_cast<char*>(m);
    mprotect(s.map, Stack::page_size(), PROT_NONE);  // the guard page: an overflow faults
    g_stacks.push_back(s);
  }
  return &g_stacks[i];
}

// ---- context switches, with ASan told about each stack change
void after_switch_in(void* fake) {
#if LK_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, &g_launch->main_bottom, &g_launch->main_size);
#else
  (void)fake;
#endif
}

[[noreturn]] void fiber_exit(Fiber* f);

extern "C" void lk_emu_fiber_entry() {
  Launch* L = g_launch;
  Fiber* f = L->current;
  after_switch_in(nullptr);
  try {
    (*L->body)();
  } catch (...) {
    if (!L->block->error) L->block->error = std::current_exception();
  }
  fiber_exit(f);
}

#if !defined(__x86_64__)
void ucontext_entry() { lk_emu_fiber_entry(); }
#endif

// A fiber never returns from its entry frame, and an aborted block leaves kernel frames behind, so
// ASan's redzones from the stack's last use are still marked: clear them before reuse (the top
// frames after a normal exit, the whole stack after an abort).
void unpoison_stack(Stack* st, bool whole) {
#if LK_EMU_ASAN
  const size_t n = whole ? st->size() : std::min<size_t>(st->size(), 16 * 1024);
  __asan_unpoison_memory_region(st->lo() + st->size() - n, n);
#else
  (void)st, (void)whole;
#endif
}

void init_fiber_context(Fiber* f) {
  unpoison_stack(f->stack, false);
#if defined(__x86_64__)
  // Stack image popped by lk_emu_switch: csr word, r15..rbp, the "return" into the entry, and a
  // zero return address for the entry itself (where unwinders stop). The entry then starts with
  // rsp = 8 mod 16, as after a call.
  uintptr_t top = reinterpret_cast<uintptr_t>(f->stack->lo() + f->stack->size()) & ~uintptr_t(15);
  uint64_t* sp = reinterpret_cast<uint64_t*>(top - 72);
  const uint32_t mxcsr = 0x1f80, fpucw = 0x037f;
  sp[0] = uint64_t(mxcsr) | (uint64_t(fpucw) << 32);
  for (int i = 1; i <= 6; ++i) sp[i] = 0;
  sp[7] = reinterpret_cast<uint64_t>(&lk_emu_fiber_entry);
  sp[8] = 0;
  f->sp = sp;
#else
  getcontext(&f->ctx);
  f->ctx.uc_stack.ss_sp = f->stack->lo();
  f->ctx.uc_stack.ss_size = f->stack->size();
  f->ctx.uc_link = nullptr;
  makecontext(&f->ctx, ucontext_entry, 0);
#endif
}

// Scheduler -> fiber f, until f reaches a sync point or exits.
void resume(Fiber* f) {
  Launch* L = g_launch;
  L->current = f;
  g_current_state = &f->st;
#if LK_EMU_ASAN
  __sanitizer_start_switch_fiber(&L->sched_fake, f->stack->lo(), f->stack->size());
#endif
#if defined(__x86_64__)
  lk_emu_switch(&L->sched_sp, f->sp);
#else
  swapcontext(&L->sched_ctx, &f->ctx);
#endif
#if LK_EMU_ASAN
  __sanitizer_finish_switch_fiber(L->sched_fake, nullptr, nullptr);
#endif
  L->current = nullptr;
  g_current_state = &g_outside_state;
}

// Fiber -> scheduler; returns when the scheduler resumes this fiber.
void yield(Fiber* f) {
  Launch* L = g_launch;
#if LK_EMU_ASAN
  __sanitizer_start_switch_fiber(&f->fake_stack, L->main_bottom, L->main_size);
#endif
#if defined(__x86_64__)
  lk_emu_switch(&f->sp, L->sched_sp);
#else
  swapcontext(&f->ctx, &L->sched_ctx);
#endif
  after_switch_in(f->fake_stack);
}

void fiber_exit(Fiber* f) {
  Launch* L = g_launch;
  f->wait = Wait::Done;
#if LK_EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, L->main_bottom, L->main_size);
#endif
#if defined(__x86_64__)
  void* dead;
  lk_emu_switch(&dead, L->sched_sp);
#else
  setcontext(&L->sched_ctx);
#endif
  __builtin_unreachable();
}

Fiber* self(const char* what) {
  if (!g_launch || !g_launch->current) throw Error(std::string(what) + " called outside an emulated kernel");
  return g_launch->current;
}

std::string lane_list(unsigned bits) {
  std::string s;
  for (int i = 0; i < 32; ++i)
    if (bits >> i & 1u) s += (s.empty() ? "" : ",") + std::to_string(i);
  return s;
}

// Completes every warp collective whose lanes have all arrived; returns the released fibers.
// Throws on a collective that can never complete (an exited lane, mismatched calls).
void resolve_collectives(Block& b, std::vector<Fiber*>& released) {
  const size_t n = b.fibers.size();
  for (size_t w0 = 0; w0 < n; w0 += 32) {
    Fiber* lanes = &b.fibers[w0];
    const unsigned count = unsigned(std::min<size_t>(32, n - w0));
    unsigned handled = 0;
    for (unsigned l = 0; l < count; ++l) {
      Fiber& f = lanes[l];
      if (f.wait != Wait::Collective || (handled >> l & 1u)) continue;
      const unsigned m = f.mask;
      bool ready = true;
      for (unsigned k = 0; k < count; ++k) {
        if (!(m >> k & 1u)) continue;
        const Fiber& o = lanes[k];
        if (o.wait == Wait::Done) {
          g_launch->current = &f;
          fail(std::string(collective_name(f.kind)) + " with mask 0x" +
               [&] {
                 char h[16];
                 snprintf(h, sizeof h, "%08x", m);
                 return std::string(h);
               }() +
               " waits on lane " + std::to_string(k) + ", which has exited (divergent collective)");
        }
        if (o.wait == Wait::Collective && (o.mask != m || o.kind != f.kind)) {
          g_launch->current = &f;
          fail(std::string(collective_name(f.kind)) + " in lane " + std::to_string(l) + " meets " +
               collective_name(o.kind) + " in lane " + std::to_string(k) +
               (o.mask != m ? " with a different mask" : "") + " (divergent collective)");
        }
        if (o.wait != Wait::Collective) ready = false;
      }
      if (!ready) continue;
      handled |= m;
      for (unsigned k = 0; k < count; ++k) {
        if (!(m >> k & 1u)) continue;
        Fiber& o = lanes[k];
        const int width = o.width;
        const int seg = int(k) & ~(width - 1);
        int src = int(k);
        switch (o.kind) {
          case Collective::Shfl:
            src = seg + (((o.arg % width) + width) % width);
            break;
          case Collective::ShflUp:
            src = int(k) - o.arg < seg ? int(k) : int(k) - o.arg;
            break;
          case Collective::ShflDown:
            src = int(k) + o.arg >= seg + width ? int(k) : int(k) + o.arg;
            break;
          case Collective::ShflXor: {
            const int t = int(k) ^ o.arg;
            src = (t < seg || t >= seg + width) ? int(k) : t;
            break;
          }
          default:
            break;
        }
        switch (o.kind) {
          case Collective::Ballot:
          case Collective::Any:
          case Collective::All: {
            unsigned bits = 0;
            for (unsigned q = 0; q < count; ++q)
              if ((m >> q & 1u) && lanes[q].value) bits |= 1u << q;
            o.result = o.kind == Collective::Ballot ? bits : o.kind == Collective::Any ? bits != 0 : bits == m;
            break;
          }
          case Collective::SyncWarp:
            o.result = 0;
            break;
          default:
            if (src >= int(count) || !(m >> src & 1u)) {
              g_launch->current = &o;
              fail(std::string(collective_name(o.kind)) + " in lane " + std::to_string(k) + " reads lane " +
                   std::to_string(src) + ", which is not in its mask (undefined on a GPU)");
            }
            o.result = lanes[src].value;
        }
      }
      for (unsigned k = 0; k < count; ++k)
        if (m >> k & 1u) {
          lanes[k].wait = Wait::Running;
          released.push_back(&lanes[k]);
        }
    }
  }
}

// Nothing can run and not every thread waits at the barrier: name what each warp waits for.
[[noreturn]] void report_stuck(Block& b) {
  size_t done = 0, barrier = 0;
  Fiber* coll = nullptr;
  for (Fiber& f : b.fibers) {
    done += f.wait == Wait::Done;
    barrier += f.wait == Wait::Barrier;
    if (f.wait == Wait::Collective && !coll) coll = &f;
  }
  if (coll) {
    g_launch->current = coll;
    fail(std::string(collective_name(coll->kind)) + " (mask " + lane_list(coll->mask) +
         ") can never complete: " + std::to_string(barrier) + " threads wait at __syncthreads and " +
         std::to_string(done) + " have exited (collective in a divergent branch)");
  }
  Fiber* waiting = nullptr;
  for (Fiber& f : b.fibers)
    if (f.wait == Wait::Barrier) {
      waiting = &f;
      break;
    }
  g_launch->current = waiting;
  fail("barrier divergence: " + std::to_string(barrier) + " threads wait at __syncthreads while " +
       std::to_string(done) + " threads of the block have exited");
}

void run_block(Block& b, Rng& rng) {
  std::vector<Fiber*> runnable;
  runnable.reserve(b.fibers.size());
  for (Fiber& f : b.fibers) runnable.push_back(&f);
  rng.shuffle(runnable);
  std::vector<Fiber*> next;
  for (;;) {
    for (Fiber* f : runnable) {
      resume(f);
      if (b.error) std::rethrow_exception(b.error);
    }
    runnable.clear();
    resolve_collectives(b, runnable);
    if (!runnable.empty()) {
      rng.shuffle(runnable);
      continue;
    }
    size_t done = 0, barrier = 0;
    for (Fiber& f : b.fibers) {
      done += f.wait == Wait::Done;
      barrier += f.wait == Wait::Barrier;
    }
    if (done == b.fibers.size()) return;
    if (barrier + done != b.fibers.size() || done > 0) report_stuck(b);
    for (Fiber& f : b.fibers) {
      f.wait = Wait::Running;
      runnable.push_back(&f);
    }
    rng.shuffle(runnable);
  }
}

void check_launch(const void* key, dim3 grid, dim3 block, size_t smem) {
  auto bad = [](const std::string& what) { fail("invalid launch: " + what); };
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0) bad("a grid or block dimension is 0");
  if (threads > kMaxThreadsPerBlock)
    bad(std::to_string(threads) + " threads per block, more than CUDA's limit of " +
        std::to_string(kMaxThreadsPerBlock));
  if (block.x > 1024 || block.y > 1024 || block.z > kMaxBlockDimZ)
    bad("block dims (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," + std::to_string(block.z) +
        ") over CUDA's limits (1024, 1024, 64)");
  if (grid.x > 0x7fffffffu || grid.y > kMaxGridDimYZ || grid.z > kMaxGridDimYZ)
    bad("grid dims (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," + std::to_string(grid.z) +
        ") over CUDA's limits (2^31-1, 65535, 65535)");
  if (smem > kDefaultDynamicSmem) {
    auto it = smem_attributes().find(key);
    const size_t allowed = it == smem_attributes().end() ? kDefaultDynamicSmem : it->second;
    if (smem > allowed)
      bad(std::to_string(smem) + " bytes of dynamic shared memory, over " + std::to_string(allowed) +
          " (above 48 KiB a kernel needs cudaFuncAttributeMaxDynamicSharedMemorySize)");
  }
}

}  // namespace

void set_seed(uint64_t s) {
  g_seed = s;
  g_seed_set = true;
}

uint64_t seed() {
  if (!g_seed_set) {
    const char* e = std::getenv("LKVIT_SIMT_SEED");
    g_seed = e ? std::strtoull(e, nullptr, 10) : 1;
    g_seed_set = true;
  }
  return g_seed;
}

uint64_t threads_run() { return g_threads_run; }

void set_max_dynamic_smem(const void* key, size_t bytes) {
  if (bytes > kMaxDynamicSmemOptIn)
    throw Error("cudaFuncSetAttribute: " + std::to_string(bytes) + " bytes of dynamic shared memory, over the " +
                std::to_string(kMaxDynamicSmemOptIn) + " a block can have");
  smem_attributes()[key] = bytes;
}

void launch(const void* key, const char* name, dim3 grid, dim3 block, size_t smem, const std::function<void()>& body) {
  if (g_launch && g_launch->current)
    throw Error(std::string("kernel ") + name + ": launched from inside an emulated kernel");
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  Launch L;
  L.name = name;
  L.body = &body;
  g_launch = &L;
  struct Reset {
    ~Reset() { g_launch = nullptr; }
  } reset;
  check_launch(key, grid, block, smem);

  Rng rng{seed() * 0x2545f4914f6cdd1dull + (++g_launch_counter)};
  const unsigned nthreads = block.x * block.y * block.z;
  const uint64_t nblocks = uint64_t(grid.x) * grid.y * grid.z;
  std::vector<uint64_t> order(nblocks);
  for (uint64_t i = 0; i < nblocks; ++i) order[i] = i;
  rng.shuffle(order);

  for (uint64_t bi : order) {
    Block b;
    L.block = &b;
    b.dynamic = std::malloc(smem);  // exact size (0 bytes: any access is an overrun)
    if (smem) poison(b.dynamic, smem);
    struct FreeShared {
      Block& b;
      ~FreeShared() {
        std::free(b.dynamic);
        for (auto& kv : b.shared) std::free(kv.second);
      }
    } free_shared{b};
    b.fibers.resize(nthreads);
    const uint3 bidx{unsigned(bi % grid.x), unsigned(bi / grid.x % grid.y), unsigned(bi / grid.x / grid.y)};
    for (unsigned t = 0; t < nthreads; ++t) {
      Fiber& f = b.fibers[t];
      f.st.thread_idx = uint3{t % block.x, t / block.x % block.y, t / block.x / block.y};
      f.st.block_idx = bidx;
      f.st.block_dim = block;
      f.st.grid_dim = grid;
      f.linear = t;
      f.warp = t / 32;
      f.lane = t % 32;
      f.stack = stack_for(t);
      init_fiber_context(&f);
    }
    try {
      run_block(b, rng);
    } catch (...) {
      for (unsigned t = 0; t < nthreads; ++t) unpoison_stack(b.fibers[t].stack, true);
      throw;
    }
    g_threads_run += nthreads;
  }
}

void* device_malloc(size_t bytes) {
  void* p = std::malloc(bytes ? bytes : 1);
  if (!p) throw Error("emulated cudaMalloc: out of memory (" + std::to_string(bytes) + " bytes)");
  poison(p, bytes);
  return p;
}

void device_free(void* p) { std::free(p); }

void* shared_slot(const void* key, size_t bytes, size_t align) {
  Fiber* f = self("__shared__ declaration");
  (void)f;
  Block& b = *g_launch->block;
  auto it = b.shared.find(key);
  if (it != b.shared.end()) return it->second;
  if (align > alignof(std::max_align_t)) fail("__shared__ array aligned beyond malloc's alignment");
  b.static_smem += bytes;
  if (b.static_smem > kStaticSmemLimit)
    fail("static shared memory of " + std::to_string(b.static_smem) + " bytes, over CUDA's 48 KiB");
  void* p = std::malloc(bytes);
  poison(p, bytes);
  b.shared.emplace(key, p);
  return p;
}

void* dynamic_shared() {
  self("dynamic shared memory");
  return g_launch->block->dynamic;
}

void syncthreads() {
  Fiber* f = self("__syncthreads");
  f->wait = Wait::Barrier;
  yield(f);
}

uint64_t collective(Collective kind, unsigned mask, uint64_t value, int arg, int width) {
  Fiber* f = self(collective_name(kind));
  if (width <= 0 || width > 32 || (width & (width - 1)))
    fail(std::string(collective_name(kind)) + ": width " + std::to_string(width) + " is not a power of 2 in [1, 32]");
  if (!(mask >> f->lane & 1u))
    fail(std::string(collective_name(kind)) + ": the calling lane " + std::to_string(f->lane) +
         " is not in its mask (undefined on a GPU)");
  const size_t warp_lanes = std::min<size_t>(32, g_launch->block->fibers.size() - size_t(f->warp) * 32);
  if (warp_lanes < 32 && (mask >> warp_lanes))
    fail(std::string(collective_name(kind)) + ": mask names lanes " +
         lane_list(unsigned(mask >> warp_lanes << warp_lanes)) + " that this partial warp of " +
         std::to_string(warp_lanes) + " threads does not have");
  f->wait = Wait::Collective;
  f->kind = kind;
  f->mask = mask;
  f->value = value;
  f->arg = arg;
  f->width = width;
  yield(f);
  return f->result;
}

void syncwarp(unsigned mask) { collective(Collective::SyncWarp, mask, 0, 0, 32); }

}  // namespace lk_emu
