#!/usr/bin/env bash
# pushgate's Socket.IO side at scale (issue 16), in one command: builds pushgate
# (with -tags pprof) and bench/sioload, and for each transport starts a fresh
# `pushgate serve` on PostgreSQL + Redis with a compat auth token, then runs
# sioload against it as a separate process: the backend registers a connectionId
# for each of N users, N Socket.IO clients connect and register, the node's
# resident memory is read before and after (after a forced GC and SETTLE), and
# one push to each user goes through POST /api/{userId}/push at RATE a second,
# timed from the call to the client's `message` event (p50/p90/p99/max), with
# the node's CPU per delivery. Every push must arrive exactly once, or the run fails.
#
#   bash bench/sioload/run.sh                       # 5,000 WebSocket clients, then 1,000 polling
#   N_WS=200 N_POLL=100 PGDB=pushgate_t16l REDIS_URL=redis://127.0.0.1:6379/10 bash bench/sioload/run.sh
#
# N_WS or N_POLL set to 0 skips that transport. PGDB is dropped and created
# again (default pushgate_siobench); REDIS_URL's database is flushed. The
# report goes to stdout and $OUT/report.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
N_WS=${N_WS:-5000}
N_POLL=${N_POLL:-1000}
RATE=${RATE:-500}
SETTLE=${SETTLE:-5s}
PGDB=${PGDB:-pushgate_siobench}
PGHOST=${PGHOST:-127.0.0.1}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/13}
PORT=${PORT:-18494}
PPROF_PORT=${PPROF_PORT:-18495}
work=$(mktemp -d /tmp/siobench.XXXXXX)
OUT=${OUT:-$work/out}
mkdir -p "$OUT"
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work/data"' EXIT

# Each client is a socket in both processes (a polling client may hold two).
most=$(( N_WS > 2 * N_POLL ? N_WS : 2 * N_POLL ))
ulimit -n $((most + 2000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((most + 1000)) ] || { echo "open-file limit $(ulimit -n) is below $((most + 1000))"; exit 1; }
go build -tags pprof -o "$work/pushgate" ./cmd/pushgate
go build -o "$work/sioload" ./bench/sioload
redis_db=${REDIS_URL##*/}
redis_pid=$(pidof -s redis-server || true)
token=$(openssl rand -hex 24)

exec > >(tee "$OUT/report.txt") 2>&1
echo "== $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== pushgate $(git rev-parse --short HEAD) on PostgreSQL ($PGDB) + Redis ($REDIS_URL)"
for transport in websocket polling; do
  n=$N_WS; [ "$transport" = polling ] && n=$N_POLL
  [ "$n" -gt 0 ] || continue
  dropdb -h "$PGHOST" -U postgres --if-exists "$PGDB"
  createdb -h "$PGHOST" -U postgres "$PGDB"
  redis-cli -n "${redis_db:-0}" flushdb >/dev/null
  rm -rf "$work/data"
  PUSHGATE_DATA_DIR="$work/data" PUSHGATE_HTTP_ADDR="127.0.0.1:$PORT" \
    PUSHGATE_DATABASE_URL="postgres://postgres@$PGHOST:5432/$PGDB?sslmode=disable" PUSHGATE_REDIS_URL="$REDIS_URL" \
    PUSHGATE_MASTER_KEY="$(openssl rand -base64 32)" PUSHGATE_ACCESS_LOG=false PUSHGATE_COMPAT_AUTH_TOKEN="$token" \
    PUSHGATE_WS_CONNECT_RATE=0 PUSHGATE_APP_RATE_LIMIT=0 PUSHGATE_PPROF_ADDR="127.0.0.1:$PPROF_PORT" \
    "$work/pushgate" serve --json >"$work/out.json" 2>"$work/pushgate.log" &
  pid=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ]; do kill -0 "$pid" || { tail "$work/pushgate.log"; exit 1; }; sleep 0.05; done
  echo
  "$work/sioload" -url "http://127.0.0.1:$PORT" -token "$token" -n "$n" -transport "$transport" -rate "$RATE" -settle "$SETTLE" \
    -server-pid "$pid" -cpu-pids "redis=$redis_pid" -pprof "http://127.0.0.1:$PPROF_PORT"
  echo "node resident memory at the end: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
echo "report in $OUT"
