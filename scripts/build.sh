#!/usr/bin/env bash
# Builds the page's WebAssembly module and the native CLI:
#   www/pkg/behavior_lens.js, www/pkg/behavior_lens_bg.wasm  (release, SIMD)
#   www/vendor/echarts.esm.min.js                             (from node_modules)
#   target/release/behavior-lens                              (native CLI)
#
# Run scripts/setup.sh first; it installs the pinned wasm-bindgen-cli.
set -euo pipefail

# --page-only skips the native CLI, for callers that use the debug build.
build_cli=1
for argument in "$@"; do
  case "$argument" in
    --page-only) build_cli=0 ;;
    *)
      echo "build: unknown option $argument; expected --page-only" >&2
      exit 2
      ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
file_size() { stat -c %s "$1"; }

# getrandom 0.3 needs the wasm_js backend selected by cfg on this target.
# scripts/test.sh runs the wasm tests with the same flags, so both builds
# compile the crate graph the same way.
export WASM_RUSTFLAGS='-C target-feature=+simd128 --cfg getrandom_backend="wasm_js"'

step "WebAssembly module (cargo build --release --target wasm32-unknown-unknown --lib)"
RUSTFLAGS="$WASM_RUSTFLAGS" cargo build --release --target wasm32-unknown-unknown --lib

raw_wasm=target/wasm32-unknown-unknown/release/behavior_lens.wasm
if [[ ! -f "$raw_wasm" ]]; then
  echo "build: expected $raw_wasm after cargo build, but it is missing" >&2
  exit 1
fi

step "wasm-bindgen --target web -> www/pkg/"
expected_version="$(awk '
  /^name = "wasm-bindgen"$/ { found = 1; next }
  found && /^version = / { gsub(/"/, "", $3); print $3; exit }
' Cargo.lock)"
actual_version="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
if [[ "$actual_version" != "$expected_version" ]]; then
  echo "build: wasm-bindgen ${actual_version:-not found}, but Cargo.lock pins $expected_version; run scripts/setup.sh" >&2
  exit 1
fi
rm -rf www/pkg
wasm-bindgen --target web --out-dir www/pkg --no-typescript "$raw_wasm"

bg_wasm=www/pkg/behavior_lens_bg.wasm
size_before="$(file_size "$bg_wasm")"
note "$bg_wasm: $size_before bytes after wasm-bindgen"

step "wasm-opt -O3"
# Binaryen 108 (Debian 12's wasm-opt) points the export
# __wbindgen_externrefs at the funcref table instead of the externref table,
# so the module fails at start-up in WebAssembly.Table.set(). The npm
# package binaryen 132 (from package-lock.json) keeps the export right, so
# it comes first. Whichever wasm-opt runs, its output is kept only when Node
# can instantiate it.
wasm_opt=""
if [[ -x node_modules/.bin/wasm-opt ]]; then
  wasm_opt=node_modules/.bin/wasm-opt
elif command -v wasm-opt >/dev/null 2>&1; then
  wasm_opt=wasm-opt
fi

loads_in_node() {
  local dir
  dir="$(mktemp -d)"
  cp www/pkg/behavior_lens.js "$dir/"
  cp "$1" "$dir/behavior_lens_bg.wasm"
  node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    const m = await import('$dir/behavior_lens.js');
    m.initSync({ module: readFileSync('$dir/behavior_lens_bg.wasm') });
    m.version();
  " >/dev/null 2>&1
  local status=$?
  rm -rf "$dir"
  return $status
}

if [[ -n "$wasm_opt" ]]; then
  wasm_opt_version="$("$wasm_opt" --version)"
  note "using $wasm_opt ($wasm_opt_version)"
  # rustc 1.95 enables all of these proposals except SIMD by default for
  # wasm32-unknown-unknown (see `rustc --print cfg --target ...`), so
  # wasm-opt must accept them too.
  "$wasm_opt" -O3 \
    --enable-simd \
    --enable-bulk-memory \
    --enable-nontrapping-float-to-int \
    --enable-sign-ext \
    --enable-mutable-globals \
    --enable-reference-types \
    --enable-multivalue \
    "$bg_wasm" -o "$bg_wasm.opt"
  if loads_in_node "$bg_wasm.opt"; then
    mv "$bg_wasm.opt" "$bg_wasm"
    size_after="$(file_size "$bg_wasm")"
    note "$bg_wasm: $size_before -> $size_after bytes"
  else
    rm -f "$bg_wasm.opt"
    note "$wasm_opt_version produced a module that does not instantiate; keeping the unoptimized one ($size_before bytes)"
  fi
else
  note "wasm-opt not found (run scripts/setup.sh for the npm package binaryen): keeping the unoptimized module ($size_before bytes)"
fi

step "Vendored chart library -> www/vendor/"
# The page imports the ES module build of ECharts on demand, so the file is
# copied under a .js name that common static servers send as JavaScript. The
# Apache-2.0 license and notice travel with it.
echarts_dir=node_modules/echarts
echarts_source=$echarts_dir/dist/echarts.esm.min.mjs
if [[ ! -f "$echarts_source" ]]; then
  echo "build: $echarts_source is missing; run scripts/setup.sh (npm ci) to install the echarts package" >&2
  exit 1
fi
rm -rf www/vendor
mkdir -p www/vendor
cp "$echarts_source" www/vendor/echarts.esm.min.js
cp "$echarts_dir/LICENSE" www/vendor/echarts-LICENSE.txt
cp "$echarts_dir/NOTICE" www/vendor/echarts-NOTICE.txt
echarts_version="$(node -p "require('./$echarts_dir/package.json').version")"
note "copied ECharts $echarts_version: $echarts_source ($(file_size "$echarts_source") bytes)"

if [[ "$build_cli" == 1 ]]; then
  step "Native CLI (cargo build --release --bin behavior-lens)"
  cargo build --release --bin behavior-lens
  note "target/release/behavior-lens: $(file_size target/release/behavior-lens) bytes"
fi

step "Build complete"
