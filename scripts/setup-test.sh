#!/usr/bin/env bash
# What the tests, the demo and the benchmarks use beside Cordon: traffic tools and
# peers (iperf3, iptables, nftables, ping, ethtool), PostgreSQL, rsyslog,
# Mosquitto, SoftHSM and OpenSC for the key stores, Chromium for the console's
# browser tests, promtool for the alerting rules, busybox udhcpc and dnsmasq for
# the failsafe tests, systemd-analyze (package systemd) and dpkg-deb (dpkg) for
# the packaging test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-lib.sh
require_root

ensure_packages "test tools" \
  iputils-ping ethtool iperf3 iptables nftables \
  postgresql rsyslog \
  python3 softhsm2 opensc mosquitto mosquitto-clients openssl curl \
  chromium prometheus \
  busybox dnsmasq-base \
  systemd

# The Debian postgresql package starts a cluster; the tests start their own.
if systemctl is-active --quiet postgresql 2>/dev/null; then systemctl stop postgresql || true; fi
# The prometheus package is here for promtool; its server and exporter are not wanted.
for s in prometheus prometheus-node-exporter; do
  if systemctl is-active --quiet "$s" 2>/dev/null; then systemctl stop "$s" || true; fi
done
