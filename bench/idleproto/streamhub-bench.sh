#!/usr/bin/env bash
# The same servers as run.sh, measured by the server's own load generator
# instead: `streamhub bench --scenario idle` (MQTT 3.1.1, one subscription a
# connection, RSS growth per connection), the figure docs/BENCHMARKS.md's
# MQTT tables use. One JSON line per server and round, prefixed with both.
#
#   bash bench/idleproto/run.sh 1 1   # builds everything into bench/.bin/idleproto
#   bash bench/idleproto/streamhub-bench.sh [rounds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
rounds=${1:-3} n=${2:-15000}
bin=$PWD/bench/.bin/idleproto
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
for round in $(seq "$rounds"); do
  for s in ${ONLY:-streamhub nbio gnet epoll stdnet park fdconn}; do
    port=$(free_port)
    if [ "$s" = streamhub ]; then
      "$bin/streamhub" serve --http 127.0.0.1:0 --mqtt "127.0.0.1:$port" --log-level warn &
    else
      "$bin/$s" -addr "127.0.0.1:$port" >/dev/null 2>&1 &
    fi
    pid=$!
    wait_port "$port"
    sleep 0.5
    out=$(timeout 120 "$bin/streamhub" bench --scenario idle --clients "$n" --duration 2s \
      --target "mqtt://127.0.0.1:$port" --pid "$pid" --json 2>/dev/null || echo '{}')
    echo "$s $round $out"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    sleep 1
  done
done
