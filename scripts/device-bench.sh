#!/usr/bin/env bash
# Speed of the wgpu backend on a machine with a real GPU (Vulkan), run from the repository root
# with the artefacts a lean transfer allows, all under DIR (default .dev):
#   DIR/{cotnpot,cotnpot_engine}.xz   the CLI and the engine's unit-test binary, built elsewhere
#   DIR/cotnpot-release.xz            optional: the CLI's release build, benched beside it
#   DIR/skel-<model>/                 `scripts/gguf-skeleton.py make` of each model
# Checks the quantized kernels on the GPU (both decode kernels), then runs `cotnpot bench` on
# each model filled from its skeleton, with the plane kernel and with the per-row kernel, and
# sums each kernel's GPU time over a short generation (cubecl's profiling log); the decode step
# layered, fused, and fused and replayed (step.txt).
# Logs go to $OUT (or /tmp/device-bench).
set -uo pipefail
dir=${1:-.dev}
out=${OUT:-/tmp/device-bench}
bin=/tmp/cotnpot-bin
mkdir -p "$out" "$bin" /tmp/xdg
export XDG_RUNTIME_DIR=/tmp/xdg RUST_BACKTRACE=1
for f in cotnpot cotnpot_engine cotnpot-release; do
  [ -f "$dir/$f.xz" ] && xz -dc "$dir/$f.xz" > "$bin/$f" && chmod +x "$bin/$f"
done
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$out/gpu.txt"
for kernel in 1 0; do
  echo "== unit tests, COTNPOT_PLANE_KERNEL=$kernel" | tee -a "$out/tests.txt"
  COTNPOT_PLANE_KERNEL=$kernel timeout 200 "$bin/cotnpot_engine" device_kernels fused_layer 2>&1 | grep -E "^test |panicked|result" | tee -a "$out/tests.txt"
done
for skel in "$dir"/skel-*; do
  model=/tmp/$(basename "$skel" | sed 's/^skel-//').gguf
  [ -f "$model" ] || python3 scripts/gguf-skeleton.py fill "$skel" "$model"
  # The first run on a fresh machine also fills cubecl's autotune cache (prefill and scoring
  # matmuls), so the per-row kernel goes first and each binary's plane run is repeated.
  for cli in cotnpot cotnpot-release; do
    [ -x "$bin/$cli" ] || continue
    for kernel in 0 1 1; do
      echo "== bench $(basename "$model") wgpu $cli COTNPOT_PLANE_KERNEL=$kernel" | tee -a "$out/bench.txt"
      COTNPOT_PLANE_KERNEL=$kernel timeout 150 "$bin/$cli" bench --model "$model" --backend wgpu 2>&1 | tail -9 | tee -a "$out/bench.txt"
    done
  done
done
# The decode step three ways (issue 20): the layered pass, the fused step launched every token,
# and the fused step recorded once and replayed (the default); decode only, more steps.
for model in /tmp/*.gguf; do
  for cli in cotnpot cotnpot-release; do
    [ -x "$bin/$cli" ] || continue
    for step in COTNPOT_FUSED_STEP=0 COTNPOT_REPLAY=0 COTNPOT_REPLAY=1; do
      echo "== decode $(basename "$model") wgpu $cli $step" | tee -a "$out/step.txt"
      env "$step" timeout 150 "$bin/$cli" bench --model "$model" --backend wgpu --steps 32 --decode-only --json 2>&1 | tail -2 | tee -a "$out/step.txt"
    done
  done
done
for model in /tmp/*.gguf; do
  name=$(basename "$model" .gguf)
  CUBECL_DEBUG_LOG=/tmp/profile-$name.log CUBECL_DEBUG_OPTION=profile timeout 120 "$bin/cotnpot" generate --model "$model" \
    --prompt "Write a long story about a cat." --chat --greedy --max-tokens 9 --backend wgpu > /dev/null 2>&1
  echo "== GPU time per kernel, $name: 1 prefill + 8 decode steps (launches, total ms)" | tee -a "$out/profile.txt"
  grep '^| ' /tmp/profile-$name.log | awk -F'|' '{ t = $2; gsub(/ /, "", t); n = $3; gsub(/ |_[0-9a-f]+$/, "", n);
      v = t + 0; if (t ~ /ms$/) v *= 1; else if (t ~ /µs$/) v /= 1000; else if (t ~ /ns$/) v /= 1e6; else v *= 1000;
      count[n]++; total[n] += v } END { for (n in count) printf "%-28s %6d %10.2f\n", n, count[n], total[n] }' \
    | sort -k3 -rn | tee -a "$out/profile.txt"
done
