#!/usr/bin/env bash
# Durable publish and replay: streamhub against NATS JetStream (file
# storage) in the same run, same load. JetStream runs twice: with its
# default sync (every 2 minutes) and with sync_interval: always (fsync per
# write, like streamhub's default). Prints a markdown table: each row's
# value in every round, then the median.
#
#   bash bench/durable.sh [messages] [concurrency] [payload bytes] [bulk messages] [connections] [window]
#
# Two loads per server and round, each on a fresh server:
# - one request per message: streamhub HTTP POST with concurrency publishers
#   waiting for their answers, long-poll replay; JetStream js.Publish the
#   same way, pull-consumer replay;
# - bulk: streamhub MQTT 3.1.1 QoS 1 over `connections` connections with
#   `window` publishes in flight each (acknowledged = PUBACK received), then
#   replays of everything over the TCP text protocol, plain WebSocket,
#   NDJSON and long polling; JetStream js.PublishAsync with the same
#   connections and window, then ordered-consumer and pull-consumer replays.
# Rounds interleave the servers; server and load generator share the
# machine, unpinned.
#
# nats-server 2.10+ is needed for sync_interval; Debian's is older, so this
# builds v2.15.2 with `go install` into bench/.bin when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-20000} c=${2:-32} size=${3:-100} bulk=${4:-50000} conns=${5:-8} window=${6:-64}
rounds=${ROUNDS:-3}
bin=$PWD/bench/.bin
mkdir -p "$bin"
[ -x "$bin/nats-server" ] || GOBIN=$bin go install github.com/nats-io/nats-server/v2@v2.15.2
go build -o "$bin/streamhub" ./cmd/streamhub
go build -o "$bin/durable" ./bench/durable
tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# run VARIANT LOAD ROUND: one fresh server, one load, its rows.
run() {
  local variant=$1 load=$2 round=$3 port mqtt tcp dir=$tmp/$1-$2-$3
  port=$(free_port)
  case $variant in
    streamhub-*)
      local sync=${variant#streamhub-} label="streamhub, sync ${variant#streamhub-}"
      mqtt=$(free_port) tcp=$(free_port)
      STREAMHUB_DURABLE_SYNC=$sync "$bin/streamhub" serve --http 127.0.0.1:$port --mqtt 127.0.0.1:$mqtt --tcp 127.0.0.1:$tcp \
        --rtmp "" --rtsp "" --webrtc-udp "" --data "$dir" --durable 'bench/#' --log-level warn & pids+=($!)
      wait_port "$port"
      if [ "$load" = bulk ]; then
        "$bin/durable" -streamhub "http://127.0.0.1:$port" -mqtt 127.0.0.1:$mqtt -tcp 127.0.0.1:$tcp -label "$label" \
          -n "$bulk" -c "$conns" -window "$window" -size "$size"
      else
        "$bin/durable" -streamhub "http://127.0.0.1:$port" -label "$label" -n "$n" -c "$c" -size "$size"
      fi ;;
    nats-*)
      local conf=$tmp/$variant-$load-$round.conf sync="" label="NATS JetStream, ${variant#nats-} sync"
      [ "$variant" = nats-always ] && sync=", sync_interval: always"
      printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s"%s }\n' "$port" "$dir" "$sync" > "$conf"
      "$bin/nats-server" -c "$conf" >/dev/null 2>&1 & pids+=($!)
      wait_port "$port"
      if [ "$load" = bulk ]; then
        "$bin/durable" -nats "nats://127.0.0.1:$port" -async -label "$label" -n "$bulk" -c "$conns" -window "$window" -size "$size"
      else
        "$bin/durable" -nats "nats://127.0.0.1:$port" -label "$label" -n "$n" -c "$c" -size "$size"
      fi ;;
  esac
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  rm -rf "$dir"
}

for round in $(seq "$rounds"); do
  for load in request bulk; do
    for variant in streamhub-always streamhub-interval nats-default nats-always; do
      run "$variant" "$load" "$round"
    done
  done
done | tee "$tmp/rows" >&2

# One row per label: every round's value and the median, per column.
python3 - "$tmp/rows" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if len(cells) == 3:
        rows.setdefault(cells[0], []).append(cells[1:])
def column(values):
    if all(v == '–' for v in values):
        return '–', '–'
    nums = [float(v) for v in values]
    return ' / '.join(f'{v:,.0f}' for v in nums), f'**{statistics.median(nums):,.0f}**'
print('| server, protocol | acknowledged publishes/s (rounds) | median | replay msgs/s (rounds) | median |')
print('|---|---|---|---|---|')
for label, values in rows.items():
    pub, replay = column([v[0] for v in values]), column([v[1] for v in values])
    print(f'| {label} | {pub[0]} | {pub[1]} | {replay[0]} | {replay[1]} |')
PY
