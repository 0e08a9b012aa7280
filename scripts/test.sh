#!/usr/bin/env bash
# Installs what the tests need, builds, starts a local Postgres and runs every test.
# Exits non-zero on any failure. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
BUILD_DIR="${BUILD_DIR:-build}" scripts/build.sh -DSWITCHYARD_TESTS=ON -DSWITCHYARD_BENCH=ON
scripts/pg.sh start
export SWITCHYARD_TEST_PG_URL="$(scripts/pg.sh url)"
# Unit tests run in parallel; integration tests are marked RUN_SERIAL (one Postgres, real workers).
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j "$(nproc)" --timeout 900)

# The parsers that read what producers and providers write, fuzzed for a bounded time from their
# committed corpus (fuzz/, clang's libFuzzer with ASan + UBSan).
scripts/fuzz.sh "${SWITCHYARD_FUZZ_SECONDS:-60}"

# The same tests again on an AddressSanitizer + UndefinedBehaviorSanitizer build, the worker binary
# that integration tests start included. SWITCHYARD_SANITIZE=0 skips this stage.
if [ "${SWITCHYARD_SANITIZE:-1}" != 0 ]; then
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DSWITCHYARD_SANITIZE=ON -DSWITCHYARD_BENCH=OFF
  # tests/lsan.supp lists the third-party leaks (libpqxx 6.4 on a lost connection) and why.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$PWD/../tests/lsan.supp" ctest --output-on-failure -j "$(nproc)" --timeout 900 -L unit)
  # A worker stopped by SIGKILL or past its drain deadline leaves work behind by design: no leak check.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure --timeout 1800 -L integration)
fi
