#!/usr/bin/env bash
# A GPU session's one command (docs/gpu.md): `LIMIT_S=600 bash scripts/gpu/session.sh` with carry
# ["gpu-carry"] (scripts/gpu/prepare-carry.sh) and the run tool's timeout_s equal to LIMIT_S. One
# call does everything, because the machine is given back ~30 s after a call ends:
#   set-up  unpack Node, node_modules and dist/ from the carry; the environment (env.txt)
#   c       the classify-leaves-shaped data set (make-leaves-like.mjs: Node and sharp, not the
#           addon, so that PyTorch's run has its data whatever lsr's build does)
#   build   the addon against the machine's pip PyTorch (build-addon.sh), and a CUDA smoke test
#   a       node --test dist/test/gpu.test.js
#   b       bench/resnet --device cuda: resnet50 224² batch 256, lsr against PyTorch, fp32 and bf16
#   loader  lsr's loader alone on c's images (uint8 batches of 256 at 224², after a warm-up wave)
#   d       lsr compare on c's images: resnet50 224², batch 256, ε 0 and 0.1, E epochs, timed
#   e       the PyTorch reference (bench/leaves_pytorch.py): the same setting and E epochs, timed
# d and e get equal work: E is EPOCHS (10), or fewer when what is left of the call cannot hold
# both at b's measured training rate (summary.txt says so). Every stage runs under `timeout`
# within the call's deadline (LIMIT_S less a reserve for packing), prints its figures to stdout as
# it ends (the run tool's output_tail holds them even if no file comes back), and logs to a
# staging folder outside $OUT. An EXIT trap (also on TERM/INT) packs the staging folder, without
# checkpoints, into $OUT/session.tgz and copies the small results beside it: at most 6 files
# (the run tool brings back at most 8):
#   summary.txt  env.txt  bench-resnet.json  lsr-epochs.jsonl  pytorch.jsonl  session.tgz
# Environment: LIMIT_S (the call's timeout_s, 600), STAGES (c,build,a,b,loader,d,e; a subset runs
# only those: build is needed by a, b, loader and d), EPOCHS, WORKERS (16), PYTHON (python3),
# STAGE_DIR (/tmp/lsr-gpu-stage), GPU_DRY_RUN=1 (on a CPU machine, tiny sizes: scripts/gpu/dry-run.sh
# runs it in a copy of the tree as the device would; in place it replaces build/Release's addon
# with one built without Gloo).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
t0=$SECONDS
dry=${GPU_DRY_RUN:-0}
OUT=${OUT:-/tmp/lsr-gpu-out}
limit=${LIMIT_S:-600}
# Packing takes seconds; the rest is margin against the tool's own clock, which started before ours.
reserve=${RESERVE_S:-25}
budget=$((limit - reserve))
stages=",${STAGES:-c,build,a,b,loader,d,e},"
epochs_max=${EPOCHS:-10}
workers=${WORKERS:-16}
carry=$root/gpu-carry
stage_dir=${STAGE_DIR:-/tmp/lsr-gpu-stage}
data=${DATA:-/tmp/leaves-like}
cmp=$stage_dir/compare
if ((dry)); then
  py=${PYTHON:-/usr/bin/python3}
  device=cpu workers=${WORKERS:-2} epochs_max=${EPOCHS:-1}
  gen_args=(--train 48 --test 8 --classes 3 --size 64)
  train_args=(--model resnet18 --image-size 32 --batch-size 8)
  bench_args=(--device cpu --cases resnet18:32:4 --steps 1)
  loader_args=(--batches 2 --batch-size 8 --size 32)
  data=${DATA:-/tmp/lsr-dry-leaves}
  train_images=48
else
  py=${PYTHON:-python3}
  device=cuda
  gen_args=()
  train_args=(--model resnet50 --image-size 224 --batch-size 256)
  bench_args=(--device cuda)
  loader_args=()
  train_images=18353
fi
export LSR_PYTHON=$py
rm -rf "$stage_dir"
mkdir -p "$OUT" "$stage_dir"

left() { echo $((budget - (SECONDS - t0))); }
say() { echo "[session $((SECONDS - t0))s] $*"; }
summary() {
  echo "$*" >>"$stage_dir/summary.txt"
  say "$*"
}

# ---- packing: the evidence in at most 6 files, whatever happens -----------------------------
packed=0
pack() {
  ((packed)) && return
  packed=1
  summary "session: packing after $((SECONDS - t0)) s (limit ${limit} s)"
  # The lsr epochs, both runs in one file: metrics.jsonl's lines tagged with the run's folder.
  if [[ -d $cmp ]]; then
    find "$cmp" -name metrics.jsonl | LC_ALL=C sort | while read -r f; do
      run=${f#"$cmp"/}
      run=${run%/metrics.jsonl}
      sed "s|^{|{\"run\":\"$run\",|" "$f"
    done >"$stage_dir/lsr-epochs.jsonl"
  fi
  [[ -s $stage_dir/e.log ]] && grep '^{' "$stage_dir/e.log" >"$stage_dir/pytorch.jsonl"
  tar -C "$stage_dir" --exclude='*.safetensors' -czf "$OUT/session.tgz" . 2>/dev/null
  for f in summary.txt env.txt bench-resnet.json lsr-epochs.jsonl pytorch.jsonl; do
    [[ -s $stage_dir/$f ]] && cp "$stage_dir/$f" "$OUT/"
  done
  echo "[session] \$OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
  [[ -n ${prefix:-} ]] && rm -rf "$prefix"
}
trap pack EXIT
trap 'summary "session: stopped by a signal"; exit 143' TERM INT HUP

# stage NAME LIMIT CMD...: the command under timeout (every process it starts: timeout signals its
# process group), output to the staging folder's NAME.log, a line to summary.txt, its last lines to stdout.
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
  timeout -k 5 "$limit" "$@" >"$stage_dir/$name.log" 2>&1 </dev/null
  rc=$?
  local what=ok
  ((rc == 124 || rc == 137)) && what="TIMED OUT after $limit s"
  ((rc != 0 && rc != 124 && rc != 137)) && what="FAILED (exit $rc)"
  summary "$name: $what in $((SECONDS - s)) s"
  tail -n 8 "$stage_dir/$name.log" | sed "s/^/    $name| /"
  return $rc
}
want() { [[ $stages == *",$1,"* ]]; }

summary "session: stages ${stages//,/ } epochs≤$epochs_max workers=$workers limit=${limit}s budget=${budget}s dry=$dry"

# ---- set-up: Node, node_modules, dist, the environment -------------------------------------
# untar_xz ARCHIVE DIR: with xz, else with Python's lzma (a machine may lack xz-utils).
untar_xz() {
  if command -v xz >/dev/null; then
    tar -C "$2" -xJf "$1"
  else
    "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$1" "$2"
  fi
}
prefix=$(mktemp -d /tmp/lsr-node.XXXXXX)
node_ok=1
if untar_xz "$carry/node.tar.xz" "$prefix"; then
  export PATH=$prefix/bin:$PATH
else
  node_ok=0
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
  head -6 "$carry/MANIFEST.txt" 2>/dev/null
} >"$stage_dir/env.txt" 2>&1
sed 's/^/    env| /' "$stage_dir/env.txt" | head -12

# pip's CUDA libraries (nvidia/*/lib beside torch) for a process that is not Python: libtorch_cuda's
# own RUNPATH should find them; this makes sure, cuDNN's plugins included.
if ((!dry)); then
  nv=$("$py" -c 'import glob, os, torch
t = os.path.dirname(torch.__file__)
print(":".join([os.path.join(t, "lib")] + sorted(glob.glob(os.path.join(os.path.dirname(t), "nvidia", "*", "lib")))))' 2>/dev/null)
  [[ -n $nv ]] && export LD_LIBRARY_PATH=$nv${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

# ---- c: the data set first, without the addon: PyTorch's run needs it whatever the build does --
if want c || want loader || want d || want e; then
  # Reused while the machine stays warm (same arguments).
  stamp="${gen_args[*]} seed0 sharp"
  if [[ -e $data/train.csv && $(cat "$data/.stamp" 2>/dev/null) == "$stamp" ]]; then
    summary "c: reusing $data"
  elif ((node_ok)); then
    rm -rf "$data"
    stage c 120 node scripts/gpu/make-leaves-like.mjs "$data" --workers "$workers" "${gen_args[@]}" && echo "$stamp" >"$data/.stamp"
  else
    summary 'c: SKIPPED (no Node)'
  fi
fi
have_data=0
[[ -e $data/train.csv ]] && have_data=1

# ---- build: the addon, then a CUDA smoke test ------------------------------------------------
addon=0
if want build || want a || want b || want loader || want d; then
  build_env=()
  ((dry)) && build_env=(LSR_BUILD_CPU=1 JOBS=2)
  # 16 cores and the carry's prebuilt objects make it a minute there; a dry run compiles all on 2.
  if ((node_ok)) && stage build "$( ((dry)) && echo 600 || echo 240)" env "${build_env[@]}" bash scripts/gpu/build-addon.sh; then
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
    " && addon=1
  fi
  ((addon)) || summary 'build: no working addon: a, b, loader and d are skipped; e (PyTorch) runs with the time'
fi

# ---- a, b: the GPU tests, then the step against PyTorch ----------------------------------------
if want a; then
  if ((!addon)); then
    summary 'a: SKIPPED (no addon)'
  elif [[ -e dist/test/gpu.test.js ]]; then
    # A dry run checks the tests themselves on the CPU (LSR_TEST_DEVICE=cpu, test/gpu.test.ts).
    test_env=()
    ((dry)) && test_env=(LSR_TEST_DEVICE=cpu)
    stage a 90 env "${test_env[@]}" node --test --test-concurrency=1 dist/test/gpu.test.js
    grep -E '^# (tests|pass|fail|skipped)' "$stage_dir/a.log" | tr '\n' ' ' | sed 's/^/    a| figures: /;s/$/\n/'
  else
    summary 'a: SKIPPED (no test/gpu.test.ts in this tree)'
  fi
fi

if want b; then
  if ((addon)); then
    stage b 150 env LSR_BENCH_JSON="$stage_dir/bench-resnet.json" node dist/bench/resnet.js "${bench_args[@]}"
    grep -E 'batch|Lowest ratio' "$stage_dir/b.log" | sed 's/^/    b| figures: /'
  else
    summary 'b: SKIPPED (no addon)'
  fi
fi

# ---- loader: lsr's loader alone, next to the training rate --------------------------------------
if want loader && ((addon && have_data)); then
  stage loader 45 node scripts/gpu/loader-rate.mjs "$data" --workers "$workers" "${loader_args[@]}"
  grep '^{' "$stage_dir/loader.log" | sed 's/^/    loader| figures: /'
fi

# ---- d and e: equal work, sized from what is left ------------------------------------------------
run_d=0 run_e=0
want d && ((addon && have_data)) && run_d=1
want e && ((have_data)) && run_e=1
epochs=$epochs_max
if ((run_d || run_e)); then
  sides=$((run_d + run_e))
  share=$((($(left) - 10) / sides))
  # Seconds an epoch takes at the slower side's training rate in b (bf16, else fp32), per run of
  # the compare (2 runs a side): 90% of the images train, 10% validate at ~3× the rate, and a
  # run's start (model, cuDNN's search, workers) costs ~20 s.
  rate=$("$py" - "$stage_dir/bench-resnet.json" <<'PY' 2>/dev/null
import json, sys
try:
    rows = json.load(open(sys.argv[1]))
except Exception:
    print(0); sys.exit()
def rate(p):
    r = [min(float(x["lsr"]), float(x["pytorch"])) for x in rows if " train " in x["measure"] and x["measure"].endswith(p)]
    return min(r) if r else 0
print(int(rate("bf16") or rate("fp32")))
PY
)
  rate=${rate:-0}
  why="at b's training rate, $rate img/s (the slower side's)"
  if ((rate <= 0)); then
    rate=$( ((dry)) && echo 20 || echo 1200)
    why="at an assumed $rate img/s (b gave no training rate)"
  fi
  per_epoch=$((train_images * 9 / 10 / rate + train_images / 10 / (3 * rate) + 2))
  fit=$(((share - 2 * 20) / (2 * per_epoch)))
  ((fit < 1)) && fit=1
  ((fit < epochs)) && epochs=$fit
  summary "d/e: $epochs epoch(s) a run (of at most $epochs_max): ~$per_epoch s an epoch $why, $share s a side"
  ((epochs < epochs_max)) && summary "d/e: FEWER EPOCHS than the seed's $epochs_max, for both sides alike: compare per-epoch times"
fi

if ((run_d)); then
  timer=()
  [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -v -o "$stage_dir/d.time")
  stage d "$share" "${timer[@]}" node dist/src/cli/main.js compare --data "$data" "${train_args[@]}" --epochs "$epochs" \
    --smoothing 0,0.1 --device "$device" --workers "$workers" --out "$cmp"
  # Per epoch: the training's wall time (loader waits included, as PyTorch's clock sees it) and accuracy.
  find "$cmp" -name metrics.jsonl 2>/dev/null | LC_ALL=C sort | while read -r f; do
    "$py" -c '
import json, sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    print("    d| figures: %s epoch %d: wall %.1f s, steps %.1f s, %.0f img/s, val accuracy %s" % (sys.argv[2], m["epoch"], m.get("wallSeconds", 0), m["seconds"], m["imagesPerSecond"], m["valAccuracy"]))' "$f" "${f#"$cmp"/}"
  done
  summary "d: besides training, lsr wrote best and last checkpoints every epoch (model and momentum) and the report"
elif want d; then
  summary 'd: SKIPPED (no addon or no data)'
fi

if ((run_e)); then
  stage e "$(($(left) - 5))" "$py" bench/leaves_pytorch.py "$data" "${train_args[@]}" --epochs "$epochs" --smoothing 0,0.1 \
    --device "$device" --workers "$workers"
  grep '^{' "$stage_dir/e.log" | grep -v '"setting"' | sed 's/^/    e| figures: /'
  summary 'e: PyTorch wrote no checkpoint and no report; its batches travel as float32'
elif want e; then
  summary 'e: SKIPPED (no data)'
fi

summary "session: done in $((SECONDS - t0)) s"
exit 0
