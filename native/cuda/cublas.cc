// cuBLAS through dlopen (see cublas.h). Plain C++: the handle is an opaque pointer and the enums
// are the values cublas_api.h gives them (CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_DEFAULT_MATH = 0,
// CUBLAS_STATUS_SUCCESS = 0); a null stream is the default stream every lkvit kernel runs on.
#include "cublas.h"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "runtime.h"

#if !LK_CUDA_EMULATED_BUILD
#include <dlfcn.h>
#endif

namespace lk_cuda {
namespace {

using Handle = void*;
using CreateFn = int (*)(Handle*);
using SgemmFn = int (*)(Handle, int, int, int, int, int, const float*, const float*, int, const float*, int,
                        const float*, float*, int);
using SetMathModeFn = int (*)(Handle, int);
using GetVersionFn = int (*)(Handle, int*);

struct Cublas {
  CublasInfo info;
  Handle handle = nullptr;
  SgemmFn sgemm = nullptr;
};

Cublas& cublas() {
  static Cublas c;
  static std::once_flag once;
  std::call_once(once, [] {
#if LK_CUDA_EMULATED_BUILD
    c.info.reason = "the emulated build runs its own kernels only";
#else
    const char* off = std::getenv("LKVIT_CUBLAS");
    if (off && std::strcmp(off, "0") == 0) {
      c.info.reason = "LKVIT_CUBLAS=0";
      return;
    }
    void* lib = nullptr;
    for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib) {
        c.info.library = name;
        break;
      }
    }
    if (!lib) {
      c.info.reason = "libcublas.so not found";
      return;
    }
    auto create = reinterpret_cast<CreateFn>(dlsym(lib, "cublasCreate_v2"));
    auto sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "cublasSgemm_v2"));
    auto math = reinterpret_cast<SetMathModeFn>(dlsym(lib, "cublasSetMathMode"));
    auto version = reinterpret_cast<GetVersionFn>(dlsym(lib, "cublasGetVersion_v2"));
    if (!create || !sgemm || !math) {
      c.info.reason = c.info.library + " lacks cublasCreate_v2, cublasSgemm_v2 or cublasSetMathMode";
      return;
    }
    Handle h = nullptr;
    if (const int s = create(&h); s != 0) {
      c.info.reason = "cublasCreate_v2 returned status " + std::to_string(s);
      return;
    }
    // CUBLAS_DEFAULT_MATH: plain FP32 products, no TF32 tensor cores (the CPU engine's precision).
    if (const int s = math(h, 0); s != 0) {
      c.info.reason = "cublasSetMathMode returned status " + std::to_string(s);
      return;
    }
    if (version) version(h, &c.info.version);
    c.handle = h;
    c.sgemm = sgemm;
    c.info.loaded = true;
#endif
  });
  return c;
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

const CublasInfo& cublas_info() { return cublas().info; }

bool cublas_sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  Cublas& c = cublas();
  if (!c.info.loaded) return false;
  if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(lda) || !fits_int(ldb) || !fits_int(ldc)) return false;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the operands swap, the
  // transposes stay (a row-major matrix read column-major is its transpose).
  const int s = c.sgemm(c.handle, transB ? 1 : 0, transA ? 1 : 0, int(N), int(M), int(K), &alpha, B, int(ldb), A,
                        int(lda), &beta, C, int(ldc));
  if (s != 0) throw Error("cublasSgemm_v2 returned status " + std::to_string(s));
  return true;
}

}  // namespace lk_cuda
