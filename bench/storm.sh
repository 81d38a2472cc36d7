#!/usr/bin/env bash
# 15,000 MQTT clients connect (64 at a time) and subscribe, then all close
# at once; server CPU over connect + disconnect, per connection. Builds
# interleaved, fresh server each round, server on core 0, generator core 1.
#
#   bash bench/storm.sh BASE [rounds]    # BASE: a commit; head is this tree
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?a base commit} rounds=${2:-3}
bin=$PWD/bench/.bin
mkdir -p "$bin"
wt=$(mktemp -d)
git worktree add -q "$wt/base" "$base"
(cd "$wt/base" && go build -o "$bin/streamhub-base" ./cmd/streamhub)
git worktree remove --force "$wt/base"
go build -o "$bin/streamhub-head" ./cmd/streamhub
for r in $(seq 1 "$rounds"); do
  for b in base head; do
    port=$((20000 + RANDOM % 10000)); hport=$((port+1))
    taskset -c 0 $bin/streamhub-$b serve --http 127.0.0.1:$hport --mqtt 127.0.0.1:$port --rtmp "" --rtsp "" --tcp "" --log-level error >/dev/null 2>&1 &
    p=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$hport/readyz >/dev/null && break; sleep 0.1; done
    t0=$(awk '{print $14+$15}' /proc/$p/stat)
    out=$(taskset -c 1 $bin/streamhub-head bench --scenario storm --clients 15000 --target mqtt://127.0.0.1:$port --json 2>/dev/null)
    # wait for every connection to be gone
    for _ in $(seq 300); do
      c=$(curl -s http://127.0.0.1:$hport/metrics | awk '/^streamhub_connections\{transport="mqtt"\}/{print $2}')
      [ "${c:-0}" = "0" ] && break; sleep 0.1
    done
    t1=$(awk '{print $14+$15}' /proc/$p/stat)
    secs=$(echo "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["seconds"],2))')
    echo "round $r $b connect ${secs}s cpu_per_conn_us $(( (t1-t0)*10000*1000/15000 / 1000 ))"
    kill $p; wait $p 2>/dev/null || true
  done
done
