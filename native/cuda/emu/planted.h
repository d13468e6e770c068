// Kernels with planted bugs (and their correct twins) that the tests run to show the SIMT
// emulation catches each kind of bug. Built into the emulated addon only.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lk_emu {

// Runs the planted kernel `name` on `input` (device copies made here) and returns its output;
// the emulation's findings come out as lk_cuda::Error. Names: see planted_names().
std::vector<float> run_planted(const std::string& name, const std::vector<float>& input);
std::vector<std::string> planted_names();

}  // namespace lk_emu
