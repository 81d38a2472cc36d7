#!/usr/bin/env bash
# SSE fan-out: streamhub against nginx's nchan module (Debian's
# libnginx-mod-nchan), same load from `streamhub bench`: N EventSource
# subscribers on one channel, messages published with HTTP POST. Prints a
# markdown table.
#
#   bash bench/sse.sh [subscribers] [messages] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
subs=${1:-1000} msgs=${2:-1000} rounds=${3:-3}
bin=$PWD/bench/.bin
mkdir -p "$bin"
if [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null
fi
go build -o "$bin/streamhub" ./cmd/streamhub
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

echo "| server | round | delivered | delivered/s | server CPU per delivery |"
echo "|---|---|---|---|---|"
for round in $(seq "$rounds"); do
  for server in streamhub nchan; do
    port=$(free_port)
    case $server in
      streamhub)
        "$bin/streamhub" serve --http "127.0.0.1:$port" --mqtt "" --log-level warn &
        pid=$!
        target="http://127.0.0.1:$port/v1/subscribe?topic={topic}"
        publish="http://127.0.0.1:$port/v1/publish/{topic}" ;;
      nchan)
        mkdir -p "$tmp/nginx"
        cat > "$tmp/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx;
  server {
    listen 127.0.0.1:$port;
    location ~ ^/pub/(.+)\$ { nchan_publisher; nchan_channel_id \$1; nchan_message_buffer_length 1000; }
    location ~ ^/sub/(.+)\$ { nchan_subscriber eventsource; nchan_channel_id \$1; }
  }
}
CONF
        nginx -c "$tmp/nginx.conf" -p "$tmp" &
        pid=$!
        target="http://127.0.0.1:$port/sub/{topic}"
        publish="http://127.0.0.1:$port/pub/{topic}" ;;
    esac
    wait_port "$port"
    # nginx's master forks a worker: measure the worker's CPU.
    measured=$pid
    [ "$server" = nchan ] && sleep 0.3 && measured=$(pgrep -P "$pid" | head -1)
    out=$("$bin/streamhub" bench --target "$target" --publish "$publish" --scenario fanout --clients "$subs" \
          --messages "$msgs" --pid "$measured" --json 2>/dev/null || echo '{}')
    python3 - "$server" "$round" "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[3] or '{}')
print(f"| {sys.argv[1]} | {sys.argv[2]} | {r.get('received',0):,} of {r.get('expected',0):,} | {r.get('delivered_per_second',0):,.0f} | {r.get('server_cpu_per_delivery_ns',0)/1000:.2f} µs |")
PY
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done
