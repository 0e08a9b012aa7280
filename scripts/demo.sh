#!/usr/bin/env bash
# The whole product on one machine: installs what is missing, builds, starts the embedded Kafka
# broker, a local Postgres, the provider simulator and one worker; publishes sample jobs
# (interactive and background, three teams), prints results as they arrive and a spend table
# from Postgres, then stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUN="$ROOT/.run/demo"
JOBS="${DEMO_JOBS:-60}"
rm -rf "$RUN"
mkdir -p "$RUN"

SY="$ROOT/build/switchyard"
. scripts/demo-lib.sh

step "installing dependencies (Debian packages) and building"
scripts/install-deps.sh
scripts/build.sh >"$RUN/build.log" 2>&1 || { tail -40 "$RUN/build.log"; exit 1; }

step "starting Postgres, the embedded Kafka broker and the provider simulator"
scripts/pg.sh start
PG_URL="$(scripts/pg.sh url)"
start_broker_and_sim switchyard.requests.interactive:4,switchyard.requests.background:4,switchyard.results:4,switchyard.dlq:1 \
  --latency-ms 40 --jitter-ms 60 --output-tokens 24
echo "broker $BOOTSTRAP, simulator 127.0.0.1:$SIM_PORT, postgres $PG_URL"

sed -e "s#SIM_PORT#$SIM_PORT#g" -e "s#POSTGRES_URL#$PG_URL#g" \
  deploy/config/demo.yaml >"$RUN/config.yaml"
"$SY" check-config "$RUN/config.yaml"
"$SY" migrate --config "$RUN/config.yaml"

step "starting one worker"
"$SY" run --config "$RUN/config.yaml" --bootstrap "$BOOTSTRAP" >"$RUN/worker.log" 2>&1 &
WORKER=$!
pids+=($WORKER)

step "publishing $JOBS jobs (interactive and background, teams search/ads/support)"
DEMO_ID="demo-$(date +%s)"
teams=(search ads support)
models=(economy auto frontier economy economy)
prompts=("Classify this ticket: my invoice is wrong" "Summarise the quarterly report in three bullets"
         "Write a haiku about queues" "Extract the dates from: shipped 2026-01-03, returned 2026-01-09")
: >"$RUN/interactive.jsonl"
: >"$RUN/background.jsonl"
for i in $(seq 1 "$JOBS"); do
  team=${teams[$((i % 3))]}
  model=${models[$((i % 5))]}
  prompt=${prompts[$((i % 4))]}
  if [ $((i % 4)) -eq 0 ]; then file="$RUN/interactive.jsonl"; else file="$RUN/background.jsonl"; fi
  printf '{"request_id":"%s-%03d","team":"%s","model":"%s","messages":[{"role":"user","content":"%s"}],"metadata":{"demo":true}}\n' \
    "$DEMO_ID" "$i" "$team" "$model" "$prompt" >>"$file"
done
"$SY" publish --bootstrap "$BOOTSTRAP" --topic switchyard.requests.interactive --quiet "$RUN/interactive.jsonl"
"$SY" publish --bootstrap "$BOOTSTRAP" --topic switchyard.requests.background --quiet "$RUN/background.jsonl"

step "results as they arrive (switchyard tail)"
"$SY" tail --bootstrap "$BOOTSTRAP" --topic switchyard.results --count "$JOBS" --idle-exit-ms 60000 |
  while IFS= read -r line; do
    id=$(sed -n 's/.*"request_id":"\([^"]*\)".*/\1/p' <<<"$line")
    status=$(sed -n 's/.*"status":"\([^"]*\)".*/\1/p' <<<"$line")
    class=$(sed -n 's/.*"class":"\([^"]*\)".*/\1/p' <<<"$line")
    dep=$(sed -n 's/.*"deployment":"\([^"]*\)".*/\1/p' <<<"$line")
    cost=$(sed -n 's/.*"cost_usd":\([0-9.e-]*\).*/\1/p' <<<"$line")
    printf '  %-22s %-6s %-12s %-22s $%s\n' "$id" "$status" "$class" "$dep" "$cost"
  done

step "spend per team (switchyard spend, from Postgres)"
for _ in $(seq 100); do
  n=$(psql "$PG_URL" -qtAc "SELECT count(*) FROM requests WHERE request_id LIKE '$DEMO_ID-%'")
  [ "$n" -ge "$JOBS" ] && break
  sleep 0.2
done
"$SY" spend --config "$RUN/config.yaml"
echo
psql "$PG_URL" -P pager=off -c "SELECT team, tier, count(*) AS requests, sum(cost_usd) AS cost_usd
  FROM requests WHERE request_id LIKE '$DEMO_ID-%' GROUP BY team, tier ORDER BY team, tier"

step "the same figures on the worker's admin server (http://127.0.0.1:9464)"
http_get() {  # bash only: no curl needed
  exec 3<>"/dev/tcp/127.0.0.1/9464" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
  sed '1,/^\r\{0,1\}$/d' <&3
  exec 3>&-
}
sleep 6  # the dashboard re-reads the spend views every 5 s
echo "/dashboard/data.json, spend per team:"
http_get /dashboard/data.json | grep -o '"team":"[^"]*","requests":[0-9]*,"cost_usd":[0-9.]*' | sort -u | head -10 || true
echo "/metrics:"
http_get /metrics | grep -E '^switchyard_(requests_total|cost_usd_total)' | grep -v ' 0$' | head -12 || true
echo "open http://127.0.0.1:9464/dashboard in a browser while the worker runs (DEMO_KEEP=1 keeps it running)"
if [ "${DEMO_KEEP:-0}" = 1 ]; then
  echo "worker running; Ctrl-C to stop"
  wait "$WORKER" || true
fi

step "stopping"
kill -TERM "$WORKER"
wait "$WORKER" || true
grep -o 'worker stopped.*' "$RUN/worker.log" | cut -c1-200 || true
echo "logs: $RUN"
