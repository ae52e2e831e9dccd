#!/usr/bin/env bash
# What a gateway or a controller host needs at run time, and nothing else: the
# shared libraries the prebuilt addon links (libbpf1, libelf1, zlib1g), iproute2
# for the operator's `ip`, and bpffs mounted. No compiler: the Debian package
# (npm run package) carries the built addon and eBPF object. Node.js 20 or later
# must be there already (Debian 13's nodejs, or NodeSource's on Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-lib.sh
require_root

ensure_packages "run-time libraries" libbpf1 libelf1 zlib1g iproute2

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "setup: Cordon needs Node.js 20 or later (found: $(node --version 2>/dev/null || echo none)); Debian 12's nodejs is 18: install NodeSource's nodejs 20 or use Debian 13" >&2
  exit 1
fi

# bpffs: pins live there and outlive the daemon.
if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
  mount -t bpf bpf /sys/fs/bpf
fi
