#!/usr/bin/env bash
# MQTT over TLS under load, two server binaries side by side: fanout (1
# publisher, 1,000 parked subscribers: every delivery is a write to a
# connection whose reader is parked) and 1to1 (10 busy pairs), 1,000,000
# deliveries each, server on core 0, generator on core 1. Prints the
# generator's result line (delivered/s, server CPU per delivery).
#
#   bash bench/tlsload.sh A_BINARY B_BINARY [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
a=$(realpath "$1") b=$(realpath "$2") rounds=${3:-2}
bin=$PWD/bench/.bin
mkdir -p "$bin"
go build -o "$bin/streamhub-gen" ./cmd/streamhub
dir=$(mktemp -d) pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
for round in $(seq "$rounds"); do
  for server in "$a" "$b"; do
    for scenario in "fanout --clients 1000 --messages 1000" "1to1 --clients 10 --messages 1000000"; do
      p=$(free_port) q=$(free_port) r=$(free_port)
      STREAMHUB_MQTT_CERT=$dir/cert.pem STREAMHUB_MQTT_KEY=$dir/key.pem STREAMHUB_MQTT_TLSADDR=127.0.0.1:$q \
        taskset -c 0 "$server" serve --http "127.0.0.1:$p" --mqtt "127.0.0.1:$r" --log-level warn &
      pid=$!
      wait_port "$q"
      # shellcheck disable=SC2086 # the scenario's words are flags
      out=$(taskset -c 1 "$bin/streamhub-gen" bench --scenario $scenario --target "mqtts://127.0.0.1:$q" \
        --ca "$dir/cert.pem" --pid "$pid" 2>/dev/null | tail -1)
      echo "$round $(basename "$server") $out"
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    done
  done
done
