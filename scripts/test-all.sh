#!/usr/bin/env bash
# Every test: type check, then Jest (unit, datapath, API, end-to-end), one
# file at a time because namespace and datapath tests share the kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit -p tsconfig.json
npx jest --runInBand --ci "$@"
