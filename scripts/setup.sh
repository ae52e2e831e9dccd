#!/usr/bin/env bash
# Installs everything Cordon needs on a fresh Debian machine and builds it:
# Debian packages (clang, libbpf, bpftool, cmake, iproute2, PostgreSQL for the
# tests, the benchmark's peers, Chromium for the console's browser tests,
# promtool for the alerting rules), npm packages, the eBPF object, the native
# addon, the TypeScript and the console bundle. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (it installs Debian packages and loads eBPF programs): sudo npm run setup" >&2
  exit 1
fi

PACKAGES=(
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config cmake make g++
  iproute2 iputils-ping ethtool iperf3 iptables nftables
  postgresql rsyslog
  python3 softhsm2 opensc mosquitto mosquitto-clients openssl curl
  chromium prometheus
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian postgresql package starts a cluster; the tests start their own.
if systemctl is-active --quiet postgresql 2>/dev/null; then systemctl stop postgresql || true; fi
# The prometheus package is here for promtool; its server and exporter are not wanted.
for s in prometheus prometheus-node-exporter; do
  if systemctl is-active --quiet "$s" 2>/dev/null; then systemctl stop "$s" || true; fi
done

# bpffs: pins live there and outlive the daemon.
if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
  mount -t bpf bpf /sys/fs/bpf
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: building the eBPF object, the native addon, the TypeScript and the console"
npm run --silent build:bpf
npx cmake-js compile -d native --log-level error >/dev/null
npm run --silent build:ts
npm run --silent build:console
echo "setup: done"
