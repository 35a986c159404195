#!/usr/bin/env bash
# Check-in at scale, driven by the fleet simulator (a separate process) over
# real HTTP on loopback:
#   1. nothing changed (the 304 hot path) with HOSTS enrolled hosts and an
#      UPDATES-update catalog over 100 products, as a ratio to a bare net/http
#      handler returning a 200-byte JSON body, same simulator, same run;
#   2. changed plans: an approval for every host just landed;
#   3. hotfix latency: approve a critical update, time until hosts start
#      downloading it;
# and the enrolment rate, server RSS and database size.
# Usage: HOSTS=100000 UPDATES=10000 DUR=60 bench/checkin.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-100000}
UPDATES=${UPDATES:-10000}
DUR=${DUR:-60}
INFLIGHT=${INFLIGHT:-64}
PORT=${PG_PORT:-38483}
BPORT=${BASE_PORT:-38490}
work=${WORK:-$(mktemp -d)}
. bench/lib.sh
need_jq
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
build_bench_tools

start_patchgate "$pg" $PORT
machine
"$work/seedcatalog" -updates "$UPDATES" -products 100 -templates "$work/templates.json"
tok=$("$pg" token create --enroll --name bench 2>/dev/null)
sim() { "$pg" sim --quiet --json --skip-download --templates "$work/templates.json" --max-in-flight "$INFLIGHT" "$@"; }

sim --server "$PATCHGATE_SERVER" --enroll-token "$tok" --hosts "$HOSTS" --identities "$work/fleet.jsonl" \
  --enroll-concurrency 16 --checkin-rate 100000 --duration 1s > "$work/enrol.json"
jq -r '"enrolment: \(.enrolled) hosts in \(.enroll_seconds|floor)s = \(.enroll_rate|floor) hosts/s"' "$work/enrol.json"
# Warm: every host checks in once and holds its current ETag.
warm=$(( HOSTS / 5000 + 10 ))
sim --server "$PATCHGATE_SERVER" --hosts "$HOSTS" --identities "$work/fleet.jsonl" --checkin-rate 100000 --duration ${warm}s > "$work/warm.json"
echo "server RSS after enrolment and warm-up: $(rss); database: $(du -sh "$work/data/patchgate.db" | cut -f1) (+ WAL $(du -sh "$work/data/patchgate.db-wal" 2>/dev/null | cut -f1))"

echo "== 1. check-in, nothing changed: $HOSTS hosts, $UPDATES updates, closed loop with $INFLIGHT in flight, ${DUR}s each"
cp "$work/fleet.jsonl" "$work/fleet-base.jsonl"
sim --server "$PATCHGATE_SERVER" --hosts "$HOSTS" --identities "$work/fleet.jsonl" --checkin-rate 100000 --duration ${DUR}s > "$work/pg.json"
row patchgate-304 "$work/pg.json" checkin-304
row patchgate-200 "$work/pg.json" checkin-200 || true
"$work/baseline" -listen 127.0.0.1:$BPORT 2>/dev/null &
sleep 0.5
sim --server http://127.0.0.1:$BPORT --hosts "$HOSTS" --identities "$work/fleet-base.jsonl" --checkin-rate 100000 --duration ${DUR}s > "$work/base.json"
row baseline "$work/base.json" checkin-200
jq -rn --slurpfile a "$work/pg.json" --slurpfile b "$work/base.json" \
  '($a[0].endpoints[]|select(.name=="checkin-304").per_second) as $p | ($b[0].endpoints[]|select(.name=="checkin-200").per_second) as $q | "ratio patchgate/baseline: \(100*$p/$q|floor)%"'
echo "server RSS: $(rss)"
RATE=${RATE:-5000}
echo "== 1b. latency at a fixed rate below capacity: open loop, $RATE check-ins/s for ${DUR}s, both servers"
sim --server "$PATCHGATE_SERVER" --hosts "$HOSTS" --identities "$work/fleet.jsonl" --checkin-rate "$RATE" --duration ${DUR}s > "$work/pg-rate.json"
row patchgate-304 "$work/pg-rate.json" checkin-304
sim --server http://127.0.0.1:$BPORT --hosts "$HOSTS" --identities "$work/fleet-base.jsonl" --checkin-rate "$RATE" --duration ${DUR}s > "$work/base-rate.json"
row baseline "$work/base-rate.json" checkin-200
jq -r '"missed check-ins (simulator could not keep the pace): \(.missed // 0)"' "$work/pg-rate.json"

echo "== 2. changed plans: approve one update per product for all hosts, then every check-in computes a plan"
ids=$(for i in $(seq 0 99); do printf 'bench-u%05d ' "$i"; done)
"$pg" approve $ids --group all > /dev/null
sim --server "$PATCHGATE_SERVER" --hosts "$HOSTS" --identities "$work/fleet.jsonl" --checkin-rate 100000 --duration ${DUR}s > "$work/plan.json"
row "plans (check-in 200)" "$work/plan.json" checkin-200
row "events" "$work/plan.json" events
jq -r '"installs reported: \(.installs_done), check-in cycles: \(.cycles)"' "$work/plan.json"
echo "server RSS: $(rss)"

echo "== 3. hotfix latency: see bench/hotfix.sh"
