#!/usr/bin/env bash
# Installs what is missing, builds the page and the native CLI, and serves
# the page on http://127.0.0.1:8080/ (PORT overrides the port).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/build.sh

port="${PORT:-8080}"
printf '\nOpen http://127.0.0.1:%s/ and press "Try the sample", or choose a log file.\n\n' "$port"
exec node scripts/serve.mjs
