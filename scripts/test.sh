#!/usr/bin/env bash
# Runs every Behavior Lens test suite and exits non-zero if any fails:
#   1. native: cargo test --all-targets, then the doc tests
#   2. wasm:   cargo test --target wasm32-unknown-unknown, run under Node by
#              wasm-bindgen-test-runner
#   3. build:  scripts/build.sh --page-only (release wasm module; the
#              tests compare it with the debug CLI that step 1 built)
#   4. node:    tests/node/*.test.mjs, the wasm report against the CLI's
#   5. browser: node --test tests/browser/*.test.mjs in headless Chromium
#
# It first runs scripts/setup.sh --browser, which installs what is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

step() { printf '\n==> %s\n' "$*"; }

started_at=$SECONDS
elapsed() { printf '%dm%02ds' $(((SECONDS - started_at) / 60)) $(((SECONDS - started_at) % 60)); }

bash scripts/setup.sh --browser

step "Native tests (cargo test --all-targets) [$(elapsed)]"
cargo test --all-targets

step "Native doc tests (cargo test --doc) [$(elapsed)]"
cargo test --doc

step "WebAssembly tests under Node (wasm-bindgen-test-runner) [$(elapsed)]"
# Only the library and the integration tests in tests/*.rs run here: the
# bin target is the native CLI, and on wasm32 it is an empty program.
wasm_targets=(--lib)
if compgen -G 'tests/*.rs' >/dev/null; then
  wasm_targets+=(--test '*')
fi
RUSTFLAGS='-C target-feature=+simd128 --cfg getrandom_backend="wasm_js"' \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown "${wasm_targets[@]}"

step "Release wasm build (scripts/build.sh --page-only) [$(elapsed)]"
bash scripts/build.sh --page-only

step "Report parity under Node and browser tests in headless Chromium [$(elapsed)]"
node --test tests/node/*.test.mjs tests/browser/*.test.mjs

step "All test suites passed in $(elapsed)"
