#!/usr/bin/env bash
# jaxstyle vs PyTorch on one NVIDIA GPU at the paper's 512x512 and 500 iterations,
# side by side in one run; about 5-8 minutes on an H100-class card (mostly installs
# and compiles). Writes benchmarks/results/gpu-<card>.{json,md,png} and the
# nvidia-smi line of the card next to them. Usage: bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv-gpu}
if [ ! -x "$VENV/bin/python" ]; then "$PY" -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch 2.13.0 from PyPI is a CUDA build on Linux x86-64; jax brings its own CUDA 12.
"$VENV/bin/python" -m pip install -q "jax[cuda12]" -e . "torch==2.13.0" matplotlib
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -c 'A-Za-z0-9\n' '-' | tr -s '-')
mkdir -p benchmarks/results
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
  | tee "benchmarks/results/gpu-$card.nvidia-smi.txt"
"$VENV/bin/python" -m benchmarks.compare \
  --sizes 256,512 --quality-sizes 512 --memory-sizes 256,512,1024 \
  --repeats 20 --iterations 500 \
  --variant "lbfgs:optimizer=lbfgs" \
  --variant "lbfgs-tf32:optimizer=lbfgs,precision=tf32" \
  --variant "lbfgs-bf16:optimizer=lbfgs,precision=bfloat16" \
  --variant "optax-zoom-device:optimizer=optax,linesearch=zoom" \
  --variant "optax-zoom-tf32-device:optimizer=optax,linesearch=zoom,precision=tf32" \
  --json "benchmarks/results/gpu-$card.json"
