#!/usr/bin/env bash
# Compares our wasm GPT-2 prefill with onnxruntime-web on the same weights.
#
# 1. Installs onnxruntime-web (pinned below) under $ORT_PREFIX, outside the
#    repository, so package.json and package-lock.json stay unchanged.
# 2. Exports a random GPT-2-124M to out/gpt2-peer (Hugging Face safetensors
#    and ONNX) with scripts/export_gpt2_onnx.py, unless it is already there.
# 3. Runs scripts/bench-gpt2.mjs --peer, which also prints the native and
#    wasm table. Extra arguments go to bench-gpt2.mjs (e.g. --skip-build).
#
# Needs PYTHON (default /tmp/venv/bin/python) with torch, transformers and
# onnx, plus everything scripts/build.sh needs.
set -euo pipefail

ORT_VERSION=1.31.1
ORT_PREFIX="${ORT_PREFIX:-/tmp/ortweb}"
PYTHON="${PYTHON:-/tmp/venv/bin/python}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

installed="$(node -p "require('$ORT_PREFIX/node_modules/onnxruntime-web/package.json').version" 2>/dev/null || true)"
if [[ "$installed" != "$ORT_VERSION" ]]; then
  echo "==> npm install --prefix $ORT_PREFIX onnxruntime-web@$ORT_VERSION" >&2
  mkdir -p "$ORT_PREFIX"
  npm install --prefix "$ORT_PREFIX" --no-save --no-audit --no-fund "onnxruntime-web@$ORT_VERSION" >&2
fi

if [[ ! -f out/gpt2-peer/model.onnx || ! -f out/gpt2-peer/hf/model.safetensors ]]; then
  if ! "$PYTHON" -c 'import torch, transformers, onnx' 2>/dev/null; then
    echo "bench-peer: $PYTHON needs torch, transformers and onnx (pip install onnx)" >&2
    exit 1
  fi
  echo "==> $PYTHON scripts/export_gpt2_onnx.py out/gpt2-peer" >&2
  nice -n 10 "$PYTHON" scripts/export_gpt2_onnx.py out/gpt2-peer >&2
fi

exec node scripts/bench-gpt2.mjs --peer "$ORT_PREFIX" "$@"
