#!/usr/bin/env bash
# Content serving: a 1 MiB payload to many concurrent downloaders, patchgate
# (GET /content/sha256/{hex}) against nginx serving the same file, both
# plain HTTP on loopback, same load generator (wrk), same run.
# Usage: bench/content.sh [duration-seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-32}
PG_PORT=${PG_PORT:-38480}
NGINX_PORT=${NGINX_PORT:-38481}
need() { command -v "$1" >/dev/null || { echo "installing $2"; apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx-light

work=$(mktemp -d)
. bench/lib.sh
trap 'kill $(jobs -p) 2>/dev/null; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/patchgate" ./cmd/patchgate
head -c 1048576 /dev/urandom > "$work/payload.bin"
sha=$(sha256sum "$work/payload.bin" | cut -d' ' -f1)

start_patchgate "$work/patchgate" $PG_PORT
# Download as agents do, with a host credential (kept in memory by the
# server), not with the admin token.
need_jq
etok=$("$work/patchgate" token create --enroll --name bench 2>/dev/null)
token=$(curl -s -X POST "http://127.0.0.1:${PG_PORT}/agent/v1/enroll" \
  -d "{\"token\":\"$etok\",\"inventory\":{\"hostname\":\"bench\",\"products\":[]}}" | jq -r .credential)
cat > "$work/m.yaml" <<YAML
id: bench-1mib
title: 1 MiB payload
kind: hotfix
severity: low
products: [{name: bench}]
payloads: [{name: payload.bin, installer: exec}]
YAML
"$work/patchgate" update add "$work/m.yaml" --payload "$work/payload.bin" >/dev/null

mkdir -p "$work/www/content/sha256"
cp "$work/payload.bin" "$work/www/content/sha256/$sha"
chmod 755 "$work"; chmod -R a+rX "$work/www" # nginx workers run as nobody

cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  server { listen 127.0.0.1:${NGINX_PORT}; root $work/www; }
}
NGINX
nginx -c "$work/nginx.conf"
sleep 0.5
for url in "http://127.0.0.1:${NGINX_PORT}/content/sha256/$sha" "http://127.0.0.1:${PG_PORT}/content/sha256/$sha"; do
  got=$(curl -s -H "Authorization: Bearer $token" "$url" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$sha" ] || { echo "$url does not serve the payload"; exit 1; }
done

# Range requests work:
range=$(curl -s -H "Authorization: Bearer $token" -H "Range: bytes=100-199" -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:${PG_PORT}/content/sha256/$sha")
echo "range request on patchgate: HTTP status and bytes: $range"

run() { # name url
  wrk -t2 -c"$CONNS" -d"${DUR}s" -H "Authorization: Bearer $token" "$2" | awk -v n="$1" '/Transfer\/sec/ {print n, $2} /Requests\/sec/ {print n "-req/s", $2} /Latency/ {print n "-latency-avg", $2}'
}
machine
echo "load: wrk -t2 -c$CONNS -d${DUR}s, 1 MiB file"
run nginx "http://127.0.0.1:${NGINX_PORT}/content/sha256/$sha"
run patchgate "http://127.0.0.1:${PG_PORT}/content/sha256/$sha"
run nginx "http://127.0.0.1:${NGINX_PORT}/content/sha256/$sha"
run patchgate "http://127.0.0.1:${PG_PORT}/content/sha256/$sha"
