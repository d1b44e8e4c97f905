#!/bin/sh
# Pods with and without a pause process on berth (bench/pauseless.ts): bundles it with esbuild into
# dist/bench-pauseless/ and runs it. Arguments: [--pods N] [--reps N] [--handler runc|berth].
set -e
root="$(cd "$(dirname "$0")/.." && pwd)"
# two levels under the root, as the test helpers it bundles find the project root from their own file
out="$root/dist/bench-pauseless"
mkdir -p "$out"
"$root/node_modules/.bin/esbuild" "$root/bench/pauseless.ts" --bundle --platform=node --target=node20 --format=esm \
  --packages=external --outfile="$out/pauseless.mjs" --log-level=warning
unset NODE_EXTRA_CA_CERTS
cd "$root"
exec node "$out/pauseless.mjs" "$@"
