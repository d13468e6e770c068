#!/usr/bin/env bash
# Builds .gpu-carry/ (git-ignored), what the GPU machine needs beside the working tree, which has no
# Node and no network there (bench/gpu/README.md):
#   node.tar.xz   this machine's Node (bin/node) and npm,
#   tree.tar.xz   the built parts of the tree that git ignores: lib/ (tsc), the CPU addon
#                 build/Release/lkvit.node, and the node_modules the check needs (the package's
#                 dependencies, cmake-js, node-api-headers and ava, each with its own dependencies).
# Prints the sizes and whether the tree plus .gpu-carry fits the 64 MiB a device call carries.
#   bash bench/gpu/prepare-carry.sh [DIR]     (default .gpu-carry)
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=$(realpath -m "${1:-.gpu-carry}")
for f in lib/index.js build/Release/lkvit.node node_modules/ava/package.json node_modules/cmake-js/package.json; do
  [ -e "$f" ] || { echo "prepare-carry: $f is missing: run npm ci (and npm run build:ts / build:native) first" >&2; exit 1; }
done
rm -rf "$DEST"
mkdir -p "$DEST"

# Node and npm, as installed here (one prefix: PREFIX/bin/node, PREFIX/lib/node_modules/npm).
PREFIX=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
NODE_FILES=(bin/node)
[ -d "$PREFIX/lib/node_modules/npm" ] && NODE_FILES+=(lib/node_modules/npm)
[ -d "$PREFIX/lib/node_modules/npm" ] && mkdir -p "$DEST/links/bin" && ln -s ../lib/node_modules/npm/bin/npm-cli.js "$DEST/links/bin/npm"
tar -cf - -C "$PREFIX" "${NODE_FILES[@]}" $([ -d "$DEST/links" ] && echo -C "$DEST/links" bin/npm) | xz -T0 -6 >"$DEST/node.tar.xz"
rm -rf "$DEST/links"

# The node_modules closure of the roots, resolved as Node resolves a require from each package.
node - "$DEST/modules.txt" <<'EOF'
const fs = require('fs');
const path = require('path');
const roots = [...Object.keys(require('./package.json').dependencies), 'cmake-js', 'node-api-headers', 'ava'];
const found = new Set();
function resolve(from, name) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (dir === '.' || dir === path.dirname(dir)) return null;
  }
}
const queue = roots.map((r) => resolve('.', r));
while (queue.length) {
  const p = queue.pop();
  if (!p || found.has(p)) continue;
  found.add(p);
  const pkg = JSON.parse(fs.readFileSync(path.join(p, 'package.json'), 'utf8'));
  for (const d of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies })) {
    const r = resolve(p, d);
    if (r) queue.push(r);
  }
}
// A nested package travels inside its parent's folder already.
const list = [...found].sort().filter((p, _, all) => !all.some((q) => q !== p && p.startsWith(q + path.sep)));
fs.writeFileSync(process.argv[2], list.join('\n') + '\n');
console.log(`prepare-carry: ${found.size} packages from ${roots.length} roots`);
EOF
BINS=()
for b in cmake-js ava node-gyp-build; do [ -e "node_modules/.bin/$b" ] && BINS+=("node_modules/.bin/$b"); done
tar -cf - lib build/Release/lkvit.node "${BINS[@]}" $(cat "$DEST/modules.txt") | xz -T0 -6 >"$DEST/tree.tar.xz"
rm "$DEST/modules.txt"

carry=$(du -cb "$DEST"/* | tail -n 1 | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | grep total$ | awk '{ s += $1 } END { print s }')
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
du -h "$DEST"/*
echo "prepare-carry: $DEST holds $(mib "$carry"); the working tree that travels (tracked and untracked, not ignored) $(mib "$tree"); together $(mib $((carry + tree))) of the 64 MiB a device call carries"
[ $((carry + tree)) -le $((64 * 1048576)) ] || { echo "prepare-carry: over 64 MiB: the call would be refused" >&2; exit 1; }
