#!/usr/bin/env bash
# Installs what building and testing Behavior Lens needs, skipping each part
# that is already present:
#   - the rustup target wasm32-unknown-unknown
#   - wasm-bindgen-cli at the exact version of the wasm-bindgen crate in
#     Cargo.lock (it also provides wasm-bindgen-test-runner)
#   - npm packages from package-lock.json: playwright-core, echarts, and
#     binaryen, whose wasm-opt the build uses
#   - with --browser: Debian's chromium, for the headless browser tests
#
# Usage: bash scripts/setup.sh [--browser]
# apt-get needs root; without root a missing Debian package is reported.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    -h | --help)
      sed -n '2,12p' "$0"
      exit 0
      ;;
    *)
      echo "setup: unknown option '$arg' (expected --browser)" >&2
      exit 2
      ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

apt_updated=0
# Installs Debian packages by name; returns non-zero when apt-get is missing,
# we are not root, or the install fails.
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    note "apt-get not found: cannot install $*"
    return 1
  fi
  if [[ "$(id -u)" -ne 0 ]]; then
    note "not root: cannot run apt-get install $*"
    return 1
  fi
  if [[ "$apt_updated" -eq 0 ]]; then
    note "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null || return 1
    apt_updated=1
  fi
  note "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

step "Rust target wasm32-unknown-unknown"
if ! command -v rustup >/dev/null 2>&1; then
  echo "setup: rustup not found; install the Rust toolchain with rustup first" >&2
  exit 1
fi
if rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
  note "already installed"
else
  rustup target add wasm32-unknown-unknown
fi

step "wasm-bindgen-cli"
# The CLI must match the wasm-bindgen crate version exactly, or it rejects
# the module that the crate produced.
bindgen_version="$(awk '
  /^name = "wasm-bindgen"$/ { found = 1; next }
  found && /^version = / { gsub(/"/, "", $3); print $3; exit }
' Cargo.lock)"
if [[ -z "$bindgen_version" ]]; then
  echo "setup: no wasm-bindgen package found in Cargo.lock" >&2
  exit 1
fi
installed_version="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
if [[ "$installed_version" == "$bindgen_version" ]] && command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
  note "wasm-bindgen $bindgen_version already installed"
else
  note "Cargo.lock pins wasm-bindgen $bindgen_version; found '${installed_version:-none}'"
  # No --locked: with it the install fails, because the CLI's Cargo.lock
  # pins a webpki-roots version that the registry does not serve.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

step "npm packages"
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm || {
    echo "setup: node and npm are required (Node 20 or newer)" >&2
    exit 1
  }
fi
lock_hash="$(sha256sum package-lock.json | awk '{ print $1 }')"
stamp=node_modules/.behavior-lens-lock.sha256
if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_hash" ]]; then
  note "node_modules matches package-lock.json"
else
  npm ci --no-audit --no-fund
  printf '%s\n' "$lock_hash" >"$stamp"
fi

if [[ "$want_browser" -eq 1 ]]; then
  step "Chromium (for browser tests)"
  if [[ -x /usr/bin/chromium ]]; then
    note "found /usr/bin/chromium"
  elif apt_install chromium; then
    note "installed /usr/bin/chromium"
  else
    echo "setup: the browser tests need /usr/bin/chromium; install Debian's chromium package as root" >&2
    exit 1
  fi
fi

step "Setup complete"
