#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and serves the page on http://127.0.0.1:8080 with the
# headers that let Python be interrupted. Extra arguments go to `trunk serve` (e.g. --release).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
exec trunk serve --offline "$@"
