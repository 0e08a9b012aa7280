#!/usr/bin/env bash
# End-to-end benchmark: builds Release (build-bench/) if needed, starts the local Postgres
# (scripts/pg.sh) and runs bench/e2e_bench.cpp, which prints the figures as a table.
#   scripts/bench.sh                      scenarios 1-4 (~1.5 minutes on 2 cores)
#   scripts/bench.sh --scenarios 5        the mixed workload (scheduler), opt-in (~1.5 minutes)
#   scripts/bench.sh --scenarios 1,4      a subset; any other switchyard_e2e_bench flag passes through
# SWITCHYARD_BENCH_BUILD chooses the build directory (default build-bench).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${SWITCHYARD_BENCH_BUILD:-$ROOT/build-bench}"

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_TESTS=OFF >/dev/null
fi
# Two shared cores: never more than -j2.
cmake --build "$BUILD" -j2 --target switchyard switchyard_e2e_bench switchyard_policy_bench

"$ROOT/scripts/pg.sh" start
PORT="${SWITCHYARD_PG_PORT:-55432}"
DBUSER="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
PG_SERVER="postgresql://$DBUSER@127.0.0.1:$PORT/postgres"

echo "machine: $(nproc) cpus, $(uname -srm); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
TABLE="$(mktemp)"
trap 'rm -f "$TABLE"' EXIT
"$BUILD/bench/switchyard_e2e_bench" --switchyard "$BUILD/switchyard" --pg "$PG_SERVER" --markdown "$TABLE" "$@"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$TABLE"
