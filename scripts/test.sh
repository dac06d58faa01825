#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs the
# dependencies, then builds and runs CTest in five configurations:
#   1. build/         RelWithDebInfo, -Werror: unit, integration and process tests
#   2. build-release/ plain Release (-O3, what a packager builds), -Werror: the
#                     unit tests, so that an optimiser-only warning or a
#                     behaviour that differs at -O3 cannot land
#   3. build-asan/    the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#                     (not label soak: RSS under ASan says nothing about leaks)
#   4. build-tsan/    ThreadSanitizer: only the tests labelled tsan, those that
#                     run the media and control threads at once (the unit
#                     binaries on a real MediaLoop or server thread, and the
#                     real jvb-audio under app.process, xmpp.colibri2 and
#                     media.bridge_channel); any report fails the stage
#   5. build-fuzz/    clang + libFuzzer: every parser's fuzzer over its committed
#                     corpus plus JVB_FUZZ_SECONDS (default 20) of fresh inputs
# JVB_TEST_QUICK=1 runs only the first configuration.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

"$root/scripts/install-deps.sh"

step() { printf '\n=== %s ===\n' "$*"; }

step "build (RelWithDebInfo)"
"$root/scripts/build.sh" "$root/build"
step "ctest (RelWithDebInfo)"
ctest --test-dir "$root/build" --output-on-failure -j"$jobs" --timeout 600

if [ "${JVB_TEST_QUICK:-0}" = "1" ]; then
  exit 0
fi

step "build (Release)"
"$root/scripts/build.sh" "$root/build-release" -DCMAKE_BUILD_TYPE=Release
step "ctest (Release: unit tests)"
ctest --test-dir "$root/build-release" --output-on-failure -j"$jobs" --timeout 600 \
  -LE 'process|prosody|media|deploy|load|static|fuzz'

step "build (ASan + UBSan)"
"$root/scripts/build.sh" "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DJVB_SANITIZE=ON \
  -DJVB_BUILD_BENCH=OFF
step "ctest (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j"$jobs" --timeout 600 -LE 'deploy|soak'

step "build (ThreadSanitizer: the libraries, jvb-audio and the tsan tests)"
# Not scripts/build.sh: only the target tsan_tests (tests/CMakeLists.txt), to
# keep the stage within CI's time.
tsan="$root/build-tsan"
cmake -S "$root" -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DJVB_TSAN=ON \
  -DJVB_BUILD_BENCH=OFF >/dev/null
cmake --build "$tsan" -j"$jobs" --target tsan_tests
step "ctest (ThreadSanitizer)"
# The process tests' jvb-audio writes its reports to tsan-reports/ (log_path,
# tests/CMakeLists.txt); suppressions: tests/tsan.supp (third-party only).
rm -rf "$tsan/tsan-reports"
mkdir -p "$tsan/tsan-reports"
tsan_rc=0
ctest --test-dir "$tsan" --output-on-failure -j"$jobs" --timeout 600 -L tsan || tsan_rc=$?
if compgen -G "$tsan/tsan-reports/tsan.*" >/dev/null; then
  cat "$tsan"/tsan-reports/tsan.*
  echo "ThreadSanitizer reported the above (build-tsan/tsan-reports/)" >&2
  tsan_rc=1
fi
[ "$tsan_rc" = 0 ]

step "build (libFuzzer, clang)"
CC=clang CXX=clang++ "$root/scripts/build.sh" "$root/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DJVB_FUZZ=ON -DJVB_SANITIZE=ON -DJVB_BUILD_BENCH=OFF \
  -DJVB_FUZZ_SECONDS="${JVB_FUZZ_SECONDS:-20}"
step "ctest (fuzzers)"
ctest --test-dir "$root/build-fuzz" --output-on-failure -j"$jobs" --timeout 600 -L fuzz
step "all test configurations passed"
