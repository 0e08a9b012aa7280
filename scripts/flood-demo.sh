#!/usr/bin/env bash
# The scheduler as a new user meets it: a config with three tiers and five deployments (catalog
# prices, rpm limits), team budgets, a flood of background jobs and a trickle of interactive ones
# published with kcat (an external Kafka client), then what came back, from Postgres:
#   - interactive results: tier, deployment and queue wait (p50/p99) while the flood is queued;
#   - background results: deployment mix, cheapest first, and the most calls any deployment got
#     in any 60 s window against its rpm;
#   - spend per team against its budget, and how many requests ended budget_exceeded.
# Needs a build (scripts/build.sh or scripts/demo.sh first). FLOOD_JOBS, TRICKLE_JOBS override
# the sizes. Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUN="$ROOT/.run/flood"
SY="$ROOT/build/switchyard"
FLOOD="${FLOOD_JOBS:-3000}"
TRICKLE="${TRICKLE_JOBS:-60}"
[ -x "$SY" ] || { echo "flood-demo: $SY is missing: run scripts/build.sh first" >&2; exit 1; }
command -v kcat >/dev/null || { echo "flood-demo: kcat is missing: run scripts/install-deps.sh" >&2; exit 1; }
rm -rf "$RUN"
mkdir -p "$RUN"

. scripts/demo-lib.sh

step "starting Postgres, the embedded Kafka broker and the provider simulator"
scripts/pg.sh start
PG_ADMIN="$(scripts/pg.sh url | sed 's#/[^/]*$#/postgres#')"
DB="switchyard_flood"
psql "$PG_ADMIN" -qX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
PG_URL="${PG_ADMIN%/postgres}/$DB"
start_broker_and_sim switchyard.requests.interactive:2,switchyard.requests.background:8,switchyard.results:4,switchyard.dlq:1 \
  --latency-ms 30 --jitter-ms 20 --output-tokens 40

export FLOOD_DEMO_ANTHROPIC_KEY="sk-ant-flood-demo"
cat >"$RUN/config.yaml" <<YAML
kafka:
  group_id: switchyard-flood
  topics: {interactive: [switchyard.requests.interactive], background: [switchyard.requests.background]}
postgres: {url: "$PG_URL"}
tiers: [economy, workhorse, frontier]
routing:
  task_type_tiers: {classification: economy, extraction: economy, summarization: economy,
                    code: workhorse, reasoning: frontier}
  interactive_reserve: 0.2
admin: {listen: "off"}
deployments:
  - {name: nano, api_base: "http://127.0.0.1:$SIM_PORT/v1", model: gpt-4.1-nano, tier: economy, rpm: 600}
  - {name: mini, api_base: "http://127.0.0.1:$SIM_PORT/v1", model: gpt-4o-mini, tier: economy, rpm: 1200}
  - {name: gpt41, api_base: "http://127.0.0.1:$SIM_PORT/v1", model: gpt-4.1, tier: workhorse, rpm: 3000}
  - {name: sonnet, provider: anthropic, api_base: "http://127.0.0.1:$SIM_PORT/v1",
     api_key_env: FLOOD_DEMO_ANTHROPIC_KEY, model: claude-sonnet-4-20250514, tier: workhorse, rpm: 3000}
  - {name: o3, api_base: "http://127.0.0.1:$SIM_PORT/v1", model: o3, tier: frontier, rpm: 3000}
teams:
  - {name: search, budget_usd: 0.05, budget_policy: reject}
  - {name: ads, budget_usd: 5}
  - {name: support}
YAML
"$SY" check-config "$RUN/config.yaml"
"$SY" migrate --config "$RUN/config.yaml"

step "publishing $FLOOD background jobs with kcat (teams search/ads/support, mixed task types)"
tasks=(classification extraction summarization classification extraction code reasoning summarization)
teams=(ads support search)
for i in $(seq -w 1 "$FLOOD"); do
  n=$((10#$i))
  printf 'bg-%s\t{"request_id":"bg-%s","team":"%s","task_type":"%s","max_tokens":64,"messages":[{"role":"user","content":"job %s: summarise the attached notes about queue %s"}]}\n' \
    "$i" "$i" "${teams[$((n % 3))]}" "${tasks[$((n % 8))]}" "$i" "$((n % 17))"
done >"$RUN/background.jsonl"
kcat -P -b "$BOOTSTRAP" -t switchyard.requests.background -K $'\t' -l "$RUN/background.jsonl"

step "starting one worker, then a trickle of $TRICKLE interactive jobs (10 a second) with kcat"
"$SY" run --config "$RUN/config.yaml" --bootstrap "$BOOTSTRAP" >"$RUN/worker.log" 2>&1 &
WORKER=$!
pids+=($WORKER)
# The trickle starts once the worker has joined the group and is working through the flood.
for _ in $(seq 600); do
  [ "$(psql "$PG_URL" -tAX -c "SELECT count(*) FROM requests")" -gt 0 ] && break
  sleep 0.1
done
for i in $(seq -w 1 "$TRICKLE"); do
  printf 'ia-%s\t{"request_id":"ia-%s","team":"support","model":"economy","max_tokens":32,"messages":[{"role":"user","content":"quick answer %s"}]}\n' "$i" "$i" "$i" |
    kcat -P -b "$BOOTSTRAP" -t switchyard.requests.interactive -K $'\t'
  sleep 0.1
done

total=$((FLOOD + TRICKLE))
for _ in $(seq 1200); do
  done_rows="$(psql "$PG_URL" -tAX -c "SELECT count(*) FROM requests")"
  [ "$done_rows" -ge "$total" ] && break
  sleep 0.5
done
echo "$done_rows of $total requests terminal in Postgres"
kcat -C -b "$BOOTSTRAP" -t switchyard.results -o beginning -e -q -f '%k\n' 2>/dev/null | sort -u | wc -l |
  xargs printf '%s distinct request ids on the results topic\n'

q() { psql "$PG_URL" -P pager=off -X -c "$1"; }
step "interactive results: served first, from the fast tier"
q "SELECT tier, deployment, count(*) AS requests,
          percentile_disc(0.5) WITHIN GROUP (ORDER BY queued_ms) AS queued_ms_p50,
          percentile_disc(0.99) WITHIN GROUP (ORDER BY queued_ms) AS queued_ms_p99
   FROM requests WHERE priority_class = 'interactive' GROUP BY 1, 2 ORDER BY 1, 2"
q "SELECT count(*) FILTER (WHERE b.finished_at > i.last_done) AS background_finished_after_last_interactive,
          count(*) AS background_total
   FROM requests b, (SELECT max(finished_at) AS last_done FROM requests WHERE priority_class = 'interactive') i
   WHERE b.priority_class = 'background'"

step "background results: cheapest deployment first, never past its rpm in any 60 s window"
# Ledger rows carry the time of the write batch that stored them (shortly after each call), so
# the window counts are those of the writes: a close stand-in for the calls.
q "WITH windows AS (
     SELECT deployment, count(*) OVER (PARTITION BY deployment ORDER BY created_at
                                       RANGE BETWEEN CURRENT ROW AND interval '59.999 s' FOLLOWING) AS n
     FROM cost_ledger)
   SELECT r.tier, r.deployment, count(*) AS requests, sum(r.cost_usd) AS cost_usd,
          (SELECT max(n) FROM windows w WHERE w.deployment = r.deployment) AS most_calls_in_60s
   FROM requests r WHERE r.status = 'ok' AND r.priority_class = 'background'
   GROUP BY 1, 2 ORDER BY 1, 2"
echo "rpm: nano 600, mini 1200, gpt41 3000, sonnet 3000, o3 3000; 20% of each is kept for interactive"
echo "work, so background gets at most 480, 960, 2400, 2400, 2400 a minute (most_calls_in_60s counts both)"

step "spend per team against its budget"
q "SELECT team, period, budget_usd, spent_usd, reserved_usd, remaining_usd FROM team_budget_status ORDER BY team"
q "SELECT team, count(*) FILTER (WHERE status = 'ok') AS ok,
          count(*) FILTER (WHERE error_code = 'budget_exceeded') AS budget_exceeded,
          count(*) FILTER (WHERE status = 'error' AND error_code <> 'budget_exceeded') AS other_errors,
          sum(cost_usd) AS requests_cost_usd,
          (SELECT sum(cost_usd) FROM cost_ledger l WHERE l.team = r.team) AS ledger_cost_usd
   FROM requests r GROUP BY team ORDER BY team"
"$SY" spend --config "$RUN/config.yaml" --by tier

step "stopping"
kill -TERM "$WORKER"
wait "$WORKER" 2>/dev/null || true
echo "logs: $RUN"
