#!/usr/bin/env bash
# The WebSocket provider at 10,000 connections (issue 13), in one command:
# builds pushgate (with -tags pprof) and bench/wsload, starts one
# `pushgate serve` on PostgreSQL + Redis, and runs wsload against it as a
# separate process: idle memory per connection, one-user latency, 10,000-way
# fan-out (broadcasts, then to.userIds) with CPU per delivery, the reconnect
# storm, then a broadcast to 1,000,000 stored users. With GOTIFY_BIN it runs
# the same tool against Gotify on SQLite.
#
#   bash bench/wsload/run.sh
#   PGDB=bench REDIS_URL=redis://127.0.0.1:6379/3 GOTIFY_BIN=/tmp/gotify bash bench/wsload/run.sh
#
# HOLD (default 130s) keeps the idle connections open past Go's periodic GC and reads
# the resident memory again (both servers are Go programs). SKIP_PUSHGATE=1 runs Gotify
# alone; PHASE=memory only opens the connections
# and reports memory. PGDB is dropped and created again (default pushgate_wsbench); REDIS_URL's
# database is flushed. The report goes to stdout and $OUT/report.txt, the
# heap profiles to $OUT (go tool pprof -top -sample_index=inuse_space
# $OUT/heap-after.pb.gz).
#
# Building Gotify (nothing of it belongs in this repository):
#   git clone --branch v3.0.0 https://github.com/gotify/server /tmp/gotify-src
#   mkdir -p /tmp/gotify-src/ui/build && echo '<html></html>' > /tmp/gotify-src/ui/build/index.html
#   (cd /tmp/gotify-src && go build -o /tmp/gotify .)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-10000}
PGDB=${PGDB:-pushgate_wsbench}
PGHOST=${PGHOST:-127.0.0.1}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/14}
PORT=${PORT:-18490}
GOTIFY_PORT=${GOTIFY_PORT:-18491}
PPROF_PORT=${PPROF_PORT:-18492}
SEED_USERS=${SEED_USERS:-1000000}
HOLD=${HOLD:-130s} # idle connections held past Go's periodic GC before memory is read again (0: not)
IDLE_WINDOW=${IDLE_WINDOW:-26s} # idle CPU measured over a whole heartbeat period (25 s) before each fan-out
work=$(mktemp -d /tmp/wsbench.XXXXXX)
OUT=${OUT:-$work/out}
mkdir -p "$OUT"
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work/data" "$work/gotify"' EXIT

ulimit -n 20000 2>/dev/null || true
[ "$(ulimit -n)" -ge $((N + 1000)) ] || { echo "open-file limit $(ulimit -n) is below $((N + 1000))"; exit 1; }
go build -tags pprof -o "$work/pushgate" ./cmd/pushgate
go build -o "$work/wsload" ./bench/wsload

dropdb -h "$PGHOST" -U postgres --if-exists "$PGDB"
createdb -h "$PGHOST" -U postgres "$PGDB"
redis_db=${REDIS_URL##*/}
redis-cli -n "${redis_db:-0}" flushdb >/dev/null
redis_pid=$(pidof -s redis-server || true)
psql() { command psql -h "$PGHOST" -U postgres -d "$PGDB" -v ON_ERROR_STOP=1 -qAt "$@"; }

exec > >(tee "$OUT/report.txt") 2>&1
echo "== $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${SKIP_PUSHGATE:-}" != 1 ]; then
echo "== pushgate $(git rev-parse --short HEAD) on PostgreSQL ($PGDB) + Redis ($REDIS_URL)"
PUSHGATE_DATA_DIR="$work/data" PUSHGATE_HTTP_ADDR="127.0.0.1:$PORT" \
  PUSHGATE_DATABASE_URL="postgres://postgres@$PGHOST:5432/$PGDB?sslmode=disable" PUSHGATE_REDIS_URL="$REDIS_URL" \
  PUSHGATE_MASTER_KEY="$(openssl rand -base64 32)" PUSHGATE_ACCESS_LOG=false \
  PUSHGATE_WS_CONNECT_RATE=0 PUSHGATE_APP_RATE_LIMIT=0 PUSHGATE_PPROF_ADDR="127.0.0.1:$PPROF_PORT" \
  "$work/pushgate" serve --json >"$work/out.json" 2>"$work/pushgate.log" &
pid=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ]; do kill -0 "$pid" || { tail "$work/pushgate.log"; exit 1; }; sleep 0.05; done
key=$(sed -n 's/.*"apiKey":"\([^"]*\)".*/\1/p' "$work/out.json")
app=$(sed -n 's/.*"appId":"\([^"]*\)".*/\1/p' "$work/out.json")
"$work/wsload" -target pushgate -url "http://127.0.0.1:$PORT" -key "$key" -n "$N" -phase "${PHASE:-all}" -hold "$HOLD" -idle-window "$IDLE_WINDOW" \
  -server-pid "$pid" -cpu-pids "redis=$redis_pid" -pg-db "$PGDB" -pprof "http://127.0.0.1:$PPROF_PORT" -out "$OUT"

# Broadcast to a million users stored, not connected. A user counts for
# broadcasts from its first client token; making 1,000,000 through the API
# would take most of an hour, so this benchmark (and only it) writes them
# straight into the inbox's tables: a row each in inbox_users, and the app's
# user count in inbox_apps, as POST /v1/tokens leaves them.
if [ "${PHASE:-all}" = all ]; then
t0=$(date +%s%N)
psql -c "INSERT INTO inbox_users (app_id, user_id, tokens, first_token_at)
         SELECT '$app', 'seed-' || g, 1, now() FROM generate_series(1, $SEED_USERS) g;
         UPDATE inbox_apps SET users = users + $SEED_USERS WHERE app_id = '$app';"
echo "seeded $SEED_USERS users in $(( ($(date +%s%N) - t0) / 1000000 )) ms: the app has $(psql -c "SELECT users FROM inbox_apps WHERE app_id = '$app'") users"
"$work/wsload" -target pushgate -url "http://127.0.0.1:$PORT" -key "$key" -phase broadcast -sends 50
fi
echo "server resident memory at the end: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
fi

if [ -n "${GOTIFY_BIN:-}" ]; then
  echo
  echo "== Gotify ($GOTIFY_BIN) on SQLite"
  mkdir -p "$work/gotify"
  (cd "$work/gotify" && GIN_MODE=release GOTIFY_SERVER_PORT=$GOTIFY_PORT GOTIFY_SERVER_LISTENADDR=127.0.0.1 \
    GOTIFY_DATABASE_DIALECT=sqlite3 GOTIFY_DATABASE_CONNECTION="$work/gotify/gotify.db" \
    GOTIFY_DEFAULTUSER_NAME=admin GOTIFY_DEFAULTUSER_PASS=admin \
    exec "$GOTIFY_BIN" >"$work/gotify.log" 2>&1) &
  pid=$!
  until [ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$GOTIFY_PORT/health")" = 200 ]; do kill -0 "$pid" || { tail "$work/gotify.log"; exit 1; }; sleep 0.05; done
  "$work/wsload" -target gotify -url "http://127.0.0.1:$GOTIFY_PORT" -user admin:admin -n "$N" -hold "$HOLD" -server-pid "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
fi
echo "report and profiles in $OUT"
