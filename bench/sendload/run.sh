#!/usr/bin/env bash
# The native pipeline beside bare sideshow/apns2 and gorush (issue 14), in
# one command: builds pushgate and bench/sendload, then runs sendload once
# per row against one separate fake APNS process each, N pushes a row:
#   bare sideshow/apns2 (100 goroutines), gorush v1.22.0, pushgate on
#   PostgreSQL + Redis without and with a callback, pushgate embedded
#   (SQLite, in-process Redis).
# It prints each run's report, then the rows of the table in
# docs/performance.md. CPU per push is node + PostgreSQL + Redis, read from
# /proc (all PostgreSQL processes: on a shared machine, others' queries
# count too; the report also gives this database's backends alone).
#
#   bash bench/sendload/run.sh
#   N=20000 PGDB=pushgate_t14a REDIS_URL=redis://127.0.0.1:6379/11 bash bench/sendload/run.sh
#   ROWS="pg pg-callback" bash bench/sendload/run.sh
#   N=30000 ROWS="bare-webpush pg-webpush" bash bench/sendload/run.sh   # Web Push (the fake decrypts)
#
# PGDB (default pushgate_sendload) is dropped and created again before
# each PostgreSQL row; REDIS_URL's database is flushed. FAKE=count keeps
# the fake from storing what it accepts; FAKE_LATENCY (default 0s) has it
# answer each push that much later, as a distant provider would. GORUSH_BIN (default
# /tmp/gorush-bin/gorush) is built by bench/sendload/gorush.sh when absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-100000}
PGDB=${PGDB:-pushgate_sendload}
PGHOST=${PGHOST:-127.0.0.1}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/14}
FAKE=${FAKE:-verify}
FAKE_LATENCY=${FAKE_LATENCY:-0s}
ROWS=${ROWS:-bare gorush pg pg-callback embedded}
GORUSH_BIN=${GORUSH_BIN:-/tmp/gorush-bin/gorush}
work=$(mktemp -d /tmp/sendload.XXXXXX)
trap 'rm -rf "$work"' EXIT

go build -o "$work/pushgate" ./cmd/pushgate
go build -o "$work/sendload" ./bench/sendload
case " $ROWS " in *" gorush "*) [ -x "$GORUSH_BIN" ] || GORUSH_BIN=$GORUSH_BIN bash bench/sendload/gorush.sh ;; esac

db_url="postgres://postgres@$PGHOST:5432/$PGDB?sslmode=disable"
fresh() {
  dropdb -h "$PGHOST" -U postgres --if-exists "$PGDB"
  createdb -h "$PGHOST" -U postgres "$PGDB"
  redis_db=${REDIS_URL##*/}
  redis-cli -n "${redis_db:-0}" flushdb >/dev/null
}
load() { "$work/sendload" -n "$N" -fake "$FAKE" -fake-latency "$FAKE_LATENCY" -pushgate-bin "$work/pushgate" "$@" | tee -a "$work/report.txt"; }

echo "== $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), pushgate $(git rev-parse --short HEAD), $N pushes a row, fake $FAKE"
for row in $ROWS; do
  echo
  echo "== $row"
  case $row in
  bare) load -bare apns -label "bare sideshow/apns2, 100 goroutines" ;;
  gorush) load -target gorush -gorush-bin "$GORUSH_BIN" -label "gorush v1.22.0 (defaults, nothing persisted)" ;;
  pg) fresh; load -db "$db_url" -redis "$REDIS_URL" -label "pushgate, PostgreSQL + Redis, no callback" ;;
  pg-callback) fresh; load -db "$db_url" -redis "$REDIS_URL" -events -label "pushgate, PostgreSQL + Redis, callback on" ;;
  embedded) load -label "pushgate, embedded default (SQLite, in-process Redis)" ;;
  bare-webpush) load -bare webpush -label "bare webpush-go, 100 goroutines" ;;
  pg-webpush) fresh; load -provider webpush -db "$db_url" -redis "$REDIS_URL" -label "pushgate Web Push, PostgreSQL + Redis, no callback" ;;
  *) echo "unknown row $row (bare, gorush, pg, pg-callback, embedded, bare-webpush, pg-webpush)"; exit 1 ;;
  esac
done
echo
echo "| system | pushes/s (× gorush) | CPU per push (node + PostgreSQL + Redis) (× gorush) | peak RSS | answer p50 / p99 | fake's CPU per push |"
echo "| --- | --- | --- | --- | --- | --- |"
# pushgate's rate and CPU per push also as fractions of gorush's, when both ran
awk -F' [|] ' -v OFS=' | ' '/^[|] / { n++; for (j = 1; j <= NF; j++) f[n, j] = $j; nf[n] = NF
    rate[n] = $2; gsub(",", "", rate[n]); cpu[n] = $3 + 0; if ($1 ~ /gorush/) { g = rate[n]; gc = cpu[n] } }
  END { for (i = 1; i <= n; i++) {
    if (g && f[i, 1] ~ /pushgate/) { f[i, 2] = f[i, 2] sprintf(" (%.2f×)", rate[i] / g); f[i, 3] = f[i, 3] sprintf(" (%.2f×)", cpu[i] / gc) }
    line = f[i, 1]; for (j = 2; j <= nf[i]; j++) line = line OFS f[i, j]; print line } }' "$work/report.txt"
grep '^callback:' "$work/report.txt" || true
