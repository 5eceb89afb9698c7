#!/usr/bin/env bash
# Builds the page as a static site in OUT_DIR, for any static host (GitHub Pages, Netlify, a
# school intranet, a USB stick behind `python3 -m http.server`): release wasm through wasm-opt,
# hashed file names, Pyodide and the sympy bundle, the sample problems, a service worker that
# makes the page cross-origin isolated without header control and keeps it working offline, a
# web app manifest. Nothing is fetched from a CDN at run time. Models are not part of the site:
# users pick them from the Hub, or put GGUF files into OUT_DIR/public/models/ and give that path.
#
#   bash scripts/build-site.sh OUT_DIR
set -euo pipefail
out=${1:?usage: bash scripts/build-site.sh OUT_DIR}
cd "$(dirname "$0")/.."
bash scripts/setup.sh --page
export PATH="$PWD/node_modules/.bin:$PATH"
out=$(realpath -m "$out")
# trunk empties its output folder first: never let that be a folder that is not an earlier site.
if [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -f "$out/sw.js" ]; then
  echo "$out is not empty and holds no earlier site; give an empty or new folder" >&2
  exit 1
fi
trunk build --release --offline --filehash true --public-url ./ --dist "$out"
node scripts/finish-site.mjs "$out"
