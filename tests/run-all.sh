#!/usr/bin/env bash
# Every test: installs the system packages it needs (apt, as root), sets up what the page needs
# (scripts/setup.sh: tools, Pyodide, test models), runs
# the Rust suite against the committed llama.cpp / gguf-py / f32-reference fixtures (CPU backend
# and burn-wgpu through Vulkan; on a machine without a GPU that is Mesa's lavapipe),
# then builds the page as users get it (scripts/build-site.sh: the release site) and runs the
# browser tests on it in headless Chromium (WebGPU on SwiftShader).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's start time, so that a CI log shows where its time went.
stage() { echo "== $(date -u +%H:%M:%S) $*"; }
stage setup
# System packages: Mesa's lavapipe (a Vulkan device for burn-wgpu without a GPU), bubblewrap and
# Debian's python3 with sympy (the native Python sandbox), chromium (the browser tests).
missing=()
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers libvulkan1)
command -v bwrap >/dev/null || missing+=(bubblewrap)
/usr/bin/python3 -c 'import sympy' 2>/dev/null || missing+=(python3 python3-sympy)
command -v chromium >/dev/null || missing+=(chromium)
if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing system packages; install them first (Debian/Ubuntu): sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
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
# The fused decode step as GPUs run it (plane reductions, RMSNorm folded into the products), on
# Qwen2.5's mixed formats and biases (the SmolLM2 run, 64 steps, cost 2.3 minutes here).
COTNPOT_PLANE_KERNEL=1 cargo test -p cotnpot-engine --locked --test all -- fused_step_equals_layered_qwen2
stage page build
bash scripts/build-site.sh target/site
stage browser tests
DIST=$PWD/target/site node --test --test-concurrency=1 tests/browser/
stage done
