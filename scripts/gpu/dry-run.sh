#!/usr/bin/env bash
# Rehearses a GPU session on this (CPU) machine: copies the working tree as the run tool does
# (tracked files and untracked ones git does not ignore, plus gpu-carry/; no node_modules, dist
# or build), then runs scripts/gpu/session.sh in it with GPU_DRY_RUN=1: the carried Node, the
# addon built by build-addon.sh against Debian's libtorch, every stage at tiny sizes on the CPU.
#   bash scripts/gpu/prepare-carry.sh && bash scripts/gpu/dry-run.sh [WORKDIR]
# Results: WORKDIR/out (what $OUT would bring back).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${1:-/tmp/lsr-gpu-dry}
[[ -d $root/gpu-carry ]] || {
  echo 'dry-run: gpu-carry/ is missing: bash scripts/gpu/prepare-carry.sh first' >&2
  exit 1
}
rm -rf "$work"
mkdir -p "$work/repo" "$work/out"
# node_modules may be an (unignored) link in a worktree: the device has none.
(cd "$root" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
  [[ -e $f && $f != node_modules ]] && printf '%s\0' "$f"
done | tar --null -T - -cf -) | tar -C "$work/repo" -xf -
cp -a "$root/gpu-carry" "$work/repo/"
cd "$work/repo"
OUT=$work/out GPU_DRY_RUN=1 bash scripts/gpu/session.sh
echo "dry-run: results in $work/out:"
(cd "$work/out" && find . -type f | sort | sed 's/^/  /')
