# Shared by the bench/ scripts: source it after setting $work.

# machine prints the line every figure is recorded with.
machine() { echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3)"; }

# need_jq installs jq from Debian when it is missing.
need_jq() { command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null; }

# start_patchgate BINARY PORT starts `patchgate serve` (plain HTTP, SQLite
# under $work/data), waits for it, and exports PATCHGATE_SERVER and
# PATCHGATE_TOKEN; its pid is in $spid. $SERVE_FLAGS are added.
start_patchgate() {
  "$1" serve --insecure-http --data "$work/data" --listen "127.0.0.1:$2" --log-level error ${SERVE_FLAGS:-} > "$work/serve.log" 2>&1 &
  spid=$!
  for _ in $(seq 100); do grep -q "admin token" "$work/serve.log" 2>/dev/null && break; kill -0 $spid 2>/dev/null || break; sleep 0.2; done
  PATCHGATE_TOKEN=$(awk '/admin token:/ {print $3}' "$work/serve.log")
  [ -n "$PATCHGATE_TOKEN" ] || { echo "patchgate serve did not start:"; cat "$work/serve.log"; exit 1; }
  export PATCHGATE_SERVER=http://127.0.0.1:$2 PATCHGATE_TOKEN
}

# rss and hwm print the server's resident and peak memory.
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$spid/status; }
hwm() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$spid/status; }

# row LABEL FILE ENDPOINT prints one endpoint of a `patchgate sim --json` summary.
row() { jq -r --arg e "$3" --arg l "$1" '.endpoints[] | select(.name==$e) | "\($l): \(.count) requests, \(.per_second|floor)/s, p50 \(.p50_ms)ms p90 \(.p90_ms)ms p99 \(.p99_ms)ms max \(.max_ms)ms"' "$2"; }

# build_bench_tools builds patchgate, the bare baseline handler and the
# catalog seeder into $work and sets pg to the patchgate binary.
build_bench_tools() {
  go build -o "$work/patchgate" ./cmd/patchgate
  go build -o "$work/baseline" ./bench/baseline
  go build -o "$work/seedcatalog" ./bench/seedcatalog
  pg="$work/patchgate"
}
