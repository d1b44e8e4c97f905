#!/bin/sh
# Build time (deploy/kind/Dockerfile): the images the kind node image preloaded into containerd's
# store (the control plane's, kindnetd, local-path-provisioner, pause), written as one OCI archive
# for berth-preload.service to import into berth at the node's first boot. containerd runs only
# for the export, on a socket and state dir of its own, with its CRI plugin off, and is stopped
# again. Usage: export-preloaded.sh [archive] (default /kind/berth-preload.tar)
set -eu
out=${1:-/kind/berth-preload.tar}
ctr=${BERTH_REAL_CTR:-/usr/local/libexec/containerd/ctr}
root=${BERTH_CONTAINERD_ROOT:-/var/lib/containerd}
tmp=$(mktemp -d)
cat >"$tmp/config.toml" <<'TOML'
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
TOML
containerd --config "$tmp/config.toml" --root "$root" --state "$tmp/state" \
  --address "$tmp/containerd.sock" >"$tmp/containerd.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
tries=0
until "$ctr" --address "$tmp/containerd.sock" version >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 300 ]; then
    cat "$tmp/containerd.log" >&2
    echo "export-preloaded: containerd did not serve" >&2
    exit 1
  fi
  sleep 0.1
done
refs=$("$ctr" --address "$tmp/containerd.sock" --namespace k8s.io images ls --quiet | grep -v '^sha256:' || true)
if [ -z "$refs" ]; then
  echo "export-preloaded: no preloaded images: berth pulls them when the cluster is created"
  exit 0
fi
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086 # one argument per image reference
"$ctr" --address "$tmp/containerd.sock" --namespace k8s.io images export \
  --platform "linux/$(dpkg --print-architecture)" "$out" $refs
echo "export-preloaded: $(echo "$refs" | wc -l) images in $out ($(du -h "$out" | cut -f1))"
