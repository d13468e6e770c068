#include "napi_util.h"
void register_dwconv(Napi::Env, Napi::Object) {}
