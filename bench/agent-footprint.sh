#!/usr/bin/env bash
# Agent footprint: binary size, idle RSS, CPU per check-in of `patchgate
# agent` (the same binary as the server) against a local server.
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
start_patchgate "$work/patchgate" $PORT
tok=$("$work/patchgate" token create --enroll 2>/dev/null)
machine
echo "binary size: $(stat -c %s "$work/patchgate") bytes stripped (-s -w), $(stat -c %s "$work/patchgate-debug") bytes with symbols"
"$work/patchgate" agent --enroll-token "$tok" --state "$work/agent" --product cisco.ucce='7.2(1)' \
  --interval 1s --jitter 0 --log-level error &
ag=$!
sleep 3 # enrolled, a few check-ins done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$ag/stat; }
c0=$(cpu); t0=$(date +%s.%N)
sleep "$N"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' /proc/$ag/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$ag/status)
checkins=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", b-a}')
echo "agent idle RSS: ${rss} KiB (peak ${hwm} KiB)"
awk -v c="$((c1-c0))" -v t="$ticks" -v n="$checkins" 'BEGIN {printf "agent CPU: %.2f ms per check-in over %d check-ins (304 not modified)\n", 1000*c/t/n, n}'
# Comparison point, same run: a process that does nothing but sleep.
sleep 60 & sl=$!; sleep 0.5
echo "comparison: idle RSS of sleep(1): $(awk '/VmRSS/ {print $2}' /proc/$sl/status) KiB"
kill $sl
