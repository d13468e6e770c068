#!/usr/bin/env bash
# The GPU check, in one call (npm run check:gpu): on a machine with an NVIDIA GPU, nvcc and Node,
#   a. the device (nvidia-smi, toolkit, Node, PyTorch),
#   b. npm run build:cuda (nvcc), cuobjdump's listing of the addon (sm_80, sm_90 SASS, compute_90 PTX), lkvit info,
#   c. the device tests on the real GPU (LKVIT_CUDA_TEST_REAL=1), the GEMM rows again with LKVIT_CUBLAS=0,
#   d. compute-sanitizer memcheck, racecheck and synccheck over bench/gpu/sanitize.js,
#   e. the benchmark beside PyTorch (bench/gpu/bench.js, bench/gpu/torch_bench.py) and its tables.
# Each step is timed and logged; a failing step does not stop the next. The exit code is the sum of
# the failed steps' bits: a 1, b 2, c 4, d 8, e 16 (0: everything passed).
# Writes into $OUT when set, else bench/results/gpu/ (or --out DIR): summary.md (steps and all
# tables), check.log (every step's output), and <section>.md / .json for dwconv, attention, models.
#   bash bench/gpu/run.sh              the real check (about 5-8 minutes on an H100)
#   bash bench/gpu/run.sh --emulated   a dry run on any machine: the emulated backend, tiny shapes, no
#                                      nvcc, cuobjdump or compute-sanitizer (test/gpu_check.test.js)
# LKVIT_GPU_CHECK_BUDGET_S (default 450) bounds the whole run: each step gets at most what is left
# (the tables step always gets its 30 s). LKVIT_GPU_CHECK_STEPS (default a,b,c,d,e) picks steps, for
# a rerun on a warm machine whose build-cuda/ is still there (e.g. LKVIT_GPU_CHECK_STEPS=c,e).
set -u
cd "$(dirname "$0")/../.." || exit 99
ROOT=$PWD
EMULATED=0
OUTDIR=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --emulated) EMULATED=1 ;;
    --out) OUTDIR=$2; shift ;;
    *) echo "run.sh: unknown argument '$1' (expected --emulated or --out DIR)" >&2; exit 98 ;;
  esac
  shift
done
[ "${LKVIT_GPU_CHECK_EMULATED:-0}" = 1 ] && EMULATED=1
[ -n "$OUTDIR" ] || OUTDIR=$ROOT/bench/results/gpu
mkdir -p "$OUTDIR" || exit 97
OUTDIR=$(cd "$OUTDIR" && pwd)
LOG=$OUTDIR/check.log
SUMMARY=$OUTDIR/summary.md
: >"$LOG"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BUDGET=${LKVIT_GPU_CHECK_BUDGET_S:-450}
SELECTED=,${LKVIT_GPU_CHECK_STEPS:-a,b,c,d,e},
START=$(date +%s)
FAILED=0
STEPS=()

if [ "$EMULATED" = 1 ]; then
  export LKVIT_CUDA_EMULATED=1
  MODE="emulated dry run (LKVIT_CUDA_EMULATED=1: the SIMT emulation on the CPU, tiny shapes; times judge the script, not the kernels)"
else
  unset LKVIT_CUDA_EMULATED
  MODE="real GPU"
fi
ava() { node "$ROOT/node_modules/ava/entrypoints/cli.mjs" "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }
npm_run() { if have npm; then npm run --silent "$@"; else node -e "const s=require('./package.json').scripts['$1'];require('child_process').execSync(s,{stdio:'inherit',env:{...process.env,PATH:'node_modules/.bin:'+process.env.PATH}})"; fi; }

# cuBLAS is opened at run time (native/cuda/cublas.cc): make the toolkit's or PyTorch's copy findable.
if [ "$EMULATED" = 0 ] && ! (ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'); then
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null); do
    if ls "$d"/libcublas.so.* >/dev/null 2>&1; then export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; break; fi
  done
fi

find_torch_python() {
  for py in ${LKVIT_PYTHON:-} python3 /usr/bin/python3 python; do
    if have "$py" && "$py" -c 'import torch' >/dev/null 2>&1; then echo "$py"; return 0; fi
  done
  return 1
}
PY=$(find_torch_python) || PY=

# ---- the steps (each a function; run by step() under a time limit, its output in the log)

# The lines summary.md quotes go to $WORK/device.txt as well as the log.
step_info() {
  {
  echo "mode: $MODE"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -srm); commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  if have nvidia-smi; then
    nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total,clocks.max.sm --format=csv
  else
    echo "nvidia-smi: not found"
  fi
  if have nvcc; then echo "nvcc: $(nvcc --version | tail -n 1)"; else echo "nvcc: not found"; fi
  echo "node: $(node --version); npm: $(npm --version 2>/dev/null || echo 'not found')"
  if [ -n "$PY" ]; then
    "$PY" -c 'import torch, sys; print(f"python: {sys.version.split()[0]} ({sys.executable}); torch {torch.__version__}, cuda available: {torch.cuda.is_available()}" + (f", {torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).multi_processor_count} SMs" if torch.cuda.is_available() else ""))'
  else
    echo "python with torch: not found (the PyTorch columns will be empty)"
  fi
  echo "cuBLAS search path: ${LD_LIBRARY_PATH:-(ldconfig only)}"
  } | tee "$WORK/device.txt"
}

step_build() {
  if [ "$EMULATED" = 1 ]; then
    echo "nvcc build: skipped (emulated dry run); building the emulated addon instead"
    npm_run build:cuda:emulated || return 1
    echo "cuobjdump: skipped (emulated dry run)"
  else
    npm_run build:cuda || return 1
    local addon=build-cuda/Release/lkvit_cuda.node
    ls -l "$addon" || return 1
    if have cuobjdump; then
      cuobjdump --list-elf "$addon" >"$WORK/elf.txt" && cuobjdump --list-ptx "$addon" >"$WORK/ptx.txt" || return 1
      echo "cuobjdump: $(wc -l <"$WORK/elf.txt") ELF images, $(wc -l <"$WORK/ptx.txt") PTX images"
      sort "$WORK/elf.txt" | sed 's/^/  /' | head -40
      local ok=0
      grep -q 'sm_80' "$WORK/elf.txt" && grep -q 'sm_90' "$WORK/elf.txt" && grep -q 'sm_90' "$WORK/ptx.txt" && ok=1
      if [ $ok = 1 ]; then echo "cuobjdump: sm_80 and sm_90 SASS and compute_90 PTX present"; else echo "cuobjdump: MISSING sm_80/sm_90 SASS or compute_90 PTX"; return 1; fi
    else
      echo "cuobjdump: not found; skipped"
    fi
  fi
  set -o pipefail
  node lib/cli/main.js info | tee "$WORK/info.txt" || return 1
  if [ "$EMULATED" = 0 ] && ! grep -q '^cuda: cuda on ' "$WORK/info.txt"; then
    echo "lkvit info: the CUDA addon built but does not run here (see the cuda: line)"
    return 1
  fi
}

step_tests() {
  if [ "$EMULATED" = 1 ]; then
    echo "emulated dry run: one test of the device test files (npm test runs all four under the emulation)"
    ava test/ops.cuda.test.js --match '*caching allocator*' || return 1
    return 0
  fi
  local rc=0
  LKVIT_CUDA_TEST_REAL=1 ava test/ops.cuda.test.js test/models.cuda.test.js test/device.test.js test/cuda.ops.test.js || rc=1
  if grep -rqs LKVIT_CUBLAS native/cuda; then
    echo "---- the GEMM and conv rows again on the project's own SGEMM (LKVIT_CUBLAS=0)"
    LKVIT_CUBLAS=0 LKVIT_CUDA_TEST_REAL=1 ava test/ops.cuda.test.js --match 'cuda gemm:*' --match 'cuda conv:*' || rc=1
  fi
  return $rc
}

step_sanitize() {
  local tool=$1
  if [ "$EMULATED" = 1 ]; then
    echo "compute-sanitizer $tool: skipped (emulated dry run); sanitize.js runs without it"
    node bench/gpu/sanitize.js
    return
  fi
  local cs
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null) || cs=
  if [ -z "$cs" ]; then
    echo "compute-sanitizer: not found; sanitize.js runs without it"
    LKVIT_CUBLAS=0 node bench/gpu/sanitize.js
    return
  fi
  if ! "$cs" --help 2>&1 | grep -q "$tool"; then
    echo "compute-sanitizer: this version has no $tool; skipped"
    return 0
  fi
  # LKVIT_CUBLAS=0: the project's own SGEMM runs, so it is checked too. LKVIT_CUDA_CACHE=0: each
  # array its own cudaMalloc, so a use after free is not hidden by a reused cached block.
  LKVIT_CUBLAS=0 LKVIT_CUDA_CACHE=0 "$cs" --tool "$tool" --error-exitcode 9 --print-limit 50 node bench/gpu/sanitize.js
}

CASES=$WORK/cases.json
step_bench_lkvit() {
  node bench/gpu/bench.js cases $([ "$EMULATED" = 1 ] && echo --emulated) >"$CASES" || return 1
  node --expose-gc bench/gpu/bench.js run "$CASES" "$WORK/lkvit.jsonl" --budget-s "$1"
}
step_bench_torch() {
  if [ -z "$PY" ]; then
    echo "PyTorch: no python with torch found (LKVIT_PYTHON, python3, /usr/bin/python3, python); its columns stay empty"
    return 0
  fi
  PYTHONUNBUFFERED=1 "$PY" bench/gpu/torch_bench.py "$CASES" "$WORK/torch.jsonl" --budget-s "$1"
}
step_report() {
  local clock=
  have nvidia-smi && [ "$EMULATED" = 0 ] && clock=$(nvidia-smi --query-gpu=clocks.max.sm --format=csv,noheader,nounits | head -n 1 | tr -d ' ')
  node bench/gpu/bench.js report "$CASES" "$WORK/lkvit.jsonl" "$WORK/torch.jsonl" "$OUTDIR" ${clock:+--clock-mhz "$clock"}
}
export -f step_info step_build step_tests step_sanitize step_bench_lkvit step_bench_torch step_report have npm_run ava
export EMULATED MODE PY WORK CASES OUTDIR ROOT

write_summary() {
  {
    echo "# lkvit GPU check"
    echo
    echo "Mode: $MODE. Command: \`npm run check:gpu$([ "$EMULATED" = 1 ] && echo ' -- --emulated')\` ($(date -u '+%Y-%m-%d %H:%M UTC'))."
    echo
    cat "$WORK/device.txt" "$WORK/info.txt" 2>/dev/null | sed 's/^/    /' 
    echo
    echo "| step | what | result | wall s |"
    echo "|---|---|---|---|"
    printf '%s\n' "${STEPS[@]}"
    echo
    for s in dwconv attention models; do [ -f "$OUTDIR/$s.md" ] && { sed 's/^# /## /' "$OUTDIR/$s.md"; echo; }; done
    if [ "$FAILED" = 0 ]; then echo "All steps passed (exit code 0)."; else echo "Exit code $FAILED: failed steps:$(failed_names)."; fi
  } >"$SUMMARY"
}
failed_names() {
  local n=""
  for pair in a:1 b:2 c:4 d:8 e:16; do (( FAILED & ${pair#*:} )) && n="$n ${pair%%:*}"; done
  echo "$n"
}

# step LETTER BIT CAP_SECONDS DESCRIPTION FUNCTION [ARGS...]: runs FUNCTION under min(CAP, time left).
step() {
  local letter=$1 bit=$2 cap=$3 what=$4
  shift 4
  if [[ $SELECTED != *",$letter,"* ]]; then
    echo "==== step $letter: $what: not selected (LKVIT_GPU_CHECK_STEPS=${LKVIT_GPU_CHECK_STEPS})" | tee -a "$LOG"
    STEPS+=("| $letter | $what | not selected | 0 |")
    return
  fi
  local left=$((BUDGET - ($(date +%s) - START)))
  local limit=$((cap < left ? cap : left))
  [ "${FORCE_LIMIT:-0}" -gt 0 ] && limit=$FORCE_LIMIT
  if [ "$limit" -lt 5 ]; then
    echo "==== step $letter: $what: skipped (out of time: the budget of ${BUDGET}s is spent)" | tee -a "$LOG"
    STEPS+=("| $letter | $what | skipped: out of time | 0 |")
    FAILED=$((FAILED | bit))
    write_summary
    return
  fi
  echo "==== step $letter: $what (limit ${limit}s)" | tee -a "$LOG"
  local t0 t1 rc
  t0=$(date +%s.%N)
  set -o pipefail
  timeout --kill-after=10 "$limit" bash -c '"$@"' _ "$@" 2>&1 | tee -a "$LOG"
  rc=$?
  set +o pipefail
  t1=$(date +%s.%N)
  local wall result
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [ $rc = 0 ]; then
    result=passed
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    result="FAILED: over its ${limit}s limit"
    FAILED=$((FAILED | bit))
  else
    result="FAILED (exit $rc)"
    FAILED=$((FAILED | bit))
  fi
  echo "==== step $letter: $what: $result in ${wall}s" | tee -a "$LOG"
  STEPS+=("| $letter | $what | $result | $wall |")
  write_summary
}

step a 1 30 "device and tools" step_info
if [ "$EMULATED" = 1 ]; then
  step b 2 240 "build (the emulated addon; nvcc and cuobjdump skipped), lkvit info" step_build
  step c 4 200 "device tests (emulated: one test)" step_tests
  step d 8 90 "bench/gpu/sanitize.js (emulated: no compute-sanitizer)" step_sanitize memcheck
else
  step b 2 240 "build (npm run build:cuda), cuobjdump, lkvit info" step_build
  step c 4 200 "device tests on the real addon (LKVIT_CUDA_TEST_REAL=1)" step_tests
  for tool in memcheck racecheck synccheck; do
    step d 8 90 "compute-sanitizer $tool over bench/gpu/sanitize.js" step_sanitize "$tool"
  done
fi
# The benchmark: lkvit gets 60% of what is left, PyTorch the rest; each stops starting new cases
# at its budget, and the report always runs on what was measured.
left=$((BUDGET - ($(date +%s) - START)))
lk_budget=$(((left - 20) * 6 / 10))
step e 16 $((lk_budget + 60)) "benchmark: lkvit (bench/gpu/bench.js)" step_bench_lkvit $((lk_budget > 10 ? lk_budget : 10))
left=$((BUDGET - ($(date +%s) - START)))
step e 16 $((left > 30 ? left : 30)) "benchmark: PyTorch (bench/gpu/torch_bench.py)" step_bench_torch $((left > 40 ? left - 30 : 10))
FORCE_LIMIT=30 step e 16 30 "tables (bench/gpu/bench.js report)" step_report
write_summary
echo "==== done in $(($(date +%s) - START))s; $( [ "$FAILED" = 0 ] && echo 'all steps passed' || echo "exit code $FAILED, failed steps:$(failed_names)"); tables and logs in $OUTDIR" | tee -a "$LOG"
exit "$FAILED"
