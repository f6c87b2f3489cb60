#!/usr/bin/env bash
# Runs the benchmarks in one go and prints their figures, each measured in
# the same run so ratios are comparable on a shared machine:
#   1. parsing: events/s and memory, native and wasm (Node), Taobao sample
#      and a synthetic log of EVENTS events (default 10,000,000);
#   2. GPT-2-124M-shaped model with random weights: prefill and decoding
#      tokens/s for f32, q8_0 and q4k, native and wasm, beside each build's
#      large-matmul roof (scripts/bench-gpt2.mjs). With --peer it also times
#      onnxruntime-web on the same weights (scripts/bench-peer.sh, which
#      needs Python with torch, transformers and onnx);
#   3. behavior-model training tokens/s, native and wasm, on the REES46 sample;
#   4. the text model on the REES46 sample, native and wasm;
#   5. the page in headless Chromium: file drop to done on the REES46 sample
#      with 1 and 2 workers, then 4x and 16x the sample (scripts/bench-page.mjs).
# Not part of the test command. Builds in release mode first.
#
#   bash scripts/bench.sh [EVENTS] [--peer]
set -euo pipefail
cd "$(dirname "$0")/.."
events=10000000
peer=0
for argument in "$@"; do
  case "$argument" in
    --peer) peer=1 ;;
    *[!0-9]* | '')
      echo "bench: unknown argument $argument; expected a number of events or --peer" >&2
      exit 2
      ;;
    *) events="$argument" ;;
  esac
done

bash scripts/build.sh
cargo build --release --example bench_ingest --example bench_gpt2

echo "== machine"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== parsing (native and wasm)"
node scripts/bench-ingest.mjs "$events"

echo "== GPT-2-124M shape (native and wasm)"
if [[ "$peer" == 1 ]]; then
  bash scripts/bench-peer.sh
else
  node scripts/bench-gpt2.mjs
fi

echo "== behavior-model training, REES46 sample, 2 epochs (native and wasm)"
node scripts/bench-train.mjs 2

echo "== text model, REES46 sample (native and wasm)"
node scripts/bench-text.mjs

echo "== the page in headless Chromium (1 and 2 workers; 1x, 4x and 16x the sample)"
node scripts/bench-page.mjs
