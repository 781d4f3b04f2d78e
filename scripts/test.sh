#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh "$@"
scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j2 --timeout 300
