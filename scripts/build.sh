#!/usr/bin/env bash
# Configures and builds dbxcred into ${BUILD_DIR:-build} with warnings as errors (the test command's
# and CI's build; DBXCRED_WERROR=OFF relaxes it). TARGETS="a b" builds only those targets (default:
# all). Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} \
  -DDBXCRED_WERROR=${DBXCRED_WERROR:-ON} "$@" >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"${JOBS:-2}" "${targets[@]}"
