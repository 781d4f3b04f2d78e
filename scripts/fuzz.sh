#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 8: ~60 s for the 7 targets, the CI smoke),
# starting from the checked-in seeds in tests/fuzz/corpus/<target>/. New inputs go to a scratch
# corpus (not the checked-in one); a crash leaves crash-* in ${FUZZ_ARTIFACTS:-build-fuzz/artifacts}
# and fails the script. The targets must be built (DBXCRED_FUZZ=ON, clang):
#   cmake -S . -B build-sanitize -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DDBXCRED_FUZZ=ON \
#         -DDBXCRED_SANITIZE=address,undefined && cmake --build build-sanitize --target fuzzers
# Longer run (e.g. overnight, 2 jobs per target): FUZZ_JOBS=2 scripts/fuzz.sh 3600
# Usage: FUZZ_BUILD_DIR=build-sanitize scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-8}
build=${FUZZ_BUILD_DIR:-build-sanitize}
artifacts=${FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
scratch=${FUZZ_SCRATCH:-$build/fuzz-corpus}
jobs=${FUZZ_JOBS:-1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$artifacts" "$scratch"
# Absolute paths: each fuzzer runs inside $artifacts, where libFuzzer's -jobs mode writes its
# fuzz-N.log files (not into the source tree).
artifacts=$(cd "$artifacts" && pwd) scratch=$(cd "$scratch" && pwd) build=$(cd "$build" && pwd)
status=0
for seeds in tests/fuzz/corpus/*/; do
  target=$(basename "$seeds")
  bin="$build/tests/fuzz/$target"
  [ -x "$bin" ] || { echo "fuzz.sh: $bin not built" >&2; exit 2; }
  mkdir -p "$scratch/$target"
  echo "== $target: ${seconds}s" >&2
  # -max_len 64 KiB: bigger than any listener or parser limit worth exploring quickly.
  if ! (cd "$artifacts" && exec "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -jobs="$jobs" -workers="$jobs" -print_final_stats=1 \
        -artifact_prefix="$artifacts/$target-" "$scratch/$target" "$root/$seeds") \
        > "$artifacts/$target.log" 2>&1; then
    echo "fuzz.sh: $target FAILED; see $artifacts/$target.log and $artifacts/$target-*" >&2
    tail -40 "$artifacts/$target.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$artifacts/$target.log" | tail -2 >&2 || true
  fi
done
exit $status
