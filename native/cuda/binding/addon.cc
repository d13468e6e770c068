// The CUDA addon's entry point (lkvit_cuda.node, or lkvit_cuda_emu.node over the SIMT emulation):
// one registration call per family, each in its own file named as on the CPU side
// (native/binding/X.cc). Every function takes the CPU addon's arguments in the CPU addon's order,
// with DeviceArrays (or host typed arrays, copied) for the arrays: see args.h.
#include "args.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lkc::register_device(env, exports);
  lkc::register_dwconv(env, exports);
  lkc::register_steps(env, exports);
  lkc::register_gemm(env, exports);
  lkc::register_attention(env, exports);
  lkc::register_conv(env, exports);
  lkc::register_norm(env, exports);
  lkc::register_nn(env, exports);
  lkc::register_tensor(env, exports);
#if LK_CUDA_EMULATED_BUILD
  lkc::register_simt(env, exports);
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(lkvit_cuda, Init)
