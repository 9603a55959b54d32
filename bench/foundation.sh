#!/usr/bin/env bash
# Foundation figures: cold start to /readyz, idle memory, and request rate of
# a public route and an authenticated one. Runs the real binary on embedded
# defaults in a temporary folder; the load comes from wrk (apt-get install wrk)
# in a separate process on loopback.
#
#   bash bench/foundation.sh            # 10 s per load run
#   DURATION=30s bash bench/foundation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
DURATION=${DURATION:-10s}
PORT=${PORT:-18480}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/pushgate" ./cmd/pushgate

start_node() { # start_node ACCESS_LOG
  rm -rf "$work/data"
  local t0 t1
  t0=$(date +%s%N)
  PUSHGATE_DATA_DIR="$work/data" PUSHGATE_HTTP_ADDR="127.0.0.1:$PORT" PUSHGATE_ACCESS_LOG="$1" \
    "$work/pushgate" serve --json >"$work/out" 2>"$work/log" &
  pid=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ]; do sleep 0.005; done
  t1=$(date +%s%N)
  echo "cold start to /readyz 200: $(( (t1 - t0) / 1000000 )) ms"
  key=$(sed -n 's/.*"apiKey":"\([^"]*\)".*/\1/p' "$work/out")
}

stop_node() { kill "$pid"; wait "$pid" 2>/dev/null || true; }

echo "== embedded defaults (SQLite, in-process Redis), access log on"
for i in 1 2 3; do start_node true; stop_node; done
start_node true
sleep 10
echo "idle resident memory after 10 s: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"
for path in /api/status/ping /v1/app; do
  echo "-- wrk -t1 -c64 -d$DURATION GET $path"
  wrk -t1 -c64 -d"$DURATION" -H "x-token: $key" "http://127.0.0.1:$PORT$path" | grep -E "Requests/sec|Latency|Non-2xx"
done
stop_node

echo "== access log off"
start_node false
for path in /api/status/ping /v1/app; do
  echo "-- wrk -t1 -c64 -d$DURATION GET $path"
  wrk -t1 -c64 -d"$DURATION" -H "x-token: $key" "http://127.0.0.1:$PORT$path" | grep -E "Requests/sec|Latency|Non-2xx"
done
echo "resident memory after load: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"
stop_node
