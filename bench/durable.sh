#!/usr/bin/env bash
# Durable publish and replay: streamhub against NATS JetStream (file
# storage) in the same run, same load. JetStream runs twice: with its
# default sync (every 2 minutes) and with sync_interval: always (fsync per
# write, like streamhub's default). Prints a markdown table.
#
#   bash bench/durable.sh [messages] [concurrency] [payload bytes]
#
# nats-server 2.10+ is needed for sync_interval; Debian's is older, so this
# builds v2.15.2 with `go install` into bench/.bin when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-20000} c=${2:-32} size=${3:-100}
bin=$PWD/bench/.bin
mkdir -p "$bin"
[ -x "$bin/nats-server" ] || GOBIN=$bin go install github.com/nats-io/nats-server/v2@v2.15.2
go build -o "$bin/streamhub" ./cmd/streamhub
go build -o "$bin/durable" ./bench/durable
tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

echo "| server | acknowledged publishes/s | replay msgs/s |"
echo "|---|---|---|"
for round in 1 2 3; do
  for variant in streamhub-always streamhub-interval nats-default nats-always; do
    port=$(free_port)
    case $variant in
      streamhub-*)
        sync=${variant#streamhub-}
        STREAMHUB_DURABLE_SYNC=$sync "$bin/streamhub" serve --http 127.0.0.1:$port --mqtt "" --data "$tmp/$variant-$round" \
          --durable 'bench/#' --log-level warn & pids+=($!)
        wait_port "$port"
        "$bin/durable" -streamhub "http://127.0.0.1:$port" -label "streamhub, sync $sync (round $round)" -n "$n" -c "$c" -size "$size" ;;
      nats-*)
        conf=$tmp/$variant-$round.conf
        printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s" }\n' "$port" "$tmp/$variant-$round" > "$conf"
        [ "$variant" = nats-always ] && printf 'jetstream { store_dir: "%s", sync_interval: always }\n' "$tmp/$variant-$round" > "$conf" \
          && sed -i "1i listen: 127.0.0.1:$port" "$conf"
        "$bin/nats-server" -c "$conf" >/dev/null 2>&1 & pids+=($!)
        wait_port "$port"
        "$bin/durable" -nats "nats://127.0.0.1:$port" -label "NATS JetStream, ${variant#nats-} sync (round $round)" -n "$n" -c "$c" -size "$size" ;;
    esac
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  done
done
