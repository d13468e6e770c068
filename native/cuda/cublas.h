// cuBLAS, when the library is found at run time: the toolkit lkvit builds with has none to link,
// and a machine with a GPU usually has it (PyTorch ships it). Opened with dlopen on first use
// (libcublas.so.13, .12, .11, then libcublas.so), with the few prototypes lkvit calls declared
// here; LKVIT_CUBLAS=0 keeps the project's own tiled SGEMM. The emulated build never uses it.
#pragma once
#include <cstdint>
#include <string>

namespace lk_cuda {

struct CublasInfo {
  bool loaded = false;
  std::string library;  // the file opened
  int version = 0;      // cublasGetVersion
  std::string reason;   // why not loaded
};

// Tries once to open cuBLAS; later calls return the same answer.
const CublasInfo& cublas_info();

// C = alpha op(A) op(B) + beta C in row-major with leading dimensions, on the default stream,
// through cuBLAS (FP32, no TF32). False when cuBLAS is not loaded or the sizes exceed its ints;
// the caller then runs its own kernel.
bool cublas_sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace lk_cuda
