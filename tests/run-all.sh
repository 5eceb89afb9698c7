#!/usr/bin/env bash
# Every test: sets up what the page needs (scripts/setup.sh: tools, Pyodide, test models), runs
# the Rust suite against the committed llama.cpp / gguf-py / f32-reference fixtures (CPU backend
# and burn-wgpu through Vulkan; on a machine without a GPU that is Mesa's lavapipe, see .ci/run),
# then builds the page and runs the browser tests in headless Chromium (WebGPU on SwiftShader).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's start time, so that a CI log shows where its time went.
stage() { echo "== $(date -u +%H:%M:%S) $*"; }
stage setup
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0} CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-0}
stage Rust tests
# One test at a time: each holds a model in memory and uses every core itself.
cargo test --workspace --exclude cotnpot-app --locked -- --test-threads=1
stage plane kernels
# The plane (subgroup) kernels that real GPUs get, forced onto lavapipe's planes.
COTNPOT_PLANE_KERNEL=1 cargo test --workspace --exclude cotnpot-app --locked --lib -- device_kernels fused_layer
stage page build
# The page: a dev build (dependencies and the engine are optimised by the workspace profile).
trunk build --offline
stage browser tests
node --test --test-concurrency=1 tests/browser/
stage done
