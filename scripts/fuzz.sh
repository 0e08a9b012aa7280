#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang and runs each for a bounded time, starting
# from its committed corpus (fuzz/corpus/<target>). Exits non-zero when a target finds a crash,
# a sanitizer report or a broken promise; the input is left in build-fuzz/crash-*.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# New inputs found go to build-fuzz/corpus-<target>; to keep the interesting ones:
#   build-fuzz/fuzz_<target> -merge=1 fuzz/corpus/<target> build-fuzz/corpus-<target>
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
command -v clang++-14 >/dev/null || { echo "fuzz: clang++-14 is missing: run scripts/install-deps.sh --tests" >&2; exit 1; }
cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
cmake --build build-fuzz -j "$(nproc)"
for target in request_decoder openai_response anthropic_response trace_line; do
  mkdir -p "build-fuzz/corpus-$target"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s from $(ls "fuzz/corpus/$target" | wc -l) corpus inputs"
  # -max_len: the corpus holds a few large inputs (deep nesting); mutations stay below 64 KiB.
  (cd build-fuzz && "./fuzz_$target" "corpus-$target" "../fuzz/corpus/$target" \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 2>&1 | grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY|runtime error|Test unit written|deadly" ) || true
  if ls build-fuzz/crash-* build-fuzz/timeout-* build-fuzz/oom-* >/dev/null 2>&1; then
    echo "fuzz: $target failed; the input is in build-fuzz/" >&2
    exit 1
  fi
done
