#!/usr/bin/env bash
# The emulated CUDA kernels under AddressSanitizer + UndefinedBehaviorSanitizer: builds
# build-cuda-emu/asan/lkvit_cuda_emu.node (g++ -fsanitize=address,undefined), runs
# test/cuda.emulated.test.js and test/cuda.ops.test.js on it, then checks ASan reports a planted one-past-the-end read.
# Usage: bash test/cuda-asan.sh   (about a minute on 2 cores; not part of npm test)
set -euo pipefail
cd "$(dirname "$0")/.."

node native/cuda/build-emulated.js --asan
addon="$PWD/build-cuda-emu/asan/lkvit_cuda_emu.node"
# Node itself is not instrumented, so the ASan runtime must be loaded first; Node's own
# allocations at exit are not leaks of ours.
export LD_PRELOAD="$(g++ -print-file-name=libasan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LKVIT_CUDA_EMULATED=1 LKVIT_CUDA_EMULATED_ADDON="$addon"

npx ava test/cuda.emulated.test.js test/cuda.ops.test.js

# A kernel reading in[n] must be stopped by ASan (the emulation allocates device memory at its exact size).
log="$(mktemp)"
if node -e "require('$addon').simt.runPlanted('overrun', new Float32Array(100))" 2>"$log"; then
  echo "cuda-asan: FAILED: the planted overrun was not reported" >&2
  exit 1
fi
if ! grep -q "heap-buffer-overflow" "$log"; then
  echo "cuda-asan: FAILED: expected heap-buffer-overflow, got:" >&2
  cat "$log" >&2
  exit 1
fi
grep -m1 "overrun_kernel" "$log" || true
echo "cuda-asan: emulated CUDA tests pass under ASan+UBSan; the planted overrun is reported"
rm -f "$log"
