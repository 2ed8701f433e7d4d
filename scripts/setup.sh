#!/usr/bin/env bash
# Sets up worldplan in ./.venv on a fresh machine (Python >= 3.11 needed), with a CPU build of torch
# where there is no NVIDIA GPU, so that a CPU machine never downloads a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "${PIP[@]}" install "torch==${TORCH_VERSION}"            # PyPI's Linux build ships CUDA
  else
    # Take a CPU build: the one pip resolves when it is one (a local wheel here), else PyTorch's CPU index.
    report=$(mktemp)
    if "${PIP[@]}" install --dry-run --ignore-installed --no-deps --report "$report" "torch==${TORCH_VERSION}" \
        && grep -q '+cpu' "$report"; then
      "${PIP[@]}" install "torch==${TORCH_VERSION}"
    else
      "${PIP[@]}" install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu
    fi
    rm -f "$report"
  fi
fi
# torch is already there, so this range in pyproject installs nothing more for it.
"${PIP[@]}" install -e ".[dev]"
echo "worldplan is set up in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
