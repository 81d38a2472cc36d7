#!/usr/bin/env bash
# HTTP fan-out: streamhub against nginx's nchan module (Debian's
# libnginx-mod-nchan), same load from `streamhub bench`: N EventSource (and
# then N WebSocket) subscribers on one channel, messages published with HTTP
# POST. Each server runs on core 0 and the load generator on core 1 (PIN=0
# turns it off). Prints markdown tables: every run, then medians and ratios.
#
#   bash bench/sse.sh [subscribers] [messages] [rounds]
#
# PUBLISHERS=1 publishes one message after another from one connection
# (default 8 at once); PIN=0 leaves server and generator unpinned; KINDS=sse
# runs the SSE pass alone (default "sse ws"); IDLE is the idle pass's count.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
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

results=$tmp/results
: > "$results"
echo "| server | subscribers | round | delivered | delivered/s | server CPU per delivery |"
echo "|---|---|---|---|---|---|"
for round in $(seq "$rounds") idle; do
 for kind in ${KINDS:-sse ws}; do
  for server in streamhub nchan; do
    port=$(free_port)
    case $server in
      streamhub)
        $pin_server "$bin/streamhub" serve --http "127.0.0.1:$port" --mqtt "" --rtmp "" --rtsp "" --webrtc-udp "" \
          --log-level warn &
        pid=$!
        target="http://127.0.0.1:$port/v1/subscribe?topic={topic}"
        [ "$kind" = ws ] && target="ws://127.0.0.1:$port/v1/ws/{topic}"
        publish="http://127.0.0.1:$port/v1/publish/{topic}" ;;
      nchan)
        nchan_conf "$tmp" "$port"
        $pin_server nginx -c "$tmp/nginx.conf" -p "$tmp" &
        pid=$!
        target="http://127.0.0.1:$port/sub/{topic}"
        [ "$kind" = ws ] && target="ws://127.0.0.1:$port/ws/{topic}"
        publish="http://127.0.0.1:$port/pub/{topic}" ;;
    esac
    wait_port "$port"
    # nginx's master forks a worker: measure the worker's CPU.
    measured=$pid
    [ "$server" = nchan ] && sleep 0.3 && measured=$(pgrep -P "$pid" | head -1)
    if [ "$round" = idle ]; then # one more pass: idle connections, memory per connection
      out=$($pin_bench "$bin/streamhub" bench --target "$target" --scenario idle --clients "${IDLE:-10000}" \
            --duration 2s --pid "$measured" --json 2>/dev/null || echo '{}')
      echo "$server idle-$kind $out" >> "$results"
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
      continue
    fi
    out=$($pin_bench "$bin/streamhub" bench --target "$target" --publish "$publish" --scenario fanout \
          --clients "$subs" --messages "$msgs" --http-publishers "${PUBLISHERS:-8}" --pid "$measured" --json 2>/dev/null || echo '{}')
    echo "$server $kind $out" >> "$results"
    python3 - "$server" "$kind" "$round" "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[4] or '{}')
print(f"| {sys.argv[1]} | {sys.argv[2]} | {sys.argv[3]} | {r.get('received',0):,} of {r.get('expected',0):,} | {r.get('delivered_per_second',0):,.0f} | {r.get('server_cpu_per_delivery_ns',0)/1000:.2f} µs |")
PY
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
 done
done
python3 - "$results" "$subs" "$msgs" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    server, kind, js = line.split(' ', 2)
    rows.setdefault((kind, server), []).append(json.loads(js or '{}'))
med = lambda v: statistics.median(v) if v else 0
print(f"\n### Medians: {int(sys.argv[2]):,} subscribers on one topic × {int(sys.argv[3]):,} messages of 100 B, published with HTTP POST\n")
print("| subscribers | streamhub delivered/s | nchan delivered/s | ratio | streamhub CPU per delivery | nchan CPU per delivery | CPU ratio |")
print("|---|---|---|---|---|---|---|")
for kind, label in [('sse', 'SSE'), ('ws', 'WebSocket')]:
    s, n = rows.get((kind, 'streamhub'), []), rows.get((kind, 'nchan'), [])
    sr, nr = med([r.get('delivered_per_second', 0) for r in s]), med([r.get('delivered_per_second', 0) for r in n])
    sc, nc = med([r.get('server_cpu_per_delivery_ns', 0) / 1000 for r in s]), med([r.get('server_cpu_per_delivery_ns', 0) / 1000 for r in n])
    print(f"| {label} | {sr:,.0f} | {nr:,.0f} | {sr/max(nr,1):.2f}× | {sc:.2f} µs | {nc:.2f} µs | {sc/max(nc,1e-9):.2f}× |")
print("\n### Idle connections: server memory (RSS growth) per connection\n")
print("| subscribers | held | streamhub | nchan |")
print("|---|---|---|---|")
for kind, label in [('sse', 'SSE'), ('ws', 'WebSocket')]:
    s, n = rows.get(('idle-' + kind, 'streamhub'), [{}])[0], rows.get(('idle-' + kind, 'nchan'), [{}])[0]
    print(f"| {label} | {s.get('received', 0):,} | {s.get('server_bytes_per_connection', 0):,} B | {n.get('server_bytes_per_connection', 0):,} B |")
PY
