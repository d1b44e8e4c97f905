#!/bin/sh
# Runs the bench from source without touching dist/: bundles bench/index.ts with esbuild into
# bench/results/tmp/build/ and runs it. Arguments go to the bench (see --help).
set -e
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/bench/results/tmp/build"
mkdir -p "$out"
"$root/node_modules/.bin/esbuild" "$root/bench/index.ts" --bundle --platform=node --target=node20 --format=esm \
  --packages=external --outfile="$out/bench.mjs" --log-level=warning
unset NODE_EXTRA_CA_CERTS
exec node "$out/bench.mjs" "$@"
