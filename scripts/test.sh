#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh "$@"
scripts/build.sh
# -j4 on 2 cores: the long end-to-end tests mostly wait on real time (PAT rotations, backoff).
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"${CTEST_JOBS:-4}" --timeout 300
