#!/usr/bin/env bash
# The issue-20 load with the Paho clients users run: 10 connections, each
# subscribed to its own topic and publishing 10,000 QoS 0 messages of
# 100 B to it as fast as the library lets it (bench/paho), against
# streamhub and NATS's MQTT listener, interleaved, unpinned unless PIN=1.
# Prints one JSON line per broker and round (wall seconds, server CPU per
# delivery).
#
#   bash bench/paho.sh [rounds] [v311|v5]      # v5: streamhub only (NATS has no MQTT 5)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-3} client=${2:-v311}
[ "${PIN:-0}" = 1 ] || pin_server="" pin_bench=""
bin=$PWD/bench/.bin
mkdir -p "$bin"
[ -x "$bin/nats-server" ] || GOBIN=$bin go install github.com/nats-io/nats-server/v2@v2.15.2
go build -o "$bin/streamhub" ./cmd/streamhub
go build -o "$bin/paho" ./bench/paho
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
brokers="streamhub nats"
[ "$client" = v5 ] && brokers=streamhub
for round in $(seq "$rounds"); do
  for b in $brokers; do
    port=$(free_port)
    case $b in
      streamhub) $pin_server "$bin/streamhub" serve --http 127.0.0.1:0 --mqtt "127.0.0.1:$port" --log-level warn & ;;
      nats) nats_mqtt_conf "$tmp" "$port"
            $pin_server "$bin/nats-server" -c "$tmp/nats.conf" >/dev/null 2>&1 & ;;
    esac
    pid=$!
    wait_port "$port"
    echo "$b round $round: $($pin_bench "$bin/paho" -addr "127.0.0.1:$port" -client "$client" -pid "$pid")"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done
