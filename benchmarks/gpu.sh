#!/usr/bin/env bash
# jaxstyle vs PyTorch on one NVIDIA GPU at the paper's 512x512 and 500 iterations, side
# by side, in five stages, most wanted first, each under its own time limit:
#   1. gpu-<card>: seconds per evaluation (256², 512²) and time to torch's 500-iteration
#      loss at 512² for five jaxstyle configs (the plot too);
#   2. gpu-<card>-memory: device peak of 3 iterations at 512² and 1024², default history
#      and history 10, against torch;
#   3. gpu-<card>-4096: torch, then history 10, then 100, at 4096² (is history 10 the
#      route to 4096² on an 80 GB card?);
#   4. gpu-<card>-compile: cold, warm and first-call compile times at 512²;
#   5. gpu-<card>-memory-plan: XLA:GPU's own buffer plan at 512² and 4096².
# compare.py rewrites its report after every section, so a stage stopped at its limit
# keeps what it measured, marked partial. At most 8 min 40 s plus installs.
#
#   bash benchmarks/gpu.sh
#       a machine with the internet (Colab): its own venv, installs jax[cuda12], torch.
#   INSTALL=0 RESULTS=/tmp/gpu ARCHIVE=$OUT/gpu.tar bash benchmarks/gpu.sh
#       an offline image that already holds jax with CUDA, torch, flax, optax, h5py,
#       pillow and matplotlib (the lent H200's; jaxopt is not needed): nothing is
#       installed, and RESULTS is packed into ARCHIVE after every stage.
# Stage limits in seconds: STAGE1_S ... STAGE5_S. SIZE, ITERATIONS, REPEATS
# and BIG shrink the run for a rehearsal on a CPU (with REQUIRE_GPU=0); DRY_RUN=1 prints
# each stage's command instead (tests/test_benchmarks.py parses them).
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-benchmarks/results}
SIZE=${SIZE:-512}
ITERATIONS=${ITERATIONS:-500}
BIG=${BIG:-4096}
REPEATS=${REPEATS:-20}
if [ "${INSTALL:-1}" = 0 ]; then
  PYBIN=${PYTHON:-python3}
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  VENV=${VENV:-.venv-gpu}
  if [ ! -x "$VENV/bin/python" ]; then "${PYTHON:-python3}" -m venv "$VENV"; fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch 2.13.0 from PyPI is a CUDA build on Linux x86-64; jax brings its own CUDA 12.
  "$VENV/bin/python" -m pip install -q "jax[cuda12]" -e . "torch==2.13.0" matplotlib
  PYBIN=$VENV/bin/python
fi
export PYTHONUNBUFFERED=1
mkdir -p "$RESULTS"
"$PYBIN" - "${REQUIRE_GPU:-1}" <<'EOF'
import sys


def stop(message):
    print(f"gpu.sh: {message}", file=sys.stderr)
    sys.exit(2)


try:
    import flax, h5py, matplotlib, optax, PIL, torch  # noqa: F401, E401
    import jax
except ImportError as e:
    stop(f"{e.name} is missing from this Python ({sys.executable})")
if sys.argv[1] == "1" and not (jax.default_backend() == "gpu" and torch.cuda.is_available()):
    stop(f"no GPU for both (jax: {jax.default_backend()}, torch cuda: "
         f"{torch.cuda.is_available()}); REQUIRE_GPU=0 runs it anyway")
print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}, torch {torch.__version__}")
EOF
if command -v nvidia-smi >/dev/null; then
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -c 'A-Za-z0-9\n' '-' | tr -s '-')
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    | tee "$RESULTS/gpu-$card.nvidia-smi.txt"
else
  card=cpu
fi
out="$RESULTS/gpu-$card"

pack() {
  if [ -n "${ARCHIVE:-}" ]; then
    tar -cf "$ARCHIVE.tmp" -C "$RESULTS" . && mv "$ARCHIVE.tmp" "$ARCHIVE"
  fi
}

stage() {  # stage LIMIT_S NAME ARGS...: one compare/memory_plan run under its limit
  local limit=$1 name=$2
  shift 2
  if [ "${DRY_RUN:-0}" = 1 ]; then
    printf 'gpu.sh: would run:'
    printf ' %q' "$@"
    echo
    return
  fi
  local t0=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$PYBIN" "$@" >"$RESULTS/$name.log" 2>&1 || rc=$?
  echo "gpu.sh: $name: exit $rc after $((SECONDS - t0)) s (limit $limit s)"
  tail -n 40 "$RESULTS/$name.log"
  pack
}

stage "${STAGE1_S:-200}" speed -m benchmarks.compare \
  --sizes "$((SIZE / 2)),$SIZE" --quality-sizes "$SIZE" --repeats "$REPEATS" \
  --iterations "$ITERATIONS" --skip compile,memory \
  --variant "lbfgs:optimizer=lbfgs" \
  --variant "lbfgs-tf32:optimizer=lbfgs,precision=tf32" \
  --variant "lbfgs-bf16:optimizer=lbfgs,precision=bfloat16" \
  --variant "optax-zoom-device:optimizer=optax,linesearch=zoom" \
  --variant "optax-zoom-tf32-device:optimizer=optax,linesearch=zoom,precision=tf32" \
  --json "$out.json"
stage "${STAGE2_S:-90}" memory -m benchmarks.compare \
  --sizes "$SIZE,$((SIZE * 2))" --skip evaluation,quality,compile \
  --memory-variant "history10:history_size=10" --json "$out-memory.json"
stage "${STAGE3_S:-110}" big -m benchmarks.compare \
  --sizes "$BIG" --skip evaluation,quality,compile --memory-frameworks torch \
  --memory-variant "history10:history_size=10" \
  --memory-variant "history100:history_size=100" --json "$out-$BIG.json"
stage "${STAGE4_S:-70}" compile -m benchmarks.compare \
  --sizes "$SIZE" --skip evaluation,quality,memory --json "$out-compile.json"
stage "${STAGE5_S:-50}" plan -m benchmarks.memory_plan \
  --sizes "$SIZE,$BIG" --precisions float32,bfloat16 --history 10,100 \
  --json "$out-memory-plan.json"
echo "gpu.sh: done; results in $RESULTS${ARCHIVE:+, packed in $ARCHIVE}"
