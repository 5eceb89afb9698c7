#!/usr/bin/env bash
# Everything the page needs to build, on a fresh machine with Rust, Node.js and Python: the wasm
# target, trunk and wasm-bindgen-cli (the version Cargo.lock pins), the npm tools (wasm-opt,
# Pyodide, the browser driver), Pyodide's files with sympy/mpmath precompiled into public/pyodide/,
# and the SmolLM2 test model under public/models/. Idempotent: a second run only checks.
# `--page`: only what building the page needs (scripts/build-site.sh), no test models.
set -euo pipefail
page_only=false
[ "${1:-}" = --page ] && page_only=true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PIP_DISABLE_PIP_VERSION_CHECK=1

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

trunk_version=0.21.14
if ! trunk --version 2>/dev/null | grep -q " $trunk_version"; then
  # trunk's own release profile asks for fat LTO in one codegen unit: minutes of a 2-core CI
  # machine for a tool that only orchestrates the build.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install trunk --version "$trunk_version" --locked
fi
bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen_version"; then
  # Not --locked: its own lock file pins crates that no longer build on this toolchain.
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.lock-sha256
fi

# Pyodide from our own origin (no CDN), plus sympy and mpmath as one zip of bytecode.
pyodide_dir=public/pyodide
mkdir -p "$pyodide_dir"
for f in pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip pyodide-lock.json; do
  cmp -s "node_modules/pyodide/$f" "$pyodide_dir/$f" || cp "node_modules/pyodide/$f" "$pyodide_dir/$f"
done
wheels=(sympy==1.14.0 mpmath==1.4.1)
stamp="$pyodide_dir/python-packages.txt"
if [ ! -f "$pyodide_dir/python-packages.zip" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${wheels[*]}" ]; then
  work=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.14 --platform any \
    --implementation py -d "$work" "${wheels[@]}"
  sha256sum --check --status <<SUMS
e091cc3e99d2141a0ba2847328f5479b05d94a6635cb96148ccb3f34671bd8f5  $work/sympy-1.14.0-py3-none-any.whl
dc4f0ea2304480d4a9a48a94c1020571558ade522b44a6912efac63a586e140f  $work/mpmath-1.4.1-py3-none-any.whl
SUMS
  node scripts/python-packages.mjs "$pyodide_dir/python-packages.zip" "$work"/*.whl
  echo "${wheels[*]}" > "$stamp"
  rm -rf "$work"
fi

$page_only && exit 0

# The test model, served by the page itself (enter public/models/<file> as the model URL).
bash tests/fetch-models.sh
mkdir -p public/models
ln -sf ../../.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf public/models/SmolLM2-135M-Instruct.Q4_1.gguf
