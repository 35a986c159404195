#!/usr/bin/env bash
# Scale: enrol HOSTS (default 1,000,000) simulated hosts against one server
# on the embedded SQLite store, then check-ins at RATE/s (default 2,000) for
# DUR seconds (default 300). Reports the enrolment rate, check-in latency,
# server RSS and database size; the same run measures a bare net/http handler
# at the same rate as the comparison point. Takes 20-30 minutes for 1M hosts.
# Usage: HOSTS=1000000 RATE=2000 DUR=300 bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-1000000}
RATE=${RATE:-2000}
DUR=${DUR:-300}
UPDATES=${UPDATES:-10000}
PORT=${PG_PORT:-38484}
BPORT=${BASE_PORT:-38491}
work=${WORK:-$(mktemp -d)}
. bench/lib.sh
need_jq
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
build_bench_tools
start_patchgate "$pg" $PORT
machine
"$work/seedcatalog" -updates "$UPDATES" -products 100 -templates "$work/templates.json" 2>&1 | tr '\r' '\n' | tail -1
tok=$("$pg" token create --enroll --name scale 2>/dev/null)
sim() { "$pg" sim --quiet --json --skip-download --templates "$work/templates.json" --max-in-flight 64 "$@"; }

sim --server "$PATCHGATE_SERVER" --enroll-token "$tok" --hosts "$HOSTS" --identities "$work/fleet.jsonl" \
  --enroll-concurrency 16 --checkin-rate 100000 --duration 1s > "$work/enrol.json"
jq -r '"enrolment: \(.enrolled) hosts in \(.enroll_seconds|floor)s = \(.enroll_rate|floor) hosts/s"' "$work/enrol.json"
warm=$(( HOSTS / 5000 + 10 ))
sim --server "$PATCHGATE_SERVER" --hosts "$HOSTS" --identities "$work/fleet.jsonl" --checkin-rate 100000 --duration ${warm}s > "$work/warm.json"
jq -r '"warm-up: \(.cycles) check-ins in \(.seconds|floor)s"' "$work/warm.json"
echo "server RSS after warm-up: $(rss) (peak $(hwm)); database: $(du -sh "$work/data/patchgate.db" | cut -f1), WAL $(du -sh "$work/data/patchgate.db-wal" 2>/dev/null | cut -f1)"
cp "$work/fleet.jsonl" "$work/fleet-base.jsonl"
echo "== $RATE check-ins/s for ${DUR}s over $HOSTS hosts"
sim --server "$PATCHGATE_SERVER" --hosts "$HOSTS" --identities "$work/fleet.jsonl" --checkin-rate "$RATE" --duration ${DUR}s > "$work/rate.json"
row patchgate-304 "$work/rate.json" checkin-304
row patchgate-200 "$work/rate.json" checkin-200
jq -r '"missed: \(.missed // 0), errors: \(.errors_total)"' "$work/rate.json"
echo "server RSS: $(rss) (peak $(hwm))"
"$work/baseline" -listen 127.0.0.1:$BPORT 2>/dev/null &
sleep 0.5
sim --server http://127.0.0.1:$BPORT --hosts "$HOSTS" --identities "$work/fleet-base.jsonl" --checkin-rate "$RATE" --duration ${DUR}s > "$work/base.json"
row baseline "$work/base.json" checkin-200
