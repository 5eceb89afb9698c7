#!/usr/bin/env bash
# Every test: fetches the test models if needed, then the Rust test suite against the committed
# llama.cpp / gguf-py / f32-reference fixtures, on the CPU backend and on burn-wgpu (natively
# through Vulkan; on a machine without a GPU that is Mesa's lavapipe, see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/fetch-models.sh
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0} CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-0}
# One test at a time: each holds a model in memory and uses every core itself.
cargo test --workspace --locked -- --test-threads=1
