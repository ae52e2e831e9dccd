#!/usr/bin/env bash
# Every test: type check, then Jest in two phases.
#  1. Tests that hold no kernel state (unit specs, the controller's API, store,
#     credentials and integrity tests, each on its own ports, data dirs and
#     PostgreSQL server): two files at a time.
#  2. Tests that share the kernel (network namespaces, tc and XDP attachments,
#     bpffs pins, traffic), and the enforcer's specs (timed to the 100 ms):
#     one file at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
NO_KERNEL=('/apps/(?!enforcer/)' '/model/' '/native/lib/' '/test/api/' '/test/monitoring/' '/test/integrity/' '/test/credentials/' '/test/architecture/'
  '/test/e2e/(control-channel|enrollment|placement-channel)\.test\.ts$' '/test/mud/mud-' '/test/deploy/(daemon-config|grafana-dashboard|prometheus-rules)\.test\.ts$')
npx tsc --noEmit -p tsconfig.json
# Both phases run whatever the first gives, so one run reports every failure.
status=0
npx jest --ci --forceExit --maxWorkers=2 --passWithNoTests --testPathPatterns "${NO_KERNEL[@]/#/$PWD}" || status=$?
npx jest --ci --forceExit --runInBand --passWithNoTests --testPathIgnorePatterns '/node_modules/' "${NO_KERNEL[@]/#/$PWD}" || status=$?
exit "$status"
