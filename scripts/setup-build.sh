#!/usr/bin/env bash
# What building Cordon from this checkout needs (clang and bpftool for the eBPF
# object and its skeleton, libbpf-dev, cmake and g++ for the addon, npm
# packages), then the build itself: the object, the addon, the TypeScript and
# the console. A gateway needs none of it (scripts/setup-runtime.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-lib.sh
require_root

ensure_packages "build tools" clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config cmake make g++

if [ -L node_modules ]; then
  # A worktree sharing another checkout's node_modules: npm ci would empty that one through the link.
  echo "setup: node_modules is a link to $(readlink node_modules): leaving it alone (no npm ci)"
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: building the eBPF object, the native addon, the TypeScript and the console"
npm run --silent build:bpf
npx cmake-js compile -d native --log-level error >/dev/null
npm run --silent build:ts
npm run --silent build:console
