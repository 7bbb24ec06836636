#!/usr/bin/env bash
# Installs what lsr needs and builds it; safe to run again (it only does what is missing).
#   - Debian packages (as root, with apt): libtorch-dev, libopenblas0-pthread, libturbojpeg0-dev
#     (JPEG decoding in the data loader), dataset-fashion-mnist (the demo's data), fonts-dejavu-core
#     (text in the PNG figures), a C++ toolchain.
#     With LIBTORCH=/path/to/libtorch set, libtorch-dev is not installed: that libtorch is used.
#   - npm ci, the native addon (node-gyp), the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'lsr setup: %s\n' "$*"; }

if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

packages=(libopenblas0-pthread libturbojpeg0-dev libgloo-dev dataset-fashion-mnist fonts-dejavu-core g++ make python3)
[ -n "${LIBTORCH:-}" ] || [ "${LIBTORCH_USE_PYTORCH:-}" = 1 ] || packages=(libtorch-dev "${packages[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} with apt"
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      say "these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
      exit 1
    fi
  else
    sudo=()
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

addon=build/Release/lsr_native.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp scripts/find-libtorch.mjs -newer "$addon" 2>/dev/null | head -1)" ]; then
  say "building the native addon"
  npm run -s build:native
fi

say "building TypeScript"
npm run -s build:ts
say "ready"
