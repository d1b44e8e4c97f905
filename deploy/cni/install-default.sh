#!/bin/sh
# Installs berth's default pod network (10-berth-bridge.conflist) into the CNI conf dir when that
# dir holds no .conf/.conflist/.json yet. Usage: install-default.sh [conf_dir] (default /etc/cni/net.d)
set -eu
dir="${1:-/etc/cni/net.d}"
src="$(dirname "$0")/10-berth-bridge.conflist"
mkdir -p "$dir"
for f in "$dir"/*.conf "$dir"/*.conflist "$dir"/*.json; do
  [ -e "$f" ] && { echo "cni config already present in $dir ($f); leaving it"; exit 0; }
done
install -m 0644 "$src" "$dir/10-berth-bridge.conflist.tmp"
mv "$dir/10-berth-bridge.conflist.tmp" "$dir/10-berth-bridge.conflist"
echo "installed $dir/10-berth-bridge.conflist"
