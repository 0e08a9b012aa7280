#!/usr/bin/env bash
# Installs what the tests need, builds, starts a local Postgres and runs every test.
# Exits non-zero on any failure. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR="${BUILD_DIR:-build}" scripts/build.sh -DSWITCHYARD_TESTS=ON -DSWITCHYARD_BENCH=ON
scripts/pg.sh start
export SWITCHYARD_TEST_PG_URL="$(scripts/pg.sh url)"
cd "${BUILD_DIR:-build}"
# Unit tests run in parallel; integration tests are marked RUN_SERIAL (one Postgres, real workers).
ctest --output-on-failure -j "$(nproc)" --timeout 900
