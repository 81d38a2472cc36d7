#!/usr/bin/env bash
# streamhub on a three-server NATS JetStream cluster, all processes on
# loopback with free ports: aggregate fan-out with 1 and 3 streamhub nodes,
# cross-node latency at a fixed rate (publisher on node A, subscribers on B
# and C), and acknowledged durable publishes with replicas 1 and 3 beside
# `nats bench` and a plain NATS Go client on the same NATS cluster. Rounds
# are interleaved; prints markdown tables (medians, ranges in parentheses)
# for docs/BENCHMARKS.md.
#
#   bash bench/cluster.sh [rounds]
#   ONLY="fanout latency durable" bash bench/cluster.sh [rounds]
#
# Load (environment): SUBS fan-out subscribers (99), FANMSGS fan-out
# messages (20000; DFANMSGS on durable topics, 2000), RATE latency msg/s
# (10000; DRATE on durable topics, 1000), LATSECS (3), MSGS durable
# publishes per run (20000; a tenth with one publisher), CONC durable
# publishers (32), SIZE payload bytes (100), REPLICAS of the streams in the
# fan-out and latency runs (3). About 4 minutes with the defaults.
#
# Nothing is pinned: three NATS servers, up to three streamhub nodes and the
# load generator share the machine's cores, so on a small machine the
# figures show what the cluster costs, not what it scales to. Builds
# nats-server v2.15.2 and natscli v0.5.0 into bench/.bin when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-3}
SUBS=${SUBS:-99} FANMSGS=${FANMSGS:-20000} DFANMSGS=${DFANMSGS:-2000} RATE=${RATE:-10000} DRATE=${DRATE:-1000} LATSECS=${LATSECS:-3}
MSGS=${MSGS:-20000} CONC=${CONC:-32} SIZE=${SIZE:-100} REPLICAS=${REPLICAS:-3}
bin=$PWD/bench/.bin
mkdir -p "$bin"
[ -x "$bin/nats-server" ] || GOBIN=$bin go install github.com/nats-io/nats-server/v2@v2.15.2
[ -x "$bin/nats" ] || GOBIN=$bin go install github.com/nats-io/natscli/nats@v0.5.0
go build -o "$bin/streamhub" ./cmd/streamhub
go build -o "$bin/durable" ./bench/durable
dir=$(mktemp -d)
natspids=() nodes=() standalone=""
cleanup() {
  kill "${nodes[@]}" $standalone "${natspids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  cp "$dir/streamhub.log" "$bin/cluster-streamhub.log" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
results=$dir/results
: > "$results"
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
say() { printf '\r%-70s' "$*" >&2; }

# ticks sums the user+system CPU ticks (1/100 s) of the given processes.
ticks() {
  local t=0 p f
  for p in "$@"; do
    read -ra f < <(sed 's/.*) //' "/proc/$p/stat")
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}

# record SECTION LABEL COMMAND...: runs a load generator and appends what
# it printed (`streamhub bench --json`, bench/durable's table row or `nats
# bench`'s text) to $results, with the CPU the streamhub processes and the
# NATS servers spent meanwhile; bench/cluster_tables.py reads them.
record() {
  local section=$1 label=$2 sh0 nats0 out
  shift 2
  sh0=$(ticks "${nodes[@]}" $standalone) nats0=$(ticks "${natspids[@]}")
  out=$("$@" 2>>"$dir/errors") || out=""
  [ -n "$out" ] || out='{}'
  printf '%s\t%s\t%s\t%s\t%s\n' "$section" "$label" "$(echo "$out" | tr '\n\t' '  ')" \
    "$(($(ticks "${nodes[@]}" $standalone) - sh0))" "$(($(ticks "${natspids[@]}") - nats0))" >> "$results"
}

# The NATS cluster: three servers routed to each other, JetStream on file
# storage (default sync), ready once JetStream has a meta leader.
start_nats() {
  local i routes="" conf
  declare -ga cport=() rport=()
  for i in 0 1 2; do cport[i]=$(free_port) rport[i]=$(free_port); done
  for i in 0 1 2; do routes+="nats://127.0.0.1:${rport[i]}, "; done
  for i in 0 1 2; do
    conf=$dir/n$i.conf
    printf 'server_name: n%s\nlisten: 127.0.0.1:%s\njetstream { store_dir: "%s/n%s" }\ncluster { name: bench, listen: 127.0.0.1:%s, routes: [%s] }\n' \
      "$i" "${cport[i]}" "$dir" "$i" "${rport[i]}" "${routes%, }" > "$conf"
    "$bin/nats-server" -c "$conf" >"$dir/n$i.log" 2>&1 & natspids+=($!)
  done
  urls="nats://127.0.0.1:${cport[0]},nats://127.0.0.1:${cport[1]},nats://127.0.0.1:${cport[2]}"
  for i in 0 1 2; do wait_port "${cport[i]}"; done
  for _ in $(seq 300); do
    "$bin/nats" --server "$urls" stream ls >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "NATS cluster has no JetStream meta leader" >&2; return 1
}

# Only MQTT and HTTP: the media listeners' default ports would collide.
no_media=(--rtmp "" --rtsp "" --webrtc-udp "")
# wait_ready HTTP-PORT [PID]: until /readyz answers 200 (false if PID exits first).
wait_ready() {
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0
    [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
    sleep 0.1
  done
  return 1
}

# start_node NAME PREFIX REPLICAS DURABLE-FILTER: one streamhub node on the
# NATS cluster; its MQTT and HTTP ports are appended to $mqtt and $http.
# Each configuration uses a prefix of its own, so its streams are new. A
# node that exits while starting is started again (twice at most), and
# counted in $retries: see the note printed at the end.
start_node() {
  local h m try pid
  for try in 1 2 3; do
    h=$(free_port) m=$(free_port)
    STREAMHUB_CLUSTER_PREFIX=$2 STREAMHUB_CLUSTER_REPLICAS=$3 "$bin/streamhub" serve --http "127.0.0.1:$h" --mqtt "127.0.0.1:$m" "${no_media[@]}" \
      --cluster "$urls" --node "$1" --durable "$4" --log-level warn >>"$dir/streamhub.log" 2>&1 & pid=$!
    if wait_ready "$h" "$pid"; then
      nodes+=("$pid") http+=("$h") mqtt+=("$m")
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    retries=$((retries + 1))
  done
  echo "streamhub node $1 did not start: $(tail -1 "$dir/streamhub.log")" >&2
  return 1
}

# stop_nodes ends every streamhub node and deletes PREFIX's streams.
stop_nodes() {
  kill "${nodes[@]}" 2>/dev/null || true
  for p in "${nodes[@]}"; do wait "$p" 2>/dev/null || true; done
  nodes=() http=() mqtt=()
  local name=${1^^}
  "$bin/nats" --server "$urls" stream rm -f "$name" >/dev/null 2>&1 || true
  "$bin/nats" --server "$urls" stream rm -f "${name}_RETAINED" >/dev/null 2>&1 || true
}

# start_standalone DURABLE(yes/no): one streamhub without --cluster, for reference.
start_standalone() {
  local h m args=()
  h=$(free_port) m=$(free_port)
  [ "$1" = yes ] && args=(--data "$dir/standalone-$RANDOM" --durable 'bench/#')
  "$bin/streamhub" serve --http "127.0.0.1:$h" --mqtt "127.0.0.1:$m" "${no_media[@]}" "${args[@]}" --log-level warn >>"$dir/streamhub.log" 2>&1 & standalone=$!
  mqtt=("$m")
  wait_ready "$h"
}
stop_standalone() { kill "$standalone"; wait "$standalone" 2>/dev/null || true; standalone=""; mqtt=(); }

bench_args=(--size "$SIZE" --timeout 60s --json)
mqtt_urls() { local p out=""; for p in "$@"; do out+="mqtt://127.0.0.1:$p,"; done; echo "${out%,}"; }

# fanout KIND WHERE TARGET-PORT SUBSCRIBE-PORTS...: one MQTT publisher,
# $SUBS subscribers spread over the given nodes. Durable topics get fewer
# messages: each publish of one connection waits for its store.
fanout() {
  local msgs=$FANMSGS
  [ "$1" = durable ] && msgs=$DFANMSGS
  say "fan-out $1, $2, round $round"
  record fanout "$1;$2;$msgs" "$bin/streamhub" bench --scenario fanout --clients "$SUBS" --messages "$msgs" \
    --target "mqtt://127.0.0.1:$3" --subscribe "$(mqtt_urls "${@:4}")" "${bench_args[@]}"
}

# latency KIND WHERE TARGET-PORT SUBSCRIBE-PORTS...: one MQTT publisher at
# $RATE msg/s ($DRATE on durable topics, where each publish of one
# connection waits for its store), one subscriber on each given node.
latency() {
  local rate=$RATE
  [ "$1" = durable ] && rate=$DRATE
  want latency || return 0
  say "latency $1, $2, round $round"
  record latency "$1;$2;$rate" "$bin/streamhub" bench --scenario latency --rate "$rate" --duration "${LATSECS}s" \
    --target "mqtt://127.0.0.1:$3" --subscribe "$(mqtt_urls "${@:4}")" "${bench_args[@]}"
}

# durable_publishes REPLICAS PUBLISHERS MESSAGES: acknowledged durable
# publishes through streamhub node A (HTTP and MQTT), then straight to
# JetStream with the NATS Go client (what node A does inside) and with
# `nats bench`, on streams of REPLICAS replicas.
durable_publishes() {
  local r=$1 c=$2 m=$3 load
  load=(-n "$m" -c "$c" -size "$SIZE" -replay=false)
  say "durable publishes, replicas $r, $c publishers, round $round"
  n=$((n + 1)) prefix=b$n
  start_node a "$prefix" "$r" 'bench/#'
  record durable "$r;$c;$m;streamhub, HTTP POST" "$bin/durable" -streamhub "http://127.0.0.1:${http[0]}" "${load[@]}"
  record durable "$r;$c;$m;streamhub, MQTT QoS 1" "$bin/durable" -mqtt "127.0.0.1:${mqtt[0]}" -window 1 "${load[@]}"
  record durable "$r;$c;$m;streamhub, MQTT QoS 1, 64 in flight" "$bin/durable" -mqtt "127.0.0.1:${mqtt[0]}" -window 64 "${load[@]}"
  stop_nodes "$prefix"
  record durable "$r;$c;$m;NATS Go client, js.Publish" "$bin/durable" -nats "$urls" -replicas "$r" "${load[@]}"
  record durable "$r;$c;$m;NATS Go client, js.PublishAsync, 64 in flight" "$bin/durable" -nats "$urls" -replicas "$r" -async -window 64 "${load[@]}"
  "$bin/nats" --server "$urls" stream rm -f BENCH >/dev/null 2>&1 || true
  record durable "$r;$c;$m;nats bench js pub sync" "$bin/nats" --server "$urls" bench js pub sync nb.x --create --storage file \
    --replicas "$r" --stream "NB$n" --clients "$c" --msgs "$m" --size "$SIZE" --no-progress
  "$bin/nats" --server "$urls" stream rm -f "NB$n" >/dev/null 2>&1 || true
}

http=() mqtt=() retries=0
start_nats
n=0
for round in $(seq "$rounds"); do
  for kind in non-durable durable; do
    want fanout || want latency || continue
    filter='none/#' data=no
    [ $kind = durable ] && filter='bench/#' data=yes
    start_standalone $data
    want fanout && fanout $kind "1 node, no cluster" "${mqtt[0]}" "${mqtt[0]}"
    latency $kind "1 node, no cluster: A → A" "${mqtt[0]}" "${mqtt[0]}"
    stop_standalone
    n=$((n + 1)) prefix=b$n
    start_node a "$prefix" "$REPLICAS" "$filter"
    want fanout && fanout $kind "1 node on NATS" "${mqtt[0]}" "${mqtt[0]}"
    latency $kind "1 node on NATS: A → A" "${mqtt[0]}" "${mqtt[0]}"
    start_node b "$prefix" "$REPLICAS" "$filter"
    start_node c "$prefix" "$REPLICAS" "$filter"
    want fanout && fanout $kind "3 nodes on NATS" "${mqtt[0]}" "${mqtt[@]}"
    latency $kind "3 nodes on NATS: A → B and C" "${mqtt[0]}" "${mqtt[1]}" "${mqtt[2]}"
    stop_nodes "$prefix"
  done
  if want durable; then
    for r in 1 3; do
      durable_publishes "$r" "$CONC" "$MSGS"
      durable_publishes "$r" 1 "$((MSGS / 10))"
    done
  fi
done
echo >&2
[ "$retries" -gt 0 ] && printf 'streamhub node starts retried: %s; the reasons: %s\n' "$retries" \
  "$(grep -o 'server: .*' "$dir/streamhub.log" | sort | uniq -c | tr '\n' ';')" >&2
# kept for a second look: the raw results and the load generators' stderr
cp "$results" "$bin/cluster-results.txt"
cp "$dir/errors" "$bin/cluster-errors.txt" 2>/dev/null || true
python3 bench/cluster_tables.py "$results" "$SUBS" "$LATSECS" "$SIZE" "$REPLICAS"
