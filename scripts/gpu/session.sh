#!/usr/bin/env bash
# A GPU session's one command (docs/gpu.md): `bash scripts/gpu/session.sh` with carry ["gpu-carry"]
# (scripts/gpu/prepare-carry.sh). It unpacks Node, node_modules and dist/ from the carry, builds
# the addon against the machine's pip PyTorch (scripts/gpu/build-addon.sh), then runs the stages,
# each under `timeout`, each logging to $OUT/<stage>.log and adding a line to $OUT/summary.txt;
# a stage that fails or times out does not stop the next.
#   a  node --test dist/test/gpu.test.js (when test/gpu.test.ts exists)
#   b  bench/resnet --device cuda: resnet50 224² batch 256, lsr against PyTorch, fp32 and bf16
#   c  the classify-leaves-shaped data set (scripts/gpu/make-leaves-like.mjs) on local disk, then
#      the loader's rate on it (scripts/gpu/loader-rate.mjs, uint8 batches of 256 at 224²)
#   d  lsr compare on it: resnet50 224², batch 256, EPOCHS epochs, ε 0 and 0.1, timed
#   e  the PyTorch reference (bench/leaves_pytorch.py), same setting and worker count, timed
# Environment: STAGES (default a,b,c,d; e, PyTorch's side, is a second call: docs/gpu.md), EPOCHS (10), WORKERS (16), BUDGET
# (seconds for the whole command, 570: the run tool stops a command at 600), GPU_DRY_RUN=1 (on a
# CPU machine, with tiny sizes: checks syntax and paths; scripts/gpu/dry-run.sh runs it in a copy
# of the tree as the device would — run in place, it replaces build/Release's addon with one built
# without Gloo), PYTHON (the Python with torch; python3).
# Stage limits, in priority order: a, b and c have their own caps; d and e share what is left.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
t0=$SECONDS
dry=${GPU_DRY_RUN:-0}
OUT=${OUT:-/tmp/lsr-gpu-out}
mkdir -p "$OUT"
stages=",${STAGES:-a,b,c,d},"
budget=${BUDGET:-570}
epochs=${EPOCHS:-10}
workers=${WORKERS:-16}
carry=$root/gpu-carry
data=${DATA:-/tmp/leaves-like}
cmp=/tmp/lsr-compare
if ((dry)); then
  py=${PYTHON:-/usr/bin/python3}
  device=cpu workers=${WORKERS:-2} epochs=${EPOCHS:-1}
  gen_args=(--train 48 --test 8 --classes 3 --size 64)
  train_args=(--model resnet18 --image-size 32 --batch-size 8)
  bench_args=(--device cpu --cases resnet18:32:4 --steps 1)
  loader_args=(--batches 6 --batch-size 8 --size 32)
  data=${DATA:-/tmp/lsr-dry-leaves}
  cmp=/tmp/lsr-dry-compare
else
  py=${PYTHON:-python3}
  device=cuda
  gen_args=()
  train_args=(--model resnet50 --image-size 224 --batch-size 256)
  bench_args=(--device cuda)
  loader_args=()
fi
export LSR_PYTHON=$py

left() { echo $((budget - (SECONDS - t0))); }
say() { echo "[session $((SECONDS - t0))s] $*"; }
summary() {
  echo "$*" >>"$OUT/summary.txt"
  say "$*"
}
# stage NAME LIMIT CMD...: the command under timeout (every process it starts: timeout signals its
# process group), output to $OUT/NAME.log, a line to summary.txt; the log's tail shows in the run's output.
stage() {
  local name=$1 limit=$2
  shift 2
  local l
  l=$(left)
  ((limit > l - 5)) && limit=$((l - 5))
  if ((limit < 10)); then
    summary "$name: SKIPPED (no time left: $l s)"
    return 1
  fi
  say "$name: start (limit ${limit} s): $*"
  local s=$SECONDS rc
  timeout -k 10 "$limit" "$@" >"$OUT/$name.log" 2>&1 </dev/null
  rc=$?
  local what=ok
  ((rc == 124 || rc == 137)) && what="TIMED OUT after $limit s"
  ((rc != 0 && rc != 124 && rc != 137)) && what="FAILED (exit $rc)"
  summary "$name: $what in $((SECONDS - s)) s"
  tail -n 8 "$OUT/$name.log" | sed "s/^/    $name| /"
  return $rc
}
want() { [[ $stages == *",$1,"* ]]; }

: >"$OUT/summary.txt"
summary "session: stages ${stages//,/ } epochs=$epochs workers=$workers budget=${budget}s dry=$dry"

# ---- set-up: Node, node_modules, dist, the environment, the addon -------------------------
# untar_xz ARCHIVE DIR: with xz, else with Python's lzma (a machine may lack xz-utils).
untar_xz() {
  if command -v xz >/dev/null; then
    tar -C "$2" -xJf "$1"
  else
    "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$1" "$2"
  fi
}
prefix=$(mktemp -d /tmp/lsr-node.XXXXXX)
if untar_xz "$carry/node.tar.xz" "$prefix"; then
  export PATH=$prefix/bin:$PATH
else
  summary "setup: FAILED to unpack $carry/node.tar.xz"
fi
[[ -e node_modules ]] || untar_xz "$carry/node_modules.tar.xz" . || summary "setup: FAILED to unpack node_modules"
# dist/ afresh every call: a warm machine keeps the last call's, which a new carry replaces.
rm -rf dist
tar -xzf "$carry/dist.tar.gz" || summary "setup: FAILED to unpack dist"
sources=$(find src native -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
grep -q "^sources: $sources\$" "$carry/MANIFEST.txt" 2>/dev/null ||
  summary "setup: WARNING: gpu-carry's dist/ was built from other sources than this tree's src/ and native/ ($sources): run scripts/gpu/prepare-carry.sh again"
{
  echo "date: $(date -u)"
  echo "node: $(command -v node) $(node --version 2>&1)"
  echo "gcc: $(gcc --version 2>&1 | head -1)"
  echo "cores: $(nproc), memory: $(free -g 2>/dev/null | awk '/Mem:/{print $2 " GiB"}'), /tmp: $(df -h /tmp | awk 'NR==2{print $4 " free"}')"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 | head -3
  "$py" -c '
import importlib.util as u, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      "bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported(), "cudnn", torch.backends.cudnn.version())
print("torchvision", u.find_spec("torchvision") is not None, "PIL", u.find_spec("PIL") is not None, "numpy", u.find_spec("numpy") is not None)' 2>&1
  cat "$carry/MANIFEST.txt" 2>/dev/null | head -6
} >"$OUT/env.txt" 2>&1
sed 's/^/    env| /' "$OUT/env.txt" | head -12

# pip's CUDA libraries (nvidia/*/lib beside torch) for a process that is not Python: libtorch_cuda's
# own RUNPATH should find them; this makes sure, cuDNN's plugins included.
if ((!dry)); then
  nv=$("$py" -c 'import glob, os, torch
t = os.path.dirname(torch.__file__)
print(":".join([os.path.join(t, "lib")] + sorted(glob.glob(os.path.join(os.path.dirname(t), "nvidia", "*", "lib")))))' 2>/dev/null)
  [[ -n $nv ]] && export LD_LIBRARY_PATH=$nv${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

build_env=()
((dry)) && build_env=(LSR_BUILD_CPU=1 JOBS=2)
addon=0
if stage build 240 env "${build_env[@]}" bash scripts/gpu/build-addon.sh; then
  addon=1
  stage smoke 60 node --input-type=module -e "
    const L = await import('$root/dist/src/index.js');
    const info = L.buildInfo();
    console.log(JSON.stringify({ torch: info.torchVersion, cudaAvailable: info.cudaAvailable }));
    const t = L.randn([64, 64], { device: '$device' });
    console.log('matmul on $device:', t.matmul(t).sum().to('cpu').item());
    // cuDNN too (its libraries load on the first convolution): forward and backward.
    const x = L.randn([2, 3, 16, 16], { device: '$device' });
    const w = L.randn([4, 3, 3, 3], { device: '$device' }).requiresGrad_();
    L.F.conv2d(x, w, null, { padding: 1 }).sum().backward();
    console.log('conv2d backward on $device:', w.grad.abs().sum().to('cpu').item());
  "
fi

# ---- the stages ----------------------------------------------------------------------------
if want a; then
  if ((!addon)); then
    summary 'a: SKIPPED (no addon)'
  elif [[ -e dist/test/gpu.test.js ]]; then
    # A dry run checks the tests themselves on the CPU (LSR_TEST_DEVICE=cpu, test/gpu.test.ts).
    test_env=()
    ((dry)) && test_env=(LSR_TEST_DEVICE=cpu)
    stage a 90 env "${test_env[@]}" node --test --test-concurrency=1 dist/test/gpu.test.js
  else
    summary 'a: SKIPPED (no test/gpu.test.ts in this tree)'
  fi
fi

if want b; then
  if ((addon)); then
    stage b 150 env LSR_BENCH_JSON="$OUT/bench-resnet.json" node dist/bench/resnet.js "${bench_args[@]}"
  else
    summary 'b: SKIPPED (no addon)'
  fi
fi

if want c || want d || want e; then
  # Reused while the machine stays warm (same arguments).
  stamp="${gen_args[*]} seed0"
  if [[ -e $data/train.csv && $(cat "$data/.stamp" 2>/dev/null) == "$stamp" ]]; then
    summary "c: reusing $data"
  elif ((addon)); then
    rm -rf "$data"
    stage c 60 node scripts/gpu/make-leaves-like.mjs "$data" --workers "$workers" "${gen_args[@]}" && echo "$stamp" >"$data/.stamp"
  else
    summary 'c: SKIPPED (no addon to encode JPEGs)'
  fi
fi
# The loader's own rate (uint8 batches of 256, RandomResizedCrop + flip): is the GPU fed fast enough?
if want c && ((addon)) && [[ -e $data/train.csv ]]; then
  stage loader 40 node scripts/gpu/loader-rate.mjs "$data" --workers "$workers" "${loader_args[@]}"
fi

# d and e share what is left; when both run, d gets half.
if want d; then
  if ((addon)) && [[ -e $data/train.csv ]]; then
    share=$(($(left) - 10))
    want e && share=$((share / 2))
    rm -rf "$cmp"
    # --device arrives with the CLI's device option; an lsr without it would train on the CPU.
    device_opt=(--device "$device")
    if ! node dist/src/cli/main.js compare --help 2>/dev/null | grep -q -- '--device'; then
      device_opt=()
      summary "d: this lsr's compare has no --device option: it runs on the CPU"
    fi
    timer=()
    [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -v -o "$OUT/d.time")
    stage d "$share" "${timer[@]}" node dist/src/cli/main.js compare --data "$data" "${train_args[@]}" --epochs "$epochs" \
      --smoothing 0,0.1 "${device_opt[@]}" --workers "$workers" --out "$cmp"
    # The small results (not the checkpoints).
    if [[ -d $cmp ]]; then
      (cd "$cmp" && find . -type f \( -name '*.json' -o -name '*.jsonl' -o -name '*.html' -o -name '*.txt' -o -name '*.csv' -o -name '*.png' -o -name '*.svg' \) -size -8M -print0 |
        tar --null -T - -cf - | (mkdir -p "$OUT/compare" && tar -C "$OUT/compare" -xf -))
    fi
  else
    summary 'd: SKIPPED (no addon or no data)'
  fi
fi

if want e; then
  if [[ -e $data/train.csv ]]; then
    stage e "$(($(left) - 5))" "$py" bench/leaves_pytorch.py "$data" "${train_args[@]}" --epochs "$epochs" --smoothing 0,0.1 \
      --device "$device" --workers "$workers"
    grep '^{' "$OUT/e.log" >"$OUT/pytorch.jsonl" 2>/dev/null
  else
    summary 'e: SKIPPED (no data)'
  fi
fi

summary "session: done in $((SECONDS - t0)) s"
rm -rf "$prefix"
exit 0
