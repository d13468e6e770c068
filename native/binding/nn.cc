#include "napi_util.h"
void register_nn(Napi::Env, Napi::Object) {}
