#!/usr/bin/env bash
# The Go benchmarks behind BENCHMARKS.md: server hot paths over real HTTP on
# loopback (each with its comparison point in the same run), the pure
# decisions, and the SQLite event batch.
# Usage: bench/go-bench.sh [benchtime]   (default 3s)
set -euo pipefail
cd "$(dirname "$0")/.."
BT=${1:-3s}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version)"
go test -run '^$' -bench 'BareHandler|CheckinNotModified|CheckinChangedPlan|CheckinChangedInventory|EventIngestion|Enroll' -benchtime "$BT" ./server/
go test -run '^$' -bench 'ComputePlan|NewCatalog|Resolve|Applicable' -benchtime "$BT" .
go test -run '^$' -bench 'RecordDeploymentEvents' -benchtime "$BT" ./sqlite/
