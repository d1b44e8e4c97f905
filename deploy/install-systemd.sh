#!/usr/bin/env bash
# berth as a systemd service (docs/systemd.md), after deploy/install.sh, as root:
#   deploy/install-systemd.sh
# Installs deploy/berth.service and, where systemd is the running init, stops a berth that
# deploy/install.sh started in the background (its pods keep running: the service's berth reloads
# them), then enables and starts berth.service. Where systemd does not run (a container, a CI
# machine), the unit is only installed and nothing else changes.
# BERTH_SYSTEMD_UNIT_DIR (default /etc/systemd/system) and BERTH_BIN (default /usr/local/bin/berth,
# the unit's ExecStart) move what it installs.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
UNIT_DIR="${BERTH_SYSTEMD_UNIT_DIR:-/etc/systemd/system}"
BIN="${BERTH_BIN:-/usr/local/bin/berth}"
PIDFILE=/run/berth/berth.pid

die() { printf 'install-systemd: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$BIN" ] || die "$BIN is missing: run deploy/install.sh first"

mkdir -p "$UNIT_DIR"
sed "s#^ExecStart=/usr/local/bin/berth\$#ExecStart=$BIN#" "$REPO/deploy/berth.service" >"$UNIT_DIR/berth.service.tmp"
chmod 0644 "$UNIT_DIR/berth.service.tmp"
mv "$UNIT_DIR/berth.service.tmp" "$UNIT_DIR/berth.service"
echo "installed $UNIT_DIR/berth.service"

# sd_booted(3): systemd is the running init when /run/systemd/system exists
if [ ! -d /run/systemd/system ]; then
  echo "systemd is not the running init here: the unit is installed, nothing was started or stopped"
  exit 0
fi
if command -v systemd-analyze >/dev/null; then systemd-analyze verify "$UNIT_DIR/berth.service"; fi

# A berth that deploy/install.sh started (its pid file, and only if that pid is still a berth).
if [ -f "$PIDFILE" ]; then
  pid="$(cat "$PIDFILE")"
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q berth; then
    echo "stopping the berth deploy/install.sh started (pid $pid); its pods keep running"
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    ! kill -0 "$pid" 2>/dev/null || die "berth (pid $pid) did not stop"
  fi
  rm -f "$PIDFILE"
fi

systemctl daemon-reload
systemctl enable --now berth.service
systemctl is-active --quiet berth.service || { journalctl -u berth.service -n 20 --no-pager >&2 || true; die "berth.service did not start"; }
echo "berth runs as berth.service: systemctl status berth; journalctl -u berth -f"
