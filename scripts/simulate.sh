#!/usr/bin/env bash
# Replays the reference trace shapes (generated with fixed seeds: deterministic) through
# bench/simulate/config.yaml with today's greedy background policy and with the planner, and
# prints cost against the offline bound, SLO and deadline misses side by side.
#   scripts/simulate.sh [BUILD_DIR]     (default: build)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/build}/switchyard"
CONFIG="$ROOT/bench/simulate/config.yaml"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
printf '| trace | policy | cost | offline bound | cost / bound | interactive SLO misses | deadline misses | 429s |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for shape in bursts steady no-deadline; do
  "$BIN" simulate --generate "$shape" --minutes 10 --seed 7 > "$WORK/$shape.jsonl"
  for policy in greedy planner; do
    flag=""; [ "$policy" = planner ] && flag="--planner"
    out="$("$BIN" simulate --config "$CONFIG" --trace "$WORK/$shape.jsonl" --seed 7 $flag)"
    cost="$(sed -n 's/^cost: //p' <<<"$out")"
    bound="$(sed -n 's/^offline bound: \([^ ]*\) (cost \/ bound \([^)]*\)).*/\1 \2/p' <<<"$out")"
    slo="$(sed -n 's/^interactive SLO misses: //p' <<<"$out")"
    dl="$(sed -n 's/^deadline misses: //p' <<<"$out")"
    r429="$(sed -n 's/^429s from the simulated providers: //p' <<<"$out")"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$shape" "$policy" "$cost" \
      "${bound%% *}" "${bound##* }" "$slo" "$dl" "$r429"
  done
done
