# Shared by scripts/demo.sh and scripts/flood-demo.sh (sourced, not run): step headings, the
# processes a demo starts (stopped on exit, whatever ends it), and starting the embedded broker
# and the provider simulator. Expects SY (the switchyard binary) and RUN (the run directory).

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# start_broker_and_sim TOPICS [provider-sim flags...]: sets BOOTSTRAP and SIM_PORT once both
# listen (logs in $RUN/broker.log and $RUN/sim.log).
start_broker_and_sim() {
  local topics="$1"
  shift
  "$SY" broker --topics "$topics" --bootstrap-file "$RUN/bootstrap" >"$RUN/broker.log" 2>&1 &
  pids+=($!)
  "$SY" provider-sim --port 0 "$@" >"$RUN/sim.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ -s "$RUN/bootstrap" ] && grep -q "listening on" "$RUN/sim.log" && break
    sleep 0.1
  done
  BOOTSTRAP="$(cat "$RUN/bootstrap")"
  SIM_PORT="$(grep -o 'listening on http://[^ ]*' "$RUN/sim.log" | sed 's/.*://')"
  [ -n "$BOOTSTRAP" ] && [ -n "$SIM_PORT" ] ||
    { echo "broker or simulator did not start; see $RUN/broker.log and $RUN/sim.log" >&2; exit 1; }
}
