#!/usr/bin/env bash
# Hotfix latency: time from `approve` of a critical update to the first and
# the last of HOSTS (default 1,000) simulated agents starting its download,
# with agents polling every INTERVAL (default 60s; agents default to 1h, and
# the latency scales with it) and the default 10% jitter.
# Usage: HOSTS=1000 INTERVAL=60s bench/hotfix.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-1000}
INTERVAL=${INTERVAL:-60s}
PORT=${PG_PORT:-38485}
work=${WORK:-$(mktemp -d)}
. bench/lib.sh
need_jq
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
go build -o "$work/patchgate" ./cmd/patchgate
pg="$work/patchgate"
start_patchgate "$pg" $PORT
printf '#!/bin/sh\nexit 0\n' > "$work/fix.sh"
cat > "$work/hf.yaml" <<YAML
id: ucce-7.2.1-hf9
title: critical hotfix
kind: hotfix
severity: critical
products: [{name: cisco.ucce, versions: ">=7.2(1), <7.3"}]
reboot: never
payloads: [{name: fix.sh, installer: exec}]
YAML
"$pg" update add "$work/hf.yaml" --payload "$work/fix.sh" --post --force --reason "benchmark hotfix" > /dev/null
tok=$("$pg" token create --enroll --name hotfix 2>/dev/null)
# Every simulated host runs the product the hotfix is for.
echo '[{"name":"ucce","os":"linux","arch":"amd64","mode":"automatic","weight":1,"products":[{"name":"cisco.ucce","version":"7.2(1)"}]}]' > "$work/templates.json"
secs=${INTERVAL%s}
# Enrol and settle: every host checks in at least once before the approval
# at T, which the simulator measures from.
settle=$(( secs + secs / 5 + 15 ))
T=$(date -u -d "+${settle} seconds" +%Y-%m-%dT%H:%M:%SZ)
(sleep $(( $(date -d "$T" +%s) - $(date +%s) )); "$pg" approve ucce-7.2.1-hf9 --group all > /dev/null) &
"$pg" sim --quiet --json --templates "$work/templates.json" --enroll-token "$tok" --hosts "$HOSTS" --identities "$work/fleet.jsonl" \
  --interval "$INTERVAL" --jitter 0.1 --start-spread "$INTERVAL" --duration $(( settle + 2 * secs + 30 ))s \
  --watch-update ucce-7.2.1-hf9 --since "$T" > "$work/sim.json"
machine
echo "$HOSTS agents polling every $INTERVAL ±10%; approved at $T"
jq -r '.watch | "started downloading: \(.hosts_started) hosts (installed: \(.hosts_installed)); seconds after approve: first \(.first_seconds), median \(.p50_seconds), p90 \(.p90_seconds), last \(.last_seconds)"' "$work/sim.json"
