#!/usr/bin/env bash
# streamhub against itself at another commit: the same `streamhub bench`
# load (this tree's binary drives both) on the binary built at BASE and on
# this tree's, interleaved run by run so that a machine's drift hits both
# alike. Scenarios: MQTT 1to1, fanin, fanout and the unpaced pubsub as
# bench/compare.sh runs them, SSE and WebSocket fan-out as bench/sse.sh does,
# and idle MQTT, SSE and WebSocket connections (IDLE held, default 15,000). Prints a markdown
# table of medians and ranges for docs/BENCHMARKS.md.
#
#   bash bench/ab.sh BASE [rounds]        # e.g. bash bench/ab.sh bec8043 3
#   ONLY="sse ws" bash bench/ab.sh BASE   # some scenarios only
#   PUBLISHERS=1 ONLY=sse bash bench/ab.sh BASE   # SSE/WebSocket from one publisher
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
base=${1:?base commit} rounds=${2:-3}
bin=$PWD/bench/.bin
mkdir -p "$bin"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

git archive --prefix=src/ "$base" | tar -x -C "$tmp"
(cd "$tmp/src" && go build -o "$bin/streamhub-base" ./cmd/streamhub)
go build -o "$bin/streamhub" ./cmd/streamhub

# SSE and WebSocket fan-out as bench/sse.sh runs them.
scenarios=(
  "${mqtt_loads[@]}"
  "pubsub|--scenario pubsub --clients 10 --messages 100000 --unpaced"
  "sse|--scenario fanout --clients 1000 --messages 1000 --http-publishers ${PUBLISHERS:-8}"
  "ws|--scenario fanout --clients 1000 --messages 1000 --http-publishers ${PUBLISHERS:-8}"
  "idle|--scenario idle --clients ${IDLE:-15000} --duration 2s"
  "sseidle|--scenario idle --clients ${IDLE:-15000} --duration 2s"
  "wsidle|--scenario idle --clients ${IDLE:-15000} --duration 2s"
)
results=$tmp/results
: > "$results"
for round in $(seq "$rounds"); do
  for s in "${scenarios[@]}"; do
    name=${s%%|*} args=${s#*|}
    [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && continue
    order="base head"; [ $((round % 2)) = 0 ] && order="head base" # neither always first
    for which in $order; do
      server=$bin/streamhub; [ "$which" = base ] && server=$bin/streamhub-base
      http=$(free_port) mqtt=$(free_port)
      $pin_server "$server" serve --http "127.0.0.1:$http" --mqtt "127.0.0.1:$mqtt" \
        --rtmp "" --rtsp "" --webrtc-udp "" --log-level warn &
      pid=$!
      if ! wait_port "$http" || ! wait_port "$mqtt"; then # a port taken meanwhile: skip this run
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""
        echo "$which $name {}" >> "$results"; continue
      fi
      case $name in
        1to1|fanin|fanout|pubsub|idle) target=(--target "mqtt://127.0.0.1:$mqtt") ;;
        sse|sseidle)  target=(--target "http://127.0.0.1:$http/v1/subscribe?topic={topic}" --publish "http://127.0.0.1:$http/v1/publish/{topic}") ;;
        ws|wsidle) target=(--target "ws://127.0.0.1:$http/v1/ws/{topic}" --publish "http://127.0.0.1:$http/v1/publish/{topic}") ;;
      esac
      # shellcheck disable=SC2086
      out=$($pin_bench "$bin/streamhub" bench "${target[@]}" $args --pid "$pid" --json 2>/dev/null || echo '{}')
      echo "$which $name $out" >> "$results"
      printf '\rround %s/%s %-7s %-5s' "$round" "$rounds" "$name" "$which" >&2
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    done
  done
done
echo >&2
cp "$results" "$bin/ab-results.txt"
python3 - "$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    which, scenario, js = line.split(' ', 2)
    rows.setdefault((scenario, which), []).append(json.loads(js or '{}'))
def fmt(vals, f): return f"{f(statistics.median(vals))} ({f(min(vals))}–{f(max(vals))})" if vals else "n/a"
print("| scenario | build | delivered/s | server CPU per delivery | lost |")
print("|---|---|---|---|---|")
for scenario in ['1to1', 'fanin', 'fanout', 'pubsub', 'sse', 'ws']:
    for which in ['base', 'head']:
        rs = rows.get((scenario, which), [])
        if not rs:
            continue
        rs = [r for r in rs if r]  # runs that could not start
        rate = [r.get('delivered_per_second', 0) for r in rs]
        cpu = [r.get('server_cpu_per_delivery_ns', 0) / 1000 for r in rs]
        lost = sum(max(0, r.get('expected', 0) - r.get('received', 0)) for r in rs)
        print(f"| {scenario} | {which} | {fmt(rate, lambda v: f'{v:,.0f}')} | {fmt(cpu, lambda v: f'{v:.2f} µs')} | {lost} |")
idle = [(s, w) for s in ['idle', 'sseidle', 'wsidle'] for w in ['base', 'head'] if rows.get((s, w))]
if idle:
    print(f"\n| idle connections held | build | server bytes per connection |")
    print("|---|---|---|")
    for scenario, which in idle:
        rs = [r for r in rows[(scenario, which)] if r]
        name = {'idle': 'MQTT', 'sseidle': 'SSE', 'wsidle': 'WebSocket'}[scenario]
        print(f"| {name} | {which} | {fmt([r.get('server_bytes_per_connection', 0) for r in rs], lambda v: f'{v:,.0f}')} |")
PY
