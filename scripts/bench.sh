#!/usr/bin/env bash
# Runs the benchmarks in one go and prints their figures, each measured in
# the same run so ratios are comparable on a shared machine:
#   1. parsing: events/s and memory, native and wasm (Node), Taobao sample
#      and a synthetic log of EVENTS events (default 10,000,000);
#   2. GPT-2-124M-shaped model with random weights: prefill and decoding
#      tokens/s for f32, q8_0 and q4k beside a large-matmul roof (native);
#   3. behavior-model training tokens/s, native and wasm, on the REES46 sample.
# Not part of the test command. Builds in release mode first.
#
#   bash scripts/bench.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-10000000}"

bash scripts/build.sh
cargo build --release --example bench_ingest --example bench_gpt2

echo "== machine"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== parsing (native and wasm)"
node scripts/bench-ingest.mjs "$events"

echo "== GPT-2-124M shape (native)"
target/release/examples/bench_gpt2

echo "== behavior-model training, REES46 sample, 2 epochs (native and wasm)"
node scripts/bench-train.mjs 2
