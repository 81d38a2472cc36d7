#!/usr/bin/env bash
# TURN relay throughput and CPU per relayed Mbit/s on loopback: streamhub's
# built-in TURN server (pion/turn) beside coturn (Debian's turnserver), each
# driven by bench/turnload at RATES Mbit/s of 1000-byte datagrams relayed
# relay to relay; the server on core 0, the load on core 1.
#
#   bash bench/turn.sh                     # rates 50 100 200 400, 3 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RATES=${RATES:-"50 100 200 400"} ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5s}
with_scratch
go build -o "$dir/streamhub" ./cmd/streamhub
go build -o "$dir/turnload" ./bench/turnload
secret=bench-secret
for round in $(seq "$ROUNDS"); do
  for rate in $RATES; do
    for server in streamhub coturn; do
      http=$(free_port) turn=$(free_port)
      if [ "$server" = streamhub ]; then
        STREAMHUB_TURN_ADDR=127.0.0.1:$turn STREAMHUB_TURN_SECRET=$secret STREAMHUB_LIMITS_TURNALLOCATIONS=0 \
          $pin_server "$dir/streamhub" serve --http 127.0.0.1:$http --mqtt "" --log-level warn >>"$dir/server.log" 2>&1 &
      else
        $pin_server turnserver -n --listening-ip=127.0.0.1 --listening-port="$turn" --relay-ip=127.0.0.1 \
          --min-port=49152 --max-port=65535 --use-auth-secret --static-auth-secret=$secret --realm=streamhub \
          --no-tls --no-dtls --no-cli --allow-loopback-peers --log-file=stdout --simple-log >>"$dir/coturn.log" 2>&1 &
      fi
      pid=$!; pids+=($pid)
      wait_port "$turn"
      echo "round=$round server=$server rate=$rate $($pin_bench "$dir/turnload" -server 127.0.0.1:$turn \
        -secret $secret -pid $pid -mbps "$rate" -duration "$DURATION")"
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
