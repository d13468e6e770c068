#!/usr/bin/env bash
# The packed tarball installs with nothing but Node and npm: no python3, make or compiler on PATH,
# no download besides the npm registry, and the addon it carries (prebuilds/) loads and computes.
# Run by .ci/run after the tests; by hand: bash test/package/check-install.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Pack a copy of the working tree (tracked and unignored files), so prebuildify's build does not
# replace the developer's build/ folder.
mkdir "$work/src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/src")
ln -s "$root/node_modules" "$work/src/node_modules"
cd "$work/src"
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
echo "packed $tarball ($(du -k "$work/$tarball" | cut -f1) kB)"
tar -tzf "$work/$tarball" | grep -E '^package/prebuilds/linux-x64/.*\.node$' \
  || { echo "FAIL: the tarball carries no prebuilt linux-x64 addon" >&2; exit 1; }
# With nvcc on the packing machine, the CUDA addon travels as a separate binary.
cuda_in_tarball=0
if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
  # (grep reads the whole listing: with grep -q, tar would die of SIGPIPE and pipefail would fail the test)
  tar -tzf "$work/$tarball" | grep -x 'package/prebuilds/cuda-linux-x64/lkvit_cuda.node' \
    || { echo "FAIL: nvcc is here but the tarball carries no prebuilds/cuda-linux-x64/lkvit_cuda.node" >&2; exit 1; }
  cuda_in_tarball=1
fi

# A PATH with only node and npm on it: a fallback to node-gyp would fail for want of python3/make/g++.
mkdir -p "$work/bin"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v npm)" "$work/bin/npm"
# npm runs lifecycle scripts (the install script: node-gyp-build) through sh.
ln -s "$(command -v sh)" "$work/bin/sh"
for tool in python3 make g++ cc; do
  if PATH="$work/bin" command -v "$tool" >/dev/null 2>&1; then echo "FAIL: $tool is still on the test PATH" >&2; exit 1; fi
done

mkdir "$work/app"
cd "$work/app"
echo '{"name":"app","version":"1.0.0","private":true}' > package.json
start=$(date +%s)
PATH="$work/bin" npm install --no-audit --no-fund --loglevel=error "$work/$tarball"
echo "installed in $(( $(date +%s) - start )) s without a compiler"
test ! -d node_modules/lkvit/build || { echo "FAIL: the install compiled the addon (node_modules/lkvit/build exists)" >&2; exit 1; }

PATH="$work/bin" node -e '
const lk = require("lkvit");
const x = lk.tensor(new Float32Array([1, -2, 3, -4]), [1, 1, 2, 2]);
const y = lk.ops.relu(x);
const got = Array.from(y.data).join(",");
if (got !== "1,0,3,0") { console.error("FAIL: relu gave " + got); process.exit(1); }
console.log("the installed package loads its prebuilt addon and computes (relu ok)");
'
# The README's library examples, run from the installed package (not the clone).
# The CUDA binary, when shipped, is found and either runs or says why not (no driver here: the reason).
if [ "$cuda_in_tarball" = 1 ]; then
  PATH="$work/bin" node -e '
const lk = require("lkvit"); const i = lk.cuda.info();
if (!/prebuilds\/cuda-linux-x64\/lkvit_cuda\.node$/.test(String(i.addon))) { console.error("FAIL: lk.cuda.info().addon is " + i.addon); process.exit(1); }
if (!i.available && !i.reason) { console.error("FAIL: CUDA unavailable without a reason"); process.exit(1); }
console.log("the shipped CUDA addon loads: " + (i.available ? i.device : "not available here (" + i.reason + ")"));
'
fi

# Every js example of the README and of the per-folder READMEs, run inside the installed app.
examples=${LKVIT_EXAMPLES:-$(cd "$root" && git ls-files '*.md' | xargs grep -l '^```js' | sed "s|^|$root/|")}
for doc in $examples; do PATH="$work/bin" node "$root/test/package/run-examples.js" "$doc"; done
echo "package check: passed"
