#!/usr/bin/env bash
# Prints the python of a venv with torch, numpy, safetensors, onnx and onnxruntime, creating it
# on first use in ${NETSPEC_TORCH_VENV:-~/.cache/netspec/torch-venv} (outside the clone, so later
# runs and fresh CI clones reuse it; the first install downloads about 3 GB from PyPI). Fails
# loudly when it cannot: the torch parity tests never skip.
set -euo pipefail
venv="${NETSPEC_TORCH_VENV:-$HOME/.cache/netspec/torch-venv}"
check='import torch, numpy, safetensors, onnx, onnxruntime'
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    echo "$venv/bin/python"
    exit 0
fi
echo "netspec: creating the torch venv in $venv (first run: ~3 GB from PyPI)" >&2
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    torch numpy safetensors onnx onnxruntime >&2
"$venv/bin/python" -c "$check" >&2
echo "$venv/bin/python"
