#!/usr/bin/env bash
# Agent footprint: binary size, idle RSS, CPU per check-in of `patchgate
# agent`, for the one binary (the same binary as the server) and for the
# agent-only build (go build -tags agentonly), in the same run, against one
# local server. Comparison point: the RSS of sleep(1).
# Usage: bench/agent-footprint.sh [checkins]   (default 60, one per second)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-60}
PORT=${PG_PORT:-38482}
work=$(mktemp -d)
. bench/lib.sh
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
go build -trimpath -ldflags "-s -w" -o "$work/patchgate" ./cmd/patchgate
go build -o "$work/patchgate-debug" ./cmd/patchgate
go build -tags agentonly -trimpath -ldflags "-s -w" -o "$work/patchgate-agent" ./cmd/patchgate
start_patchgate "$work/patchgate" $PORT
machine
echo "binary size: $(stat -c %s "$work/patchgate") bytes stripped (-s -w), $(stat -c %s "$work/patchgate-debug") bytes with symbols; agent-only build: $(stat -c %s "$work/patchgate-agent") bytes stripped"
ticks=$(getconf CLK_TCK)
measure() { # name binary
  local tok ag c0 c1 t0 t1 rss hwm anon checkins
  tok=$("$work/patchgate" token create --enroll 2>/dev/null)
  "$2" agent --enroll-token "$tok" --state "$work/agent-$1" --product cisco.ucce='7.2(1)' \
    --interval 1s --jitter 0 --log-level error &
  ag=$!
  sleep 3 # enrolled, a few check-ins done
  c0=$(awk '{print $14+$15}' /proc/$ag/stat); t0=$(date +%s.%N)
  sleep "$N"
  c1=$(awk '{print $14+$15}' /proc/$ag/stat); t1=$(date +%s.%N)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$ag/status)
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$ag/status)
  anon=$(awk '/^Anonymous:/ {print $2}' /proc/$ag/smaps_rollup)
  checkins=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", b-a}')
  echo "$1: agent idle RSS: ${rss} KiB (peak ${hwm} KiB; anonymous ${anon} KiB)"
  awk -v c="$((c1-c0))" -v t="$ticks" -v n="$checkins" -v name="$1" 'BEGIN {printf "%s: agent CPU: %.2f ms per check-in over %d check-ins (304 not modified)\n", name, 1000*c/t/n, n}'
  kill $ag; wait $ag 2>/dev/null || true
}
measure "one binary" "$work/patchgate"
measure "agent-only build" "$work/patchgate-agent"
# Comparison point, same run: a process that does nothing but sleep.
sleep 60 & sl=$!; sleep 0.5
echo "comparison: idle RSS of sleep(1): $(awk '/VmRSS/ {print $2}' /proc/$sl/status) KiB"
kill $sl
