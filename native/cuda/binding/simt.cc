// The emulated build's window onto the SIMT emulation (tests only): the fiber-order seed, the
// thread counter and the planted-bug kernels the emulation's own tests must catch.
#if LK_CUDA_EMULATED_BUILD
#include <string>
#include <vector>

#include "../emu/planted.h"
#include "../emu/simt.h"
#include "args.h"

namespace lkc {
namespace {

// simt.setSeed(seed): the fiber and block order of later launches.
Napi::Value SetSeed(const Napi::CallbackInfo& info) {
  lk_emu::set_seed(uint64_t(lkb::i64(info, 0, "seed", 0, int64_t(1) << 52)));
  return info.Env().Undefined();
}
Napi::Value ThreadsRun(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(lk_emu::threads_run()));
}
// simt.runPlanted(name, input Float32Array) -> Float32Array
Napi::Value RunPlanted(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) lkb::throw_type(info.Env(), "name must be a string");
  const lkb::F32 in = lkb::f32(info, 1, "input");
  std::vector<float> out;
  try {
    out = lk_emu::run_planted(info[0].As<Napi::String>(), std::vector<float>(in.data, in.data + in.length));
  } catch (const lk_emu::Error& e) {
    throw lk_cuda::Error(e.what());
  }
  Napi::Float32Array r = Napi::Float32Array::New(info.Env(), out.size());
  std::copy(out.begin(), out.end(), r.Data());
  return r;
}
Napi::Value PlantedNames(const Napi::CallbackInfo& info) {
  const std::vector<std::string> names = lk_emu::planted_names();
  Napi::Array a = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) a.Set(uint32_t(i), names[i]);
  return a;
}

}  // namespace

void register_simt(Napi::Env env, Napi::Object exports) {
  Napi::Object simt = Napi::Object::New(env);
  def(env, simt, "setSeed", SetSeed);
  def(env, simt, "threadsRun", ThreadsRun);
  def(env, simt, "runPlanted", RunPlanted);
  def(env, simt, "plantedNames", PlantedNames);
  exports.Set("simt", simt);
}

}  // namespace lkc
#endif
