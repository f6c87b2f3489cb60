#!/usr/bin/env bash
# Trains the default behavior model on the page's sample log with the
# release CLI and a fixed seed, and writes it to www/models/sample.gguf,
# the file "Try the sample" loads. tests/sample_model.rs checks that the
# committed file is what this script produces.
#
#   bash scripts/make-sample-model.sh
set -euo pipefail
cd "$(dirname "$0")/.."

sample=www/samples/rees46-2019-oct-head.csv
out=www/models/sample.gguf

cargo build --release --bin behavior-lens
mkdir -p www/models
target/release/behavior-lens train "$sample" --out "$out" --seed 42 --dtype q8_0
echo "wrote $out ($(wc -c < "$out") bytes)"
