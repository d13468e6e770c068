// The addon's entry point: one registration call per kernel family.
#include "napi_util.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  register_core(env, exports);
  register_dwconv(env, exports);
  register_gemm(env, exports);
  register_conv(env, exports);
  register_attention(env, exports);
  register_norm(env, exports);
  register_nn(env, exports);
  register_steps(env, exports);
  register_peak(env, exports);
  return exports;
}

NODE_API_MODULE(lkvit, Init)
