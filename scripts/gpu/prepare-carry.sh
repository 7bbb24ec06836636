#!/usr/bin/env bash
# Packs gpu-carry/ (ignored by git), what a GPU session's one command needs besides the working
# tree: the GPU machine has pip's PyTorch, gcc and nvcc, but no Node, no node_modules, no network.
#   node.tar.xz          this machine's node binary and the four N-API headers an addon compiles against
#   node_modules.tar.xz  what lsr imports at run time (package.json's dependencies and theirs; not
#                        node-gyp or @types/node) and node-addon-api's headers
#   dist.tar.gz          the compiled TypeScript (npx tsc first): src, test, bench
#   turbojpeg/           libturbojpeg.so.0 and turbojpeg.h (Debian's libturbojpeg0-dev)
#   obj/                 native/*.o compiled here against libtorch 2.11's headers (vendor/) for a CUDA
#                        build: scripts/gpu/build-addon.sh there links them when the stamps match
#                        (same torch, ABI, defines, source) and compiles the rest
#   MANIFEST.txt         what went in, from which commit
# Run it right before the session (the carry is a snapshot of dist/ and native/), then pass
# carry ["gpu-carry"] to the run tool (docs/gpu.md). It and the working tree must stay under 64 MiB
# together (the run tool counts both).
#   bash scripts/gpu/prepare-carry.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
carry=$root/gpu-carry
cache=$root/build/gpu-carry-cache
mkdir -p "$cache"
log() { echo "prepare-carry: $*"; }

log 'compiling TypeScript (npx tsc -p tsconfig.json)'
npx tsc -p tsconfig.json
rm -rf "$carry"
mkdir -p "$carry/turbojpeg/include" "$carry/turbojpeg/lib"

# Node: xz takes a minute on 2 cores, so the archive is kept per node version.
node_bin=$(command -v node)
node_version=$(node -p process.version)
node_headers=$(dirname "$node_bin")/../include/node
[[ -e $node_headers/node_api.h ]] || node_headers=/usr/include/node
if [[ ! -e $cache/node-$node_version.tar.xz ]]; then
  log "packing node $node_version ($node_bin)"
  stage=$(mktemp -d)
  mkdir -p "$stage/bin" "$stage/include/node"
  cp "$node_bin" "$stage/bin/node"
  # napi.h includes node_api.h, which includes only these.
  cp "$node_headers"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} "$stage/include/node/"
  tar -C "$stage" -cf - bin include | xz -T0 -6 >"$cache/node-$node_version.tar.xz.tmp"
  mv "$cache/node-$node_version.tar.xz.tmp" "$cache/node-$node_version.tar.xz"
  rm -rf "$stage"
fi
cp "$cache/node-$node_version.tar.xz" "$carry/node.tar.xz"

# node_modules: the closure of the run-time dependencies, as installed here.
modules=$(node --input-type=module -e "
import { existsSync, readFileSync } from 'node:fs';
const buildOnly = new Set(['node-gyp', '@types/node']);
const seen = new Set();
const walk = (name) => {
  if (seen.has(name) || !existsSync('node_modules/' + name + '/package.json')) return;
  seen.add(name);
  const p = JSON.parse(readFileSync('node_modules/' + name + '/package.json', 'utf8'));
  for (const d of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) walk(d);
};
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
for (const d of Object.keys(pkg.dependencies)) if (!buildOnly.has(d)) walk(d);
console.log([...seen].sort().map((n) => 'node_modules/' + n).join('\n'));
")
key=$( (echo "$modules" && cat package-lock.json) | sha256sum | cut -c1-16)
if [[ ! -e $cache/node_modules-$key.tar.xz ]]; then
  log "packing $(echo "$modules" | wc -l) packages of node_modules"
  # -h: node_modules may be a link to another checkout's.
  echo "$modules" | tar -chf - -T - | xz -T0 -6 >"$cache/node_modules-$key.tar.xz.tmp"
  mv "$cache/node_modules-$key.tar.xz.tmp" "$cache/node_modules-$key.tar.xz"
fi
cp "$cache/node_modules-$key.tar.xz" "$carry/node_modules.tar.xz"

tar -czf "$carry/dist.tar.gz" dist

# libjpeg-turbo, from Debian's packages (real files: a link need not survive the trip).
tj_lib=$(dpkg -L libturbojpeg0 | grep '/libturbojpeg\.so\.0$' | head -1)
tj_h=$(dpkg -L libturbojpeg0-dev | grep '/turbojpeg\.h$' | head -1)
cp -L "$tj_lib" "$carry/turbojpeg/lib/libturbojpeg.so.0"
cp "$tj_h" "$carry/turbojpeg/include/"

# Objects for the GPU machine's libtorch 2.11, compiled against the same headers as check-libtorch2.mjs.
headers=$root/build/libtorch-2.11/include
if [[ ! -e $headers/ATen/ATen.h ]]; then
  mkdir -p "$root/build/libtorch-2.11"
  tar -C "$root/build/libtorch-2.11" -xJf "$root/vendor/libtorch-2.11-include.tar.xz"
fi
log 'compiling native/*.cc against libtorch 2.11 headers (CUDA build; unchanged files are reused)'
LSR_TORCH_INCLUDE=$headers LSR_OBJ_DIR=$cache/obj-2.11 LSR_CARRY=$carry NODE_INCLUDE=$node_headers bash scripts/gpu/build-addon.sh
mkdir -p "$carry/obj"
for o in "$cache"/obj-2.11/*.o; do
  [[ -e $o.stamp ]] && cp "$o" "$o.stamp" "$carry/obj/"
done

{
  echo "gpu-carry, made $(date -u '+%Y-%m-%d %H:%M UTC') by scripts/gpu/prepare-carry.sh"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src native bench test scripts || echo ' + uncommitted changes')"
  # session.sh recomputes this from the tree it runs in: a carry whose dist/ was built from other sources is flagged.
  echo "sources: $(find src native -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"
  echo "node: $node_version"
  echo "node_modules: $(echo "$modules" | wc -l) packages (listed below)"
  echo "prebuilt objects: $(cd "$carry/obj" && ls ./*.o 2>/dev/null | tr '\n' ' ') ($(head -1 "$carry"/obj/*.stamp 2>/dev/null | grep -o 'torch=[^ ]*' | head -1))"
  echo
  (cd "$carry" && du -ab . | sort -k2)
  echo
  echo "$modules"
} >"$carry/MANIFEST.txt"
total=$(du -sb "$carry" | cut -f1)
# The run tool's 64 MiB covers the working tree it copies too (tracked files and untracked ones git
# does not ignore), not only the carry.
tree=$(git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do [[ -f $f && ! -L $f ]] && printf '%s\0' "$f"; done | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
(cd "$carry" && du -sh ./* | sed 's/^/  /')
log "gpu-carry: $((total / 1024 / 1024)) MiB ($total bytes); the working tree: $((tree / 1024 / 1024)) MiB; together $(((total + tree) / 1024 / 1024)) MiB of the run tool's 64"
if ((total + tree >= 64 * 1024 * 1024)); then
  log 'TOO BIG: the run tool carries at most 64 MiB, the working tree included'
  exit 1
fi
