#!/bin/sh
# Runs the bench from source without touching dist/: bundles bench/index.ts with esbuild into
# bench/results/tmp/build/ and runs it. Arguments go to the bench (see --help).
# `bench/bench.sh pauseless [--pods N] [--reps N] [--handler runc|berth]` runs bench/pauseless.ts
# instead, and `bench/bench.sh daemon-memory [--pods N] [--reps N] [--reads N] [--heap]`
# bench/daemon-memory.ts, each bundled into dist/bench-<name>/ (two levels under the root, where
# the test helpers it bundles find the project root from their own file).
set -e
root="$(cd "$(dirname "$0")/.." && pwd)"
entry=index
out="$root/bench/results/tmp/build"
if [ "$1" = pauseless ] || [ "$1" = daemon-memory ]; then
  entry="$1"
  out="$root/dist/bench-$1"
  shift
  cd "$root"
fi
mkdir -p "$out"
"$root/node_modules/.bin/esbuild" "$root/bench/$entry.ts" --bundle --platform=node --target=node20 --format=esm \
  --packages=external --outfile="$out/bench.mjs" --log-level=warning
unset NODE_EXTRA_CA_CERTS
exec node "$out/bench.mjs" "$@"
