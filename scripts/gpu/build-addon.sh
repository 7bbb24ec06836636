#!/usr/bin/env bash
# Builds the native addon without node-gyp: g++ on every native/*.cc in parallel, then one link.
# Made for the GPU machine (pip PyTorch with CUDA, gcc, no node-gyp, no network; Node's headers
# and libjpeg-turbo come from the carry, scripts/gpu/prepare-carry.sh), with binding.gyp's flags
# and scripts/find-libtorch.mjs's defines, except LSR_GLOO: pip's PyTorch ships no Gloo headers.
#   bash scripts/gpu/build-addon.sh
# Environment:
#   PYTHON             the Python whose torch to build against (default python3)
#   LSR_BUILD_CPU=1    Debian's CPU libtorch (/usr/include, /usr/lib/x86_64-linux-gnu) instead,
#                      without CUDA: to test this script on a CPU machine
#   LSR_TORCH_INCLUDE  objects only, for another machine: compile against this include/ folder
#                      (LSR_CUDA defined unless LSR_CUDA_BUILD=0; ABI LSR_TORCH_ABI, default 1) into
#                      LSR_OBJ_DIR, no link; a file that fails is left to that machine
#   LSR_CARRY          the carry folder (default <repo>/gpu-carry)
#   NODE_INCLUDE       Node's headers (default: the carry's unpacked ones, node's own, /usr/include/node)
#   LSR_ADDON_OUT      the addon to write (default <repo>/build/Release/lsr_native.node, where
#                      src/engine/native.ts looks; LSR_NATIVE=path makes lsr load another)
#   LSR_OBJ_DIR        where objects go (default <repo>/build/gpu-obj)
#   JOBS               parallel compilations (default: every core)
# Objects compiled beforehand (the carry's obj/, prepare-carry.sh's, against vendor/'s 2.11 headers)
# are reused when their stamp matches: same torch version, ABI, defines and source; the others are
# compiled here.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
carry=${LSR_CARRY:-$root/gpu-carry}
out=${LSR_ADDON_OUT:-$root/build/Release/lsr_native.node}
objdir=${LSR_OBJ_DIR:-$root/build/gpu-obj}
jobs=${JOBS:-$(nproc)}
objects_only=0
log() { echo "build-addon: $*" >&2; }
# TORCH_VERSION_{MAJOR,MINOR,PATCH} as x.y.z, from whichever header holds them (2.x: torch/headeronly/version.h).
header_version() {
  local f
  for f in "$1/torch/headeronly/version.h" "$1/torch/version.h" "$1/torch/csrc/api/include/torch/version.h"; do
    if grep -q '^#define TORCH_VERSION_MAJOR' "$f" 2>/dev/null; then
      sed -n 's/^#define TORCH_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$f" | paste -sd.
      return
    fi
  done
  echo unknown
}

if [[ -n ${LSR_TORCH_INCLUDE:-} ]]; then
  objects_only=1
  torch_inc=("$LSR_TORCH_INCLUDE" "$LSR_TORCH_INCLUDE/torch/csrc/api/include")
  torch_version=$(header_version "$LSR_TORCH_INCLUDE")
  abi=${LSR_TORCH_ABI:-1}
  cuda=${LSR_CUDA_BUILD:-1}
  where="headers $LSR_TORCH_INCLUDE"
elif [[ ${LSR_BUILD_CPU:-0} == 1 ]]; then
  torch_inc=(/usr/include /usr/include/torch/csrc/api/include) # /usr/include: for the checks below, never passed (see flags)
  torch_lib=/usr/lib/x86_64-linux-gnu
  torch_version=$(header_version /usr/include)
  abi=1 cuda=0 where=Debian
else
  py=${PYTHON:-python3}
  read -r torch_dir abi torch_version < <("$py" -c 'import torch,os;print(os.path.dirname(torch.__file__), int(torch._C._GLIBCXX_USE_CXX11_ABI), torch.__version__.split("+")[0])')
  torch_inc=("$torch_dir/include" "$torch_dir/include/torch/csrc/api/include")
  torch_lib=$torch_dir/lib
  cuda=0
  [[ -e $torch_lib/libtorch_cuda.so ]] && cuda=1
  where=$torch_dir
fi

# libjpeg-turbo: the carried copy, else the system's.
if [[ -e $carry/turbojpeg/include/turbojpeg.h ]]; then
  tj_inc=$carry/turbojpeg/include tj_lib=$carry/turbojpeg/lib
else
  tj_inc=/usr/include tj_lib=/usr/lib/x86_64-linux-gnu
fi
if [[ -z ${NODE_INCLUDE:-} ]]; then
  NODE_INCLUDE=/usr/include/node
  for d in "$carry/node/include/node" "$(dirname "$(command -v node || echo /nonexistent/node)")/../include/node"; do
    if [[ -e $d/node_api.h ]]; then
      NODE_INCLUDE=$d
      break
    fi
  done
fi
napi_inc=$root/node_modules/node-addon-api
for f in "$NODE_INCLUDE/node_api.h" "$napi_inc/napi.h" "$tj_inc/turbojpeg.h" "${torch_inc[0]}/ATen/ATen.h"; do
  [[ -e $f ]] || {
    log "missing $f"
    exit 1
  }
done

defines=(-DNAPI_VERSION=8 -DNODE_ADDON_API_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -DNODE_GYP_MODULE_NAME=lsr_native
  -DBUILDING_NODE_EXTENSION "-D_GLIBCXX_USE_CXX11_ABI=$abi")
if ((cuda)); then defines+=(-DLSR_CUDA=1); fi
# A libtorch built with glog (Debian's) logs through it, and lsr initialises it (find-libtorch.mjs's usesGlog).
libs_extra=()
if grep -q '#define C10_USE_GLOG' "${torch_inc[0]}/c10/macros/cmake_macros.h" 2>/dev/null && [[ -e /usr/include/glog/logging.h ]]; then
  defines+=(-DLSR_GLOG=1)
  libs_extra+=(-lglog)
fi
flags=(-std=gnu++17 -O3 -fPIC -pthread -fopenmp -fexceptions -frtti -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
  "${defines[@]}" -I"$napi_inc" -isystem "$NODE_INCLUDE")
# /usr/include is searched anyway; naming it would break libstdc++'s #include_next.
for d in "$tj_inc" "${torch_inc[@]}"; do [[ $d == /usr/include ]] || flags+=(-isystem "$d"); done
log "libtorch $torch_version ($where), ABI $abi, CUDA $cuda, $jobs jobs$( ((objects_only)) && echo ', objects only')"

# What an object was compiled from and with; prepare-carry.sh's prebuilt objects carry the same.
stamp() { echo "torch=$torch_version abi=$abi defines=${defines[*]} src=$(cat "$root/native/$1" "$root/native/common.h" | sha256sum | cut -c1-16)"; }
mkdir -p "$objdir"
pids=() names=()
started=$SECONDS
for src in "$root"/native/*.cc; do
  f=$(basename "$src")
  o=$objdir/${f%.cc}.o
  want=$(stamp "$f")
  if [[ -e $o && $(cat "$o.stamp" 2>/dev/null) == "$want" ]]; then continue; fi
  if ((!objects_only)) && [[ -e $carry/obj/${f%.cc}.o && $(cat "$carry/obj/${f%.cc}.o.stamp" 2>/dev/null) == "$want" ]]; then
    cp "$carry/obj/${f%.cc}.o" "$o"
    echo "$want" >"$o.stamp"
    log "$f: prebuilt"
    continue
  fi
  rm -f "$o" "$o.stamp"
  while (($(jobs -rp | wc -l) >= jobs)); do sleep 0.2; done
  (g++ "${flags[@]}" -c "$src" -o "$o.tmp" && mv "$o.tmp" "$o" && echo "$want" >"$o.stamp") &
  pids+=($!) names+=("$f")
done
failed=()
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then log "${names[$i]}: compiled"; else failed+=("${names[$i]}"); fi
done
if ((objects_only)); then
  log "objects in $objdir in $((SECONDS - started)) s${failed[*]:+; not compiled here (left to the target machine): ${failed[*]}}"
  exit 0
fi
if ((${#failed[@]})); then
  log "FAILED: ${failed[*]}"
  exit 1
fi
libs=(-L"$torch_lib" -Wl,-rpath,"$torch_lib")
# CUDA's kernels register themselves when libtorch_cuda loads: keep it though no symbol is used.
if ((cuda)); then libs+=(-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed); fi
libs+=(-ltorch -ltorch_cpu -lc10 "${libs_extra[@]}" -L"$tj_lib" -Wl,-rpath,"$tj_lib" -l:libturbojpeg.so.0)
mkdir -p "$(dirname "$out")"
g++ -shared -pthread -fopenmp -o "$out.tmp" "$objdir"/*.o "${libs[@]}"
mv "$out.tmp" "$out"
log "wrote $out in $((SECONDS - started)) s"
# Which libraries it resolves to (pip's torch bundles its own OpenMP runtime: is the system's loaded too?).
ldd "$out" | grep -E 'libtorch|libc10|gomp|turbojpeg|libcud' | sed 's/^\s*/build-addon:   /' >&2 || true
