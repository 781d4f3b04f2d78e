#!/usr/bin/env bash
# The quality gates .ci/run runs after the README's test command (scripts/test.sh):
#   1. one clang-14 build with ASan + UBSan (-O1) and libFuzzer coverage into build-sanitize/:
#      every unit and end-to-end test runs under the sanitizers (zero findings: halt on the first);
#   2. the libFuzzer targets of tests/fuzz from that build: a smoke run (~60 s total) that also
#      replays every checked-in corpus file (regressions included);
#   3. clang-tidy (.clang-tidy) on daemon/, common/ and client/, via build-sanitize's
#      compile_commands.json.
#   4. ThreadSanitizer over the one multi-threaded part (the IdentityResolver's name-service workers
#      and their queue; daemon/server/identity_resolver.*): its unit tests, built alone (~20 s) and
#      repeated 20 times, halting on the first report.
# One sanitizer build serves the first three, to keep CI well under 30 minutes on 2 cores. The
# event loop is single-threaded (one io_context). Each stage's time is printed.
# Usage: scripts/ci-gates.sh [sanitize|fuzz|tidy|tsan]...   (default: all four, in that order)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SANITIZE_BUILD_DIR:-build-sanitize}
jobs=${JOBS:-2}
stages=("$@")
((${#stages[@]})) || stages=(sanitize fuzz tidy tsan)

stage_start=0
begin() { stage_start=$SECONDS; echo "=== ci-gates: $1" >&2; }
end() { echo "=== ci-gates: $1 took $((SECONDS - stage_start)) s" >&2; }

configure_and_build() {
  begin "sanitizer build (clang-14, address+undefined, fuzzer-no-link) into $build"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DDBXCRED_SANITIZE=address,undefined -DDBXCRED_FUZZ=ON \
    -DDBXCRED_WERROR=ON \
    >/dev/null
  cmake --build "$build" -j"$jobs"
  end "sanitizer build"
}

for stage in "${stages[@]}"; do
  case "$stage" in
    sanitize)
      configure_and_build
      begin "unit + end-to-end tests under ASan/UBSan"
      # halt_on_error: the first finding fails the test; detect_leaks: leaks are findings too.
      ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
      DBXCRED_E2E_FAST_MS=${DBXCRED_E2E_FAST_MS:-100} \
        ctest --test-dir "$build" --output-on-failure -j"${CTEST_JOBS:-4}" --timeout 600
      end "sanitized tests"
      ;;
    fuzz)
      [ -d "$build/tests/fuzz" ] || configure_and_build
      begin "fuzz smoke (${FUZZ_SECONDS:-8} s per target)"
      FUZZ_BUILD_DIR="$build" scripts/fuzz.sh "${FUZZ_SECONDS:-8}"
      end "fuzz smoke"
      ;;
    tidy)
      [ -f "$build/compile_commands.json" ] || configure_and_build
      begin "clang-tidy (daemon/ common/ client/)"
      run-clang-tidy-14 -p "$build" -j "$jobs" -quiet \
        "$PWD/(daemon|common|client)/.*\\.cpp$" >"$build/clang-tidy.log" 2>&1 || true
      if grep -E "(warning|error):" "$build/clang-tidy.log" | grep -v "^[0-9]* warnings generated" \
          >/dev/null; then
        grep -E -A3 "(warning|error):" "$build/clang-tidy.log" | head -100 >&2
        echo "ci-gates: clang-tidy found problems (full log: $build/clang-tidy.log)" >&2
        exit 1
      fi
      end "clang-tidy"
      ;;
    tsan)
      begin "ThreadSanitizer: the identity resolver's tests (clang-14, 20 repetitions)"
      mkdir -p "$build"
      clang++-14 -std=c++20 -fsanitize=thread -g -O1 -I"$PWD" \
        tests/daemon/identity_resolver_test.cpp tests/daemon/name_cache_test.cpp \
        daemon/server/identity_resolver.cpp daemon/server/name_service.cpp \
        daemon/server/peer.cpp daemon/server/peer_process.cpp \
        -lgtest -lgtest_main -lpthread -o "$build/resolver-tsan"
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" "$build/resolver-tsan" \
        --gtest_repeat=20 --gtest_brief=1 >"$build/resolver-tsan.log" 2>&1 ||
        { tail -n 60 "$build/resolver-tsan.log" >&2; echo "ci-gates: TSan found a problem" >&2; exit 1; }
      end "ThreadSanitizer"
      ;;
    *) echo "ci-gates: unknown stage $stage (sanitize|fuzz|tidy|tsan)" >&2; exit 2 ;;
  esac
done
