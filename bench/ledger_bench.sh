#!/usr/bin/env bash
# Spend views at scale (migration 0005): seeds a ledger of N rows over several months and teams,
# then times the dashboard queries against the rollup views, the same questions asked of the raw
# partitioned ledger (what plain views would do), the ledger drill-downs behind each index, and
# the write path (worker-shaped 1,000-row statements) at schema version 4 and 5.
#
#   bench/ledger_bench.sh [--rows N] [--months M] [--teams T] [--runs R] [--writes S] [--keep]
#
# Defaults: 5,000,000 requests (2% of them billed twice, so ~5.1M ledger rows) over the 6 full
# UTC months before the current one, 20 teams, 12 deployments on 3 tiers; each query runs R = 7
# times (the median and the best are printed); S = 200 write statements per schema.
# SWITCHYARD_BIN (default build/switchyard): when executable, `switchyard spend` is timed as well.
# Needs psql and the local Postgres of scripts/pg.sh (started if it is not running). Uses the
# databases sy_ledger_bench and sy_ledger_bench_{v4,v5w,v5n}, dropped at the end
# unless --keep. Full EXPLAIN (ANALYZE, BUFFERS) output goes to $LOG (printed at the end).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROWS=5000000
MONTHS=6
TEAMS=20
RUNS=7
WRITES=200
KEEP=0
SY="${SWITCHYARD_BIN:-$ROOT/build/switchyard}"  # timed too when it exists
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --months) MONTHS="$2"; shift 2 ;;
    --teams) TEAMS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --writes) WRITES="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "ledger_bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

"$ROOT/scripts/pg.sh" start
BASE_URL="$("$ROOT/scripts/pg.sh" url)"
SERVER="${BASE_URL%/*}"
DB="$SERVER/sy_ledger_bench"
LOG="${LEDGER_BENCH_LOG:-/tmp/ledger_bench.$$.log}"
: >"$LOG"

q() { psql "$1" -X -q -v ON_ERROR_STOP=1 -tA "${@:2}"; }
now_ms() { date +%s%3N; }

# fresh_db NAME VERSION: a new database with migrations 0001..VERSION applied, each in one
# transaction as `switchyard migrate` does.
fresh_db() {
  q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
  for f in "$ROOT"/migrations/*.sql; do
    v=$(basename "$f"); v=$((10#${v%%_*}))
    [ "$v" -le "$2" ] && q "$SERVER/$1" -1 -f "$f" >/dev/null
  done
  return 0
}

# The deployments of the seeded ledger (prices per token in USD) and the seed statement for the
# requests numbered $1..$2 of $3, spread evenly over [$4, $5). Request g belongs to team g mod T,
# runs on deployment (g * 7) mod 12; every 50th request is billed twice (attempt 2 on the next
# deployment), so served and distinct request counts differ where they should.
DEPLOYMENTS="(VALUES
  (0, 'eco-mini-a', 'gpt-4o-mini', 'openai', 'economy', 0.00000015, 0.0000006, 0.000000075),
  (1, 'eco-mini-b', 'gpt-4o-mini', 'azure', 'economy', 0.00000015, 0.0000006, 0.000000075),
  (2, 'eco-41mini', 'gpt-4.1-mini', 'openai', 'economy', 0.0000004, 0.0000016, 0.0000001),
  (3, 'eco-haiku', 'claude-3-5-haiku', 'anthropic', 'economy', 0.0000008, 0.000004, 0.00000008),
  (4, 'wh-4o-a', 'gpt-4o', 'openai', 'workhorse', 0.0000025, 0.00001, 0.00000125),
  (5, 'wh-4o-b', 'gpt-4o', 'azure', 'workhorse', 0.0000025, 0.00001, 0.00000125),
  (6, 'wh-41', 'gpt-4.1', 'openai', 'workhorse', 0.000002, 0.000008, 0.0000005),
  (7, 'wh-sonnet', 'claude-sonnet-4', 'anthropic', 'workhorse', 0.000003, 0.000015, 0.0000003),
  (8, 'fr-o3', 'o3', 'openai', 'frontier', 0.000002, 0.000008, 0.0000005),
  (9, 'fr-opus', 'claude-opus-4', 'anthropic', 'frontier', 0.000015, 0.000075, 0.0000015),
  (10, 'fr-o1', 'o1', 'openai', 'frontier', 0.000015, 0.00006, 0.0000075),
  (11, 'fr-gpt45', 'gpt-4.5', 'openai', 'frontier', 0.000075, 0.00015, 0.0000375))
  AS d(i, deployment, model, provider, tier, p_in, p_out, p_cached)"

seed_sql() {
  cat <<SQL
WITH g AS (
  SELECT g,
         'team-' || lpad((g % $TEAMS)::text, 2, '0') AS team,
         '$4'::timestamptz + (g - 1) * (('$5'::timestamptz - '$4'::timestamptz) / $3) AS ts,
         300 + (g * 37) % 3000 AS input,
         50 + (g * 53) % 800 AS output,
         (g * 7) % 12 AS dep
  FROM generate_series($1::bigint, $2::bigint) g
),
calls AS (
  SELECT g.g, g.team, g.ts, a.attempt, d.*, g.input,
         CASE WHEN g.g % 4 = 0 THEN g.input / 2 ELSE 0 END AS cached,
         g.output,
         CASE WHEN d.tier = 'frontier' AND g.g % 3 = 0 THEN g.output / 4 ELSE 0 END AS reasoning
  FROM g
  CROSS JOIN LATERAL generate_series(1, CASE WHEN g.g % 50 = 0 THEN 2 ELSE 1 END) AS a(attempt)
  JOIN $DEPLOYMENTS ON d.i = (g.dep + a.attempt - 1) % 12
),
costed AS (
  SELECT c.*, (c.input - c.cached) * c.p_in + c.cached * c.p_cached + c.output * c.p_out AS cost
  FROM calls c
),
priced AS (  -- with the request's totals over its calls, for its requests row
  SELECT c.*, sum(c.input) OVER w AS r_input, sum(c.output) OVER w AS r_output,
         sum(c.cached) OVER w AS r_cached, sum(c.reasoning) OVER w AS r_reasoning,
         sum(c.cost) OVER w AS r_cost, max(c.attempt) OVER w AS r_attempts
  FROM costed c
  WINDOW w AS (PARTITION BY c.g)
),
req AS (
  INSERT INTO requests (request_id, team, status, tier, deployment, model, provider, input_tokens,
                        output_tokens, cached_input_tokens, reasoning_tokens, cost_usd, attempts,
                        result, finished_at)
  SELECT 'r' || p.g, p.team, 'ok', p.tier, p.deployment, p.model, p.provider, p.r_input,
         p.r_output, p.r_cached, p.r_reasoning, p.r_cost, p.r_attempts, '{}'::json, p.ts
  FROM priced p
  WHERE p.attempt = p.r_attempts
)
INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier, provider,
                         input_tokens, output_tokens, cached_input_tokens, reasoning_tokens,
                         cost_usd, created_at)
SELECT 'r' || p.g, p.attempt, p.team, p.deployment, p.model, p.tier, p.provider, p.input,
       p.output, p.cached, p.reasoning, p.cost, p.ts
FROM priced p;
SQL
}

BENCH_FN="
CREATE OR REPLACE FUNCTION bench_ms(sql text, runs int) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE t timestamptz; times numeric[] := '{}';
BEGIN
  EXECUTE sql;  -- warm the cache; not counted
  FOR i IN 1..runs LOOP
    t := clock_timestamp();
    EXECUTE sql;
    times := times || (extract(epoch FROM clock_timestamp() - t) * 1000)::numeric;
  END LOOP;
  RETURN (SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY x), 2) || ' ms (best '
                 || round(min(x), 2) || ')' FROM unnest(times) x);
END \$\$;"

# timed LABEL SQL: the median and best of $RUNS runs, the plan's shape, buffers and partitions.
timed() {
  local label="$1" sql="$2" plan summary
  plan=$(q "$DB" -c "EXPLAIN (ANALYZE, BUFFERS) $sql")
  printf '\n### %s\n%s\n%s\n' "$label" "$sql" "$plan" >>"$LOG"
  # Top node; every scan as "kind relation" with how many relations it covered; top buffers.
  summary=$(awk '
    NR == 1 { top = $0; sub(/^ +/, "", top); sub(/  \(cost.*/, "", top) }
    /Buffers:/ && buf == "" { buf = $0; sub(/^ *Buffers: /, "", buf) }
    / Scan / && / on / {
      n = $0; sub(/^[ ->]*/, "", n); sub(/  \(cost.*/, "", n)
      kind = n; sub(/ on .*/, "", kind); rel = n; sub(/.* on /, "", rel); sub(/ .*/, "", rel)
      sub(/_p[0-9][0-9][0-9][0-9]_[0-9][0-9]$|_default$/, "_*", rel)
      key = kind " " rel; if (!(key in count)) order[++k] = key; count[key]++
    }
    /Execution Time/ { exec = $3 }
    END {
      for (i = 1; i <= k; i++) scans = scans (i > 1 ? ", " : "") order[i] (count[order[i]] > 1 ? " x" count[order[i]] : "")
      printf "%s; %s ms; %s; buffers %s", top, exec, scans, buf
    }' <<<"$plan")
  printf '| %s | %s | %s |\n' "$label" \
    "$(q "$DB" -c "SELECT bench_ms(\$q\$$sql\$q\$, $RUNS)")" "$summary"
}

echo "machine: $(nproc) cpus, $(uname -srm); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "postgres: $(q "$SERVER/postgres" -c 'SHOW server_version'), shared_buffers $(q "$SERVER/postgres" -c 'SHOW shared_buffers')"

# ---- seed -----------------------------------------------------------------------------------
fresh_db sy_ledger_bench 5
FROM_TS=$(q "$DB" -c "SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '$MONTHS months')::date")
TO_TS=$(q "$DB" -c "SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date")
q "$DB" -c "SELECT switchyard_ensure_ledger_partitions(3, $MONTHS)" >/dev/null
CHUNK=250000
t0=$(now_ms)
for ((lo = 1; lo <= ROWS; lo += CHUNK)); do
  hi=$((lo + CHUNK - 1)); [ "$hi" -gt "$ROWS" ] && hi=$ROWS
  seed_sql "$lo" "$hi" "$ROWS" "$FROM_TS 00:00:00+00" "$TO_TS 00:00:00+00" | q "$DB" >/dev/null
  printf '\rseeded %d of %d requests' "$hi" "$ROWS" >&2
done
printf '\n' >&2
seed_s=$(( ($(now_ms) - t0) / 1000 ))
# Budgets: every team, every month, 1,000 USD; spent as the ledger says, some reserved.
q "$DB" >/dev/null <<SQL
INSERT INTO budget_periods (team, period_kind, period_start, budget_usd, spent_usd, reserved_usd)
SELECT team, 'month', month, 1000, cost_usd, 0.5 FROM team_spend_monthly;
INSERT INTO reference_prices (name, input_cost_per_token, output_cost_per_token,
                              cached_input_cost_per_token)
VALUES ('gpt-4o', 0.0000025, 0.00001, 0.00000125);
VACUUM ANALYZE;
$BENCH_FN
-- The alternative measured against: views over the raw ledger, as migration 0001 had them.
CREATE VIEW raw_team_spend_daily AS
SELECT team, (created_at AT TIME ZONE 'UTC')::date AS day, count(DISTINCT request_id) AS requests,
       sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
       sum(cost_usd) AS cost_usd
FROM cost_ledger GROUP BY 1, 2;
SQL
LEDGER_ROWS=$(q "$DB" -c "SELECT count(*) FROM cost_ledger")
ROLLUP_ROWS=$(q "$DB" -c "SELECT count(*) FROM ledger_daily")
SIZES=$(q "$DB" -c "SELECT 'ledger ' || pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'cost_ledger'::regclass" \
                -c "SELECT 'ledger_daily ' || pg_size_pretty(pg_total_relation_size('ledger_daily'))" | paste -sd, -)
MONTH=$(q "$DB" -c "SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month')::date")
NEXT=$(q "$DB" -c "SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date")
DAY=$(q "$DB" -c "SELECT '$MONTH'::date + 14")
TEAM=team-07
echo
echo "seeded $ROWS requests / $LEDGER_ROWS ledger rows from $FROM_TS to $TO_TS (UTC) in ${seed_s}s: $ROLLUP_ROWS ledger_daily rows; sizes: $SIZES"
echo "team $TEAM, month $MONTH, day $DAY; each query: median of $RUNS runs after one warm-up (best in brackets)"

# ---- reads ----------------------------------------------------------------------------------
echo
echo "| query | time | plan: top node, execution time, relations scanned, buffers |"
echo "|---|---|---|"
R="day >= '$MONTH' AND day < '$NEXT'"
C="created_at >= '$MONTH 00:00:00+00' AND created_at < '$NEXT 00:00:00+00'"
timed "team_spend_daily, one team, one month" "SELECT * FROM team_spend_daily WHERE team = '$TEAM' AND $R"
timed "team_spend_monthly, one team, one month" "SELECT * FROM team_spend_monthly WHERE team = '$TEAM' AND month = '$MONTH'"
timed "team_spend_monthly, every team, every month" "SELECT * FROM team_spend_monthly"
timed "team_budget_status, one team" "SELECT * FROM team_budget_status WHERE team = '$TEAM'"
timed "team_budget_status, every row" "SELECT * FROM team_budget_status"
timed "tier_mix_daily, one month" "SELECT * FROM tier_mix_daily WHERE $R"
timed "model_spend_daily, one month" "SELECT * FROM model_spend_daily WHERE $R"
timed "team_savings_daily, one month" "SELECT * FROM team_savings_daily WHERE $R"
# The real command, end to end (process start, connection, schema check, query, output).
if [ -x "$SY" ]; then
  for by in team deployment; do
    ms=$(for _ in $(seq "$RUNS"); do
      t0=$(now_ms); "$SY" spend --url "$DB" --month "${MONTH%-01}" --by "$by" >/dev/null; echo $(($(now_ms) - t0))
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%d ms (best %d)", a[int((NR + 1) / 2)], a[1] }')
    printf '| switchyard spend --month %s --by %s | %s | the whole process, as a user runs it |\n' "${MONTH%-01}" "$by" "$ms"
  done
fi
timed "raw: 0001-style view, one team, one month" "SELECT * FROM raw_team_spend_daily WHERE team = '$TEAM' AND $R"
timed "raw: one team, one month, created_at range (pruned)" "SELECT (created_at AT TIME ZONE 'UTC')::date, count(DISTINCT request_id), sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM cost_ledger WHERE team = '$TEAM' AND $C GROUP BY 1"
timed "raw: tier mix, one month (pruned)" "SELECT (created_at AT TIME ZONE 'UTC')::date, tier, count(DISTINCT request_id), sum(cost_usd) FROM cost_ledger WHERE $C GROUP BY 1, 2"
timed "raw: model spend, one month (pruned)" "SELECT (created_at AT TIME ZONE 'UTC')::date, deployment, model, provider, tier, count(DISTINCT request_id), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cache_creation_input_tokens), sum(reasoning_tokens), sum(cost_usd) FROM cost_ledger WHERE $C GROUP BY 1, 2, 3, 4, 5"
D="created_at >= '$DAY 00:00:00+00' AND created_at < '$DAY 00:00:00+00'::timestamptz + interval '1 day'"
H="created_at >= '$DAY 12:00:00+00' AND created_at < '$DAY 13:00:00+00'"
timed "drill-down: one team's calls of one day (team, created_at)" "SELECT * FROM cost_ledger WHERE team = '$TEAM' AND $D"
timed "drill-down: every call of one hour (BRIN created_at)" "SELECT * FROM cost_ledger WHERE $H"
timed "drill-down: one deployment's calls of one day (no index of its own)" "SELECT * FROM cost_ledger WHERE deployment = 'wh-4o-a' AND $D"
timed "rebuild one day of ledger_daily" "SELECT switchyard_rebuild_ledger_daily('$DAY', '$DAY'::date + 1)"
# The same drill-downs with the index dropped inside a transaction that rolls back.
without_index() {
  local label="$1" index="$2" sql="$3" ms
  ms=$(q "$DB" <<SQL | tail -n 1
BEGIN;
DROP INDEX $index;
SELECT bench_ms(\$q\$$sql\$q\$, $RUNS);
ROLLBACK;
SQL
)
  printf '| %s | %s | (index %s dropped in a rolled-back transaction) |\n' "$label" "$ms" "$index"
}
without_index "drill-down: one team's calls of one day, without (team, created_at)" cost_ledger_team_created_idx "SELECT * FROM cost_ledger WHERE team = '$TEAM' AND $D"
without_index "drill-down: every call of one hour, without BRIN" cost_ledger_created_brin "SELECT * FROM cost_ledger WHERE $H"

# ---- writes ---------------------------------------------------------------------------------
# Worker-shaped statements: 1,000 requests rows and their ledger rows in one statement, each
# statement its own transaction (commit included), on fresh databases. The schemas take turns in
# rounds of 10 statements, so a burst of load on the machine hits each of them alike; the figure is
# the median statement.
write_sql() {  # PREFIX COUNT
  local n
  echo '\timing on'
  for ((n = 0; n < $2; ++n)); do
    cat <<SQL
WITH rows AS (
  SELECT '$1-$n-' || g AS request_id, 'team-' || lpad((g % $TEAMS)::text, 2, '0') AS team,
         (g * 7) % 12 AS dep, 300 + g AS input, 100 + g % 50 AS output
  FROM generate_series(1, 1000) g
),
ins AS (
  INSERT INTO requests (request_id, team, status, tier, deployment, model, provider, input_tokens,
                        output_tokens, cost_usd, attempts, result)
  SELECT request_id, team, 'ok', 'economy', 'dep-' || dep, 'model-' || dep, 'openai', input,
         output, 0.001, 1, '{"status":"ok"}'::json FROM rows
  ON CONFLICT (request_id) DO NOTHING
  RETURNING request_id
)
INSERT INTO cost_ledger (request_id, attempt, team, deployment, model, tier, provider,
                         input_tokens, output_tokens, cost_usd)
SELECT rows.request_id, 1, rows.team, 'dep-' || dep, 'model-' || dep, 'economy', 'openai', input,
       output, 0.001
FROM rows JOIN ins ON ins.request_id = rows.request_id;
SQL
  done
}
TIMES=$(mktemp -d)
trap 'rm -rf "$TIMES"' EXIT
fresh_db sy_ledger_bench_v4 4
fresh_db sy_ledger_bench_v5w 5
fresh_db sy_ledger_bench_v5n 5
q "$SERVER/sy_ledger_bench_v5n" -c "ALTER TABLE cost_ledger DISABLE TRIGGER cost_ledger_daily_rollup"
for ((round = 0; round * 10 < WRITES; ++round)); do
  for db in v4 v5w v5n; do
    write_sql "r$round" 10 | psql "$SERVER/sy_ledger_bench_$db" -X -q -v ON_ERROR_STOP=1 |
      sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' >>"$TIMES/$db"
  done
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { printf "%.2f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
echo "| write: 1,000 requests + 1,000 ledger rows in one statement, one transaction; median of $WRITES | ms per statement |"
echo "|---|---|"
echo "| schema 4 (unpartitioned ledger, no rollup) | $(median "$TIMES/v4") |"
echo "| schema 5 (partitioned ledger, FK index on requests, rollup trigger) | $(median "$TIMES/v5w") |"
echo "| schema 5 with the rollup trigger disabled | $(median "$TIMES/v5n") |"

if [ "$KEEP" = 0 ]; then
  q "$SERVER/postgres" -c "DROP DATABASE sy_ledger_bench WITH (FORCE)" \
    -c "DROP DATABASE sy_ledger_bench_v4 WITH (FORCE)" -c "DROP DATABASE sy_ledger_bench_v5w WITH (FORCE)" \
    -c "DROP DATABASE sy_ledger_bench_v5n WITH (FORCE)"
fi
echo
echo "plans: $LOG"
