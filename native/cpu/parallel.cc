#include "parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <algorithm>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace lk {
namespace {

constexpr int kSpinMicros = 100;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

int default_threads() {
  if (const char* s = std::getenv("LKVIT_NUM_THREADS")) {
    int v = std::atoi(s);
    if (v > 0) return v;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// A job lives on the caller's stack; chunks are handed out through its atomic counter. The
// caller returns only when every chunk is done and no worker still holds the job.
struct Job {
  RangeFn fn;
  void* ctx;
  int64_t n, chunks;
  std::atomic<int64_t> next{0};
  int64_t done = 0;  // guarded by Pool::mu_
  int holders = 0;   // workers that picked the job up, guarded by Pool::mu_
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // the first exception a chunk threw, guarded by Pool::mu_
};

class Pool {
 public:
  Pool() { resize(default_threads()); }

  int size() {
    std::lock_guard<std::mutex> g(run_mu_);
    return nthreads_;
  }

  void resize(int n) {
    std::lock_guard<std::mutex> g(run_mu_);
    if (n < 1) n = 1;
    if (n == nthreads_ && int(workers_.size()) == n - 1) return;  // keep warm threads
    stop_workers();
    nthreads_ = n < 1 ? 1 : n;
    stopping_ = false;
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void run(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock() || nthreads_ == 1 || n <= grain) {
      fn(ctx, 0, n);
      return;
    }
    Job job;
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.chunks = std::min<int64_t>((n + grain - 1) / grain, int64_t(nthreads_) * 4);
    {
      std::lock_guard<std::mutex> g(mu_);
      current_ = &job;
      generation_.fetch_add(1);
    }
    cv_.notify_all();
    work(job);
    std::unique_lock<std::mutex> g(mu_);
    done_cv_.wait(g, [&] { return job.done == job.chunks && job.holders == 0; });
    current_ = nullptr;
    // An exception in any chunk (e.g. bad_alloc for scratch memory) reaches the caller, and
    // from there JavaScript, instead of terminating the process from a worker thread.
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  void work(Job& job) {
    int64_t done_here = 0;
    for (;;) {
      int64_t c = job.next.fetch_add(1);
      if (c >= job.chunks) break;
      ++done_here;
      if (job.failed.load(std::memory_order_relaxed)) continue;  // skip the rest after a failure
      try {
        job.fn(job.ctx, job.n * c / job.chunks, job.n * (c + 1) / job.chunks);
      } catch (...) {
        std::lock_guard<std::mutex> g(mu_);
        if (!job.error) job.error = std::current_exception();
        job.failed.store(true);
      }
    }
    std::lock_guard<std::mutex> g(mu_);
    job.done += done_here;
    if (job.done == job.chunks) done_cv_.notify_all();
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      // Spin briefly before sleeping: a model runs many short kernels back to back, and waking a
      // sleeping thread costs more than most of them (OpenMP runtimes do the same).
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
      for (int i = 1; generation_.load(std::memory_order_acquire) == seen; ++i) {
        cpu_relax();
        if (i % 32 == 0 && std::chrono::steady_clock::now() >= until) break;  // the clock costs more than a pause
      }
      Job* job;
      {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return stopping_ || (generation_ != seen && current_ != nullptr); });
        if (stopping_) return;
        seen = generation_;
        job = current_;
        ++job->holders;
      }
      work(*job);
      std::lock_guard<std::mutex> g(mu_);
      if (--job->holders == 0) done_cv_.notify_all();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex run_mu_;  // one job at a time; held by the caller for the whole job
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  int nthreads_ = 1;
  bool stopping_ = false;
  std::atomic<uint64_t> generation_{0};
  Job* current_ = nullptr;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: workers must not be joined during static teardown
  return *p;
}

}  // namespace

void parallel_for_raw(int64_t n, int64_t grain, RangeFn fn, void* ctx) { pool().run(n, grain, fn, ctx); }
int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n <= 0 ? default_threads() : n); }

Scratch::Scratch(int64_t floats) {
  size_t bytes = (static_cast<size_t>(floats < 1 ? 1 : floats) * sizeof(float) + 63) / 64 * 64;
  p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p_) throw std::bad_alloc();
}
Scratch::~Scratch() { std::free(p_); }

}  // namespace lk
