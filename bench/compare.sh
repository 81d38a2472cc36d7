#!/usr/bin/env bash
# MQTT side by side: streamhub, Mosquitto, NATS (its MQTT listener) and
# mochi-mqtt on loopback, each on a port of its own with a config of its
# own, driven by the same `streamhub bench` load, scenarios interleaved and
# repeated. Prints markdown tables (medians and ranges) for docs/BENCHMARKS.md.
#
#   bash bench/compare.sh [rounds]
#   ONLY="pubsub fanin" bash bench/compare.sh [rounds]   # some scenarios only
#
# On a machine with two or more cores each broker runs on core 0 and the
# load generator on core 1 (PIN=0 turns this off), so neither's work hides
# the other's; "server busy" (server CPU time over wall time) shows which
# side limited a run: near 100% the broker was saturated.
#
# Installs mosquitto from Debian when missing; nats-server 2.10+ is built
# with `go install` into bench/.bin (Debian's is older); mochi is built from
# bench/mochi.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-3}
bin=$PWD/bench/.bin
mkdir -p "$bin"
if ! command -v mosquitto >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get install -y -qq mosquitto >/dev/null
fi
mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$bin/nats-server" ] || GOBIN=$bin go install github.com/nats-io/nats-server/v2@v2.15.2
go build -o "$bin/streamhub" ./cmd/streamhub
go build -o "$bin/mochi" ./bench/mochi
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

start() { # broker port
  case $1 in
    streamhub) $pin_server "$bin/streamhub" serve --http 127.0.0.1:0 --mqtt "127.0.0.1:$2" --log-level warn & ;;
    mosquitto) printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$2" > "$tmp/mosquitto.conf"
               $pin_server "$mosq" -c "$tmp/mosquitto.conf" >/dev/null 2>&1 & ;;
    nats)      nats_mqtt_conf "$tmp" "$2"
               $pin_server "$bin/nats-server" -c "$tmp/nats.conf" >/dev/null 2>&1 & ;;
    mochi)     $pin_server "$bin/mochi" -addr "127.0.0.1:$2" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  wait_port "$2"
}

scenarios=(
  "${mqtt_loads[@]}"
  # Unpaced: each client publishes 10,000 messages to its own topic as fast
  # as it can while subscribed to it on the same connection; what a broker's
  # queue limits drop shows as lost.
  "pubsub|--scenario pubsub --clients 10 --messages 100000 --unpaced"
  "latency|--scenario latency --rate 10000 --duration 3s"
  "idle|--scenario idle --clients 15000 --duration 2s"
)
results=$tmp/results
: > "$results"
for round in $(seq "$rounds"); do
  for s in "${scenarios[@]}"; do
    name=${s%%|*} args=${s#*|}
    [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && continue
    for broker in streamhub mosquitto nats mochi; do
      port=$(free_port)
      start "$broker" "$port"
      # shellcheck disable=SC2086
      out=$($pin_bench "$bin/streamhub" bench --target "mqtt://127.0.0.1:$port" $args --pid "$pid" --json 2>/dev/null || echo '{}')
      echo "$broker $name $out" >> "$results"
      printf '\rround %s/%s %-8s %-10s' "$round" "$rounds" "$name" "$broker" >&2
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    done
  done
done
echo >&2
cp "$results" "$bin/compare-results.txt" # kept, to redraw the chart: python3 bench/chart.py FILE OUT.svg
[ -z "${ONLY:-}" ] && python3 bench/chart.py "$results" docs/bench-mqtt.svg
python3 - "$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    broker, scenario, js = line.split(' ', 2)
    r = json.loads(js or '{}')
    rows.setdefault((scenario, broker), []).append(r)
brokers = ['streamhub', 'mosquitto', 'nats', 'mochi']
def med(vals): return statistics.median(vals) if vals else 0
def fmt(vals, f): return f"{f(med(vals))} ({f(min(vals))}–{f(max(vals))})" if vals else "n/a"
for scenario, title in [('1to1', '1→1, 10 pairs, 300k msgs'), ('fanin', '10→1, 300k msgs'), ('fanout', '1→100, 5000 msgs'),
                        ('pubsub', '10 clients each publishing to and subscribed to its own topic on one connection, unpaced, 100k msgs')]:
    if not any(s == scenario for s, _ in rows):
        continue
    print(f"\n### {title}, QoS 0, 100 B\n")
    print("| broker | delivered/s | lost | server CPU per delivery | server busy | vs streamhub (delivered/s) |")
    print("|---|---|---|---|---|---|")
    base = med([r.get('delivered_per_second', 0) for r in rows.get((scenario, 'streamhub'), [])]) or 1
    for b in brokers:
        rs = rows.get((scenario, b), [])
        rate = [r.get('delivered_per_second', 0) for r in rs]
        lost = sum(max(0, r.get('expected', 0) - r.get('received', 0)) for r in rs)
        cpu = [r.get('server_cpu_per_delivery_ns', 0) / 1000 for r in rs]
        busy = [r.get('server_cpu_ns', 0) / 1e9 / r['seconds'] * 100 for r in rs if r.get('seconds')]
        print(f"| {b} | {fmt(rate, lambda v: f'{v:,.0f}')} | {lost} | {fmt(cpu, lambda v: f'{v:.2f} µs')} | {fmt(busy, lambda v: f'{v:.0f}%')} | {med(rate)/base:.2f} |")
if not any(s == 'latency' for s, _ in rows):
    sys.exit()
print("\n### Latency, QoS 0, 100 B at 10,000 msg/s for 3 s\n")
print("| broker | p50 | p90 | p99 | p99.9 |")
print("|---|---|---|---|---|")
for b in brokers:
    rs = rows.get(('latency', b), [])
    cell = lambda k: fmt([r.get(k, 0) / 1e6 for r in rs], lambda v: f"{v:.2f} ms")
    print(f"| {b} | {cell('p50_ns')} | {cell('p90_ns')} | {cell('p99_ns')} | {cell('p999_ns')} |")
print("\n![MQTT throughput, CPU per delivery, latency and idle memory](bench-mqtt.svg)")
print("\n### Idle MQTT connections (15,000 held, server RSS growth per connection)\n")
print("| broker | bytes per connection |")
print("|---|---|")
for b in brokers:
    rs = rows.get(('idle', b), [])
    print(f"| {b} | {fmt([r.get('server_bytes_per_connection', 0) for r in rs], lambda v: f'{v:,.0f}')} |")
PY
