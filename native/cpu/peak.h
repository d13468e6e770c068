// The machine's own yardstick: the FP32 FMA peak of one instruction-set path and the memory
// bandwidth, measured, so every kernel timing can be read as a fraction of what the CPU can do.
#pragma once
#include <cstdint>

#include "isa.h"

// FLOPs done by `iters` iterations of fma_chains() on one thread (2 per lane and chain).
LK_ISA_DECLARE(double fma_chains(int64_t iters, float seed))
LK_ISA_DECLARE(int fma_lanes())

namespace lk {

// Peak FP32 GFLOP/s of the active ISA path on `threads` threads: every thread runs 12 independent
// FMA chains for about `seconds`; the best of `repeats` timings.
double measure_fma_peak(int threads, double seconds, int repeats);

// Memory bandwidth in GB/s on `threads` threads: a triad a = b + s*c over three arrays of
// `bytes_per_array` (well beyond the last-level cache), bytes counted as 3 per element-float.
double measure_bandwidth(int threads, int64_t bytes_per_array, int repeats);

}  // namespace lk
