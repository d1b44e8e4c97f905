#!/usr/bin/env bash
# Debian packages berth, its tests and its lint (shellcheck) use. Run as root after `apt-get update`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends \
  runc crun containerd busybox-static \
  containernetworking-plugins iproute2 iptables \
  docker-registry skopeo ca-certificates \
  golang-go golang-google-grpc-dev \
  shellcheck apparmor
