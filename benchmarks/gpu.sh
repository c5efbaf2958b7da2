#!/usr/bin/env bash
# jaxstyle against PyTorch on one NVIDIA GPU, each framework in its own fresh process,
# alternated (benchmarks/race.py), then the test suite once. Stages, most wanted first,
# each under its own time limit; race.py rewrites its report after every process, so a
# stage stopped at its limit keeps what it measured.
#   1. gpu-<card>-speed: seconds per iteration (one evaluation each) at 256² and 512²;
#   2. gpu-<card>-race: time to torch's loss at 512², 8 seeds, noise and content starts,
#      jaxstyle's GPU default (jaxopt L-BFGS, device-resident) against torch's defaults;
#   3. the test suite (pytest -q), its log in RESULTS;
#   4. gpu-<card>-highres: device peak memory at 4096 px (4:3) with Adam, JAX capped at
#      80 GB of the card (XLA_PYTHON_CLIENT_MEM_FRACTION), beside PyTorch;
#   5. gpu-<card>-remat: seconds per iteration at 512² with --remat, beside stage 1's.
#
#   bash benchmarks/gpu.sh
#       a machine with the internet (Colab): its own venv, installs jax[cuda12], torch.
#   INSTALL=0 RESULTS=/tmp/gpu ARCHIVE=$OUT/gpu.tar bash benchmarks/gpu.sh
#       an offline image that already holds jax with CUDA, torch and the test extra:
#       nothing is installed, and RESULTS is packed into ARCHIVE after every stage.
# Stage limits in seconds: SPEED_S, RACE_S, TESTS_S, HIGHRES_S, REMAT_S. SIZE and ITERATIONS shrink it for a
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

stage "${SPEED_S:-150}" speed "$PYBIN" -m benchmarks.race --sizes "$((SIZE / 2)),$SIZE" \
  --inits "" --frameworks jax,torch --speed-rounds 2 \
  --speed-iterations 40 --json "$out-speed.json"
stage "${RACE_S:-330}" race "$PYBIN" -m benchmarks.race --sizes "$SIZE" --seeds 0-7 \
  --inits noise,content --iterations "$ITERATIONS" --frameworks jax,torch,torch-wolfe \
  --speed-rounds 0 --json "$out-race.json"
stage "${TESTS_S:-300}" tests "$PYBIN" -m pytest -q -x -p no:cacheprovider
fraction=$("$PYBIN" -c "import jax; s = jax.devices()[0].memory_stats() or {}; \
print(min(0.95, 80e9 / s['bytes_limit']) if 'bytes_limit' in s else 0.9)")
stage "${HIGHRES_S:-150}" highres env XLA_PYTHON_CLIENT_MEM_FRACTION="$fraction" \
  "$PYBIN" -m benchmarks.highres --sizes $((SIZE * 8)) --iterations 2 \
  --setting optimizer=adam,memory=off --json "$out-highres.json" --markdown "$out-highres.md"
stage "${REMAT_S:-120}" remat "$PYBIN" -m benchmarks.race --sizes "$SIZE" --inits "" \
  --frameworks jax --speed-rounds 2 --speed-iterations 40 --config remat=True \
  --json "$out-remat.json"
echo "gpu.sh: done; results in $RESULTS${ARCHIVE:+, packed in $ARCHIVE}"
