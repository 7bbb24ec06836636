#!/usr/bin/env bash
# Rehearses a GPU session on this (CPU) machine: copies the working tree as the run tool does
# (tracked files and untracked ones git does not ignore, plus gpu-carry/; no node_modules, dist
# or build), then runs scripts/gpu/session.sh in it with GPU_DRY_RUN=1: the carried Node, the
# addon built by build-addon.sh against Debian's libtorch, every stage at tiny sizes on the CPU.
#   bash scripts/gpu/prepare-carry.sh && bash scripts/gpu/dry-run.sh [WORKDIR]
# Results: WORKDIR/out (what $OUT would bring back), WORKDIR/stage (the logs, as packed into
# session.tgz). Exits 1 unless every stage ended ok and $OUT holds at most 8 files, summary.txt among them.
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
# No run tool's clock here: the deadline leaves the CPU build of every native file (minutes on 2 cores) its time.
OUT=$work/out STAGE_DIR=$work/stage GPU_DRY_RUN=1 LIMIT_S=${LIMIT_S:-1200} bash scripts/gpu/session.sh
echo "dry-run: results in $work/out (what the run tool would bring back):"
(cd "$work/out" && find . -type f -printf '  %p  %s bytes\n' | sort)
echo "dry-run: session.tgz holds:"
tar -tzf "$work/out/session.tgz" | sort | sed 's/^/  /'
# The run tool's limits: at most 8 files come back; summary.txt must be one of them; every stage ok.
files=$(find "$work/out" -type f | wc -l)
fail=0
((files <= 8)) || { echo "dry-run: FAILED: $files files in \$OUT, the run tool brings back 8" >&2; fail=1; }
[[ -s $work/out/summary.txt ]] || { echo 'dry-run: FAILED: no summary.txt in $OUT' >&2; fail=1; }
if grep -E ': (FAILED|TIMED OUT|SKIPPED)' "$work/out/summary.txt" >&2; then
  echo 'dry-run: FAILED: a stage did not end ok (above)' >&2
  fail=1
fi
((fail)) || echo "dry-run: ok: every stage ok, $files files in \$OUT"
exit $fail
