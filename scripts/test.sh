#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh "$@"
scripts/build.sh
# As root, some tests run the built programs as `nobody` (allow lists, audit, the benchmark smoke):
# every directory above the tree must let others pass. A checkout under `mktemp -d` (mode 0700)
# does not: give those directories o+x (traverse only, nothing listed or read), and say so.
if [ "$(id -u)" -eq 0 ]; then
  dir=$(pwd -P)
  while [ "$dir" != / ]; do
    if [ "$(( 0$(stat -c %a "$dir") & 01 ))" -eq 0 ]; then
      echo "test.sh: $dir: chmod o+x, so that tests running as nobody reach the build" >&2
      chmod o+x "$dir"
    fi
    dir=$(dirname "$dir")
  done
fi
# -j4 on 2 cores: the long end-to-end tests mostly wait on real time (PAT rotations, backoff).
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"${CTEST_JOBS:-4}" --timeout 300
