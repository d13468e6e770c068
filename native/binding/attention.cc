#include "napi_util.h"
void register_attention(Napi::Env, Napi::Object) {}
