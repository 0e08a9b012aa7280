#!/usr/bin/env bash
# A local Postgres cluster for development and tests, from Debian's postgresql package.
#   scripts/pg.sh start   initialise (first time) and start; prints nothing else
#   scripts/pg.sh stop    stop (fast shutdown)
#   scripts/pg.sh url     print the connection URL of the `switchyard` database
#   scripts/pg.sh status
# SWITCHYARD_PG_PORT (default 55432) and SWITCHYARD_PG_DIR choose the cluster.
set -euo pipefail
PORT="${SWITCHYARD_PG_PORT:-55432}"
DIR="${SWITCHYARD_PG_DIR:-/tmp/switchyard-pg-$PORT}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$BIN/pg_ctl" ] || { echo "pg.sh: Postgres server binaries not found; run scripts/install-deps.sh" >&2; exit 1; }

as_pg() {
  # Postgres refuses to run as root: use the postgres system user that the package creates.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
DBUSER="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
URL="postgresql://$DBUSER@127.0.0.1:$PORT/switchyard"

case "${1:-}" in
  start)
    # A caller (a test process) may hand us many open descriptors; the server must not inherit
    # them, and it needs headroom under the descriptor limit to start.
    for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [ ! -s "$DIR/PG_VERSION" ]; then
      mkdir -p "$DIR"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
      as_pg "$BIN/initdb" -D "$DIR" -U "$DBUSER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
      cat >>"$DIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 200
shared_buffers = 256MB
timezone = 'UTC'
log_min_messages = warning
CONF
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 start >/dev/null
    fi
    as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$DBUSER" -d postgres -qtAc \
      "SELECT 1 FROM pg_database WHERE datname='switchyard'" | grep -q 1 ||
      as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$DBUSER" -d postgres -qc "CREATE DATABASE switchyard" >/dev/null
    ;;
  stop)
    if [ -s "$DIR/PG_VERSION" ]; then as_pg "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null 2>&1 || true; fi
    ;;
  url) echo "$URL" ;;
  status) as_pg "$BIN/pg_ctl" -D "$DIR" status ;;
  *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac
