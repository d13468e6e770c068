#!/usr/bin/env bash
# On the GPU machine: unpacks what bench/gpu/prepare-carry.sh packed into .gpu-carry/ (Node and npm
# into .gpu-carry/node, lib/, the CPU addon and node_modules into the tree), with tar, or with
# Python's tarfile where tar cannot read xz. Then: export PATH=$PWD/.gpu-carry/node/bin:$PATH
set -euo pipefail
cd "$(dirname "$0")/../.."
C=.gpu-carry
[ -f "$C/node.tar.xz" ] && [ -f "$C/tree.tar.xz" ] || { echo "unpack-carry: $C/node.tar.xz or tree.tar.xz missing: run bash bench/gpu/prepare-carry.sh here and name .gpu-carry in carry" >&2; exit 1; }
mkdir -p "$C/node"
unpack() {
  tar -xJf "$1" -C "$2" 2>/dev/null || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
}
unpack "$C/node.tar.xz" "$C/node"
unpack "$C/tree.tar.xz" .
"$C/node/bin/node" --version >/dev/null
echo "unpack-carry: node $("$C/node/bin/node" --version) in $C/node/bin; lib/, build/Release/lkvit.node and $(ls node_modules | wc -l) node_modules entries in place"
