#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into a folder of its own
# (never build/Release) and runs the raw-addon fuzz test (test/hostile.native.test.js) against it.
# Not part of `npm test`: the sanitised build takes a few minutes.
#
#   bash test/asan-fuzz.sh [trials] [seed]  # default 20000 fuzzed calls, seed 19
#   LKVIT_ASAN_DIR=/path bash test/asan-fuzz.sh   # build folder (default: $TMPDIR/lkvit-asan)
#
# Exits non-zero on any sanitizer report (ASan aborts, UBSan halts on the first error).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${LKVIT_ASAN_DIR:-${TMPDIR:-/tmp}/lkvit-asan}"
trials="${1:-20000}"
seed="${2:-19}"

# A copy of the sources beside a link to node_modules (binding.gyp asks node-addon-api for its
# include path); node-gyp writes its build/ there. Only files whose content differs are copied
# (with a fresh time), so a second run recompiles only what changed.
mkdir -p "$out"
(cd "$root" && find native binding.gyp -type f) | while read -r f; do
  cmp -s "$root/$f" "$out/$f" || { mkdir -p "$(dirname "$out/$f")" && cp "$root/$f" "$out/$f"; }
done
ln -sfn "$root/node_modules" "$out/node_modules"

gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || gyp="$(command -v node-gyp)"
nodedir=()
[ -d /usr/include/node ] && nodedir=(--nodedir=/usr)  # system headers: no download needed
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
(cd "$out" && export CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" &&
  { cmp -s binding.gyp build/binding.gyp.configured ||
    { node "$gyp" configure "${nodedir[@]}" && cp binding.gyp build/binding.gyp.configured; }; } &&
  node "$gyp" build -j 2) >"$out/build.log" 2>&1 || {
  tail -30 "$out/build.log"
  exit 1
}
addon="$out/build/Release/lkvit.node"
ldd "$addon" | grep -q libasan || { echo "asan-fuzz: $addon is not linked against libasan" >&2; exit 1; }
echo "asan-fuzz: sanitised addon at $addon"

# Node itself is not instrumented: the ASan runtime must be loaded first (LD_PRELOAD). V8 and
# Node keep memory to exit, so leak checking is off.
cd "$root"
LD_PRELOAD="$(${CXX:-g++} -print-file-name=libasan.so)" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  LKVIT_FUZZ_ADDON="$addon" LKVIT_FUZZ_TRIALS="$trials" LKVIT_FUZZ_SEED="$seed" \
  npx ava --timeout=10m test/hostile.native.test.js
