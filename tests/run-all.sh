#!/usr/bin/env bash
# Every test: fetches the test models if needed, then the Rust test suite against the
# committed llama.cpp / gguf-py fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/fetch-models.sh
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0} CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-0}
cargo test --workspace --locked -- --test-threads=1
