#!/usr/bin/env bash
# Replays the committed simulate scenarios (bench/simulate/scenarios.tsv: a trace, a config and
# options each) with the greedy background policy and with the planner, and prints cost against
# the offline bound, SLO and deadline misses side by side. Deterministic.
#   scripts/simulate.sh [BUILD_DIR]            (default: build) the table; exits 1 when a bound
#                                              differs from the one committed in scenarios.tsv
#   scripts/simulate.sh --regenerate [BUILD_DIR]
#                                              rewrites bench/simulate/traces from the generator
#                                              (seed 7, 10 minutes; short: 4) and the bounds in
#                                              scenarios.tsv
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REGENERATE=0
if [ "${1:-}" = --regenerate ]; then REGENERATE=1; shift; fi
BIN="${1:-$ROOT/build}/switchyard"
DIR="$ROOT/bench/simulate"
MANIFEST="$DIR/scenarios.tsv"
if [ "$REGENERATE" = 1 ]; then
  mkdir -p "$DIR/traces"
  for shape in bursts steady no-deadline tiers; do
    "$BIN" simulate --generate "$shape" --minutes 10 --seed 7 > "$DIR/traces/$shape.jsonl"
  done
  # The real-time bench replays this one (switchyard_e2e_bench --scenarios 6): 8 minutes.
  "$BIN" simulate --generate short --minutes 4 --seed 7 > "$DIR/traces/short.jsonl"
fi
field() { sed -n "s/^$1: //p" <<<"$2"; }
status=0
new_manifest="$(mktemp)"
trap 'rm -f "$new_manifest"' EXIT
printf '| scenario | policy | cost | offline bound | cost / bound | interactive SLO misses | interactive p99 | deadline misses | 429s |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
while IFS=$'\t' read -r name trace config options bound; do
  if [ -z "$name" ] || [ "${name:0:1}" = "#" ]; then
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$trace" "$config" "$options" "$bound" >> "$new_manifest"
    continue
  fi
  extra=()
  [ "$options" != "-" ] && read -r -a extra <<<"$options"
  computed=""
  for policy in greedy planner; do
    flag=()
    [ "$policy" = planner ] && flag=(--planner)
    out="$("$BIN" simulate --config "$DIR/$config" --trace "$DIR/$trace" --seed 7 \
      ${extra[@]+"${extra[@]}"} ${flag[@]+"${flag[@]}"})"
    b="$(field 'offline bound' "$out")"
    computed="${b%% *}"
    ratio="$(sed -n 's/.*cost \/ bound \([^)]*\)).*/\1/p' <<<"$b")"
    latency="$(field 'interactive latency' "$out")"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$policy" \
      "$(field cost "$out")" "$computed" "$ratio" "$(field 'interactive SLO misses' "$out")" \
      "${latency##*p99 }" "$(field 'deadline misses' "$out")" \
      "$(field '429s from the simulated providers' "$out")"
  done
  if [ "$REGENERATE" = 0 ] && [ "$computed" != "$bound" ]; then
    echo "simulate.sh: $name: the offline bound is $computed, scenarios.tsv says $bound" >&2
    status=1
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$trace" "$config" "$options" "$computed" >> "$new_manifest"
done < "$MANIFEST"
if [ "$REGENERATE" = 1 ]; then cp "$new_manifest" "$MANIFEST"; fi
exit "$status"
