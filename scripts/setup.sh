#!/usr/bin/env bash
# Everything a development or test machine needs, on a fresh Debian: what a
# gateway runs with (setup-runtime.sh), the build tools and the build
# (setup-build.sh), and the test tools (setup-test.sh). Safe to run again: each
# installs only what is missing. A gateway needs only setup-runtime.sh, or
# nothing at all with the Debian package (npm run package).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup-lib.sh
require_root

bash scripts/setup-runtime.sh
bash scripts/setup-test.sh
bash scripts/setup-build.sh
echo "setup: done"
