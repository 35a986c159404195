#!/usr/bin/env bash
# Hotfix latency: time from `approve` of a critical update to the first and
# the last of HOSTS (default 1,000) simulated agents starting its download,
# in the same run:
#   1. agents polling every INTERVAL (default 60s; agents default to 1h, and
#      the latency scales with it) with the default 10% jitter;
#   2. agents keeping a long-poll check-in open (LONGPOLL, default 5m) with
#      an hourly ordinary check-in: the server answers the held check-ins
#      when the approval changes their plan.
# Then memory per held check-in: HOLD (default 10,000) agents each hold
# one, over plain HTTP and over HTTPS (a second server; each simulated host
# has its own TLS connection, as agents do); the server's RSS and Go memory
# (runtime.MemStats through pprof, after a GC) are read before and while
# they are held.
# No maintenance window: the group installs at any time (an open window).
# Usage: HOSTS=1000 INTERVAL=60s LONGPOLL=5m HOLD=10000 bench/hotfix.sh
# SKIP_POLLING=1 skips run 1; HOLD=0 skips the memory run.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-1000}
INTERVAL=${INTERVAL:-60s}
LONGPOLL=${LONGPOLL:-5m}
HOLD=${HOLD:-10000}
PORT=${PG_PORT:-38485}
DEBUG_PORT=$((PORT + 1))
work=${WORK:-$(mktemp -d)}
. bench/lib.sh
need_jq
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
go build -o "$work/patchgate" ./cmd/patchgate
pg="$work/patchgate"
SERVE_FLAGS="--debug-listen 127.0.0.1:$DEBUG_PORT" start_patchgate "$pg" $PORT
printf '#!/bin/sh\nexit 0\n' > "$work/fix.sh"
# hotfix ID adds a critical hotfix for every simulated host's product.
hotfix() {
  cat > "$work/$1.yaml" <<YAML
id: $1
title: critical hotfix
kind: hotfix
severity: critical
products: [{name: cisco.ucce, versions: ">=7.2(1), <7.3"}]
reboot: never
payloads: [{name: fix.sh, installer: exec}]
YAML
  "$pg" update add "$work/$1.yaml" --payload "$work/fix.sh" --post --force --reason "benchmark hotfix" > /dev/null
}
tok=$("$pg" token create --enroll --name hotfix 2>/dev/null)
# Every simulated host runs the product the hotfix is for.
echo '[{"name":"ucce","os":"linux","arch":"amd64","mode":"automatic","weight":1,"products":[{"name":"cisco.ucce","version":"7.2(1)"}]}]' > "$work/templates.json"
sim() { "$pg" sim --quiet --json --templates "$work/templates.json" --enroll-token "$tok" --identities "$work/fleet.jsonl" "$@"; }
# approve_at T ID approves ID for every host at T.
# The instant is to the millisecond: latencies are measured from T.
approve_at() { (sleep "$(awk -v t="$(date -d "$1" +%s)" -v n="$(date +%s.%N)" 'BEGIN {d = t - n; print (d > 0 ? d : 0)}')"; "$pg" approve "$2" --group all > /dev/null) & }
watch_line() { jq -r '.watch | "started downloading: \(.hosts_started) hosts (installed: \(.hosts_installed)); seconds after approve: first \(.first_seconds), median \(.p50_seconds), p90 \(.p90_seconds), last \(.last_seconds)"' "$1"; }
machine

# Enrol the fleet once, so that both runs start from enrolled hosts.
sim --hosts "$HOSTS" --interval 1h --duration 5s > /dev/null

if [ -z "${SKIP_POLLING:-}" ]; then
  hotfix ucce-7.2.1-hf9
  secs=${INTERVAL%s}
  # Settle: every host checks in at least once before the approval at T,
  # which the simulator measures from.
  settle=$(( secs + secs / 5 + 15 ))
  T=$(date -u -d "+${settle} seconds" +%Y-%m-%dT%H:%M:%SZ)
  approve_at "$T" ucce-7.2.1-hf9
  sim --hosts "$HOSTS" --interval "$INTERVAL" --jitter 0.1 --start-spread "$INTERVAL" --duration $(( settle + 2 * secs + 30 ))s \
    --watch-update ucce-7.2.1-hf9 --since "$T" > "$work/poll.json"
  echo "1. $HOSTS agents polling every $INTERVAL ±10%; approved at $T"
  watch_line "$work/poll.json"
fi

hotfix ucce-7.2.1-hf10
# Long polls are in place within seconds: the ordinary check-ins are
# spread over 5 s, each followed at once by a held one.
T=$(date -u -d "+20 seconds" +%Y-%m-%dT%H:%M:%SZ)
approve_at "$T" ucce-7.2.1-hf10
sim --hosts "$HOSTS" --interval 1h --long-poll "$LONGPOLL" --start-spread 5s --duration 120s \
  --until-installed ucce-7.2.1-hf10 --since "$T" > "$work/longpoll.json"
echo "2. $HOSTS agents holding a long-poll check-in (up to $LONGPOLL), ordinary check-in hourly; approved at $T"
watch_line "$work/longpoll.json"
row "   held check-ins answered with the plan" "$work/longpoll.json" hold-200

[ "$HOLD" -gt 0 ] || exit 0
# measure_hold N LABEL PID PORT DEBUG_PORT [sim flags]: memory of the server
# PID before and while N agents hold a long poll each.
measure_hold() {
  local n=$1 label=$2 pid=$3 port=$4 dport=$5; shift 5
  memstats() { curl -s "http://127.0.0.1:$dport/debug/pprof/heap?debug=1&gc=1" | awk '/^# HeapInuse =/ {h=$4} /^# StackInuse =/ {s=$4} /^# Sys =/ {y=$4} END {print h+s, y}'; }
  rss_kib() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
  held_conns() { ss -Htn state established "( sport = :$port )" | wc -l; }
  # Enrol the hosts (those in the identity file exist) and let each check
  # in once.
  sim "$@" --hosts "$n" --interval 1h --start-spread 10s --duration 15s > /dev/null
  read -r go0 sys0 < <(memstats); rss0=$(rss_kib); c0=$(held_conns)
  sim "$@" --hosts "$n" --interval 1h --long-poll "$LONGPOLL" --start-spread 20s --duration 90s > "$work/hold-$port.json" &
  local simpid=$!
  for _ in $(seq 60); do sleep 2; [ "$(held_conns)" -ge "$n" ] && break; done
  sleep 5
  read -r go1 sys1 < <(memstats); rss1=$(rss_kib); c1=$(held_conns)
  local held=$(( c1 - c0 ))
  echo "$label: $n agents holding long polls: $held connections held"
  echo "   server RSS: $(( rss0 / 1024 )) MiB before, $(( rss1 / 1024 )) MiB held: $(( (rss1 - rss0) * 1024 / held )) bytes per held check-in"
  echo "   Go heap+stacks in use (after GC): $(( go0 / 1048576 )) MiB before, $(( go1 / 1048576 )) MiB held: $(( (go1 - go0) / held )) bytes per held check-in; Sys $(( sys0 / 1048576 )) -> $(( sys1 / 1048576 )) MiB"
  wait $simpid
}
measure_hold "$HOLD" "3. plain HTTP" "$spid" "$PORT" "$DEBUG_PORT"

# The same over HTTPS, as agents connect: a second server with its own
# CA; every simulated host has its own TLS connection.
TLS_PORT=$((PORT + 2)); TLS_DEBUG=$((PORT + 3))
"$pg" serve --data "$work/tls-data" --listen "127.0.0.1:$TLS_PORT" --debug-listen "127.0.0.1:$TLS_DEBUG" --log-level error > "$work/tls-serve.log" 2>&1 &
tpid=$!
for _ in $(seq 100); do grep -q "admin token" "$work/tls-serve.log" 2>/dev/null && break; sleep 0.2; done
fp=$(awk '/CA fingerprint:/ {print $3}' "$work/tls-serve.log")
ttok=$(PATCHGATE_SERVER=https://127.0.0.1:$TLS_PORT PATCHGATE_CA_FINGERPRINT=$fp PATCHGATE_TOKEN=$(awk '/admin token:/ {print $3}' "$work/tls-serve.log") \
  "$pg" token create --enroll --name hold 2>/dev/null)
tls_sim() { PATCHGATE_SERVER=https://127.0.0.1:$TLS_PORT PATCHGATE_CA_FINGERPRINT=$fp \
  "$pg" sim --quiet --json --templates "$work/templates.json" --enroll-token "$ttok" --identities "$work/tls-fleet.jsonl" "$@"; }
sim() { tls_sim "$@"; }
measure_hold "$HOLD" "4. HTTPS" "$tpid" "$TLS_PORT" "$TLS_DEBUG"
