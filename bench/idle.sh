#!/usr/bin/env bash
# Idle connections per protocol (issue 29): `streamhub bench --scenario idle`
# holds CLIENTS connections for 2 s (HOLD=65s: past the first heartbeats
# and pings, the steady state) on every protocol streamhub keeps open
# (MQTT over TCP, TLS and WebSocket, SSE, NDJSON, the plain and the JSON
# WebSocket) and, in the same run, on Mosquitto (MQTT over TCP, TLS and
# WebSocket), NATS (its MQTT listener and its own protocol), mochi-mqtt and
# nginx's nchan (SSE and WebSocket). Each server is started fresh for each
# measurement, on core 0 with the generator on core 1 (PIN=0 turns it off).
# Prints a markdown table: the server's RSS growth per connection, and the
# kernel's memory for the TCP sockets apart (machine-wide, so both ends of
# every loopback connection: the TCP slab, struct tcp_sock, read from
# /proc/slabinfo as root; socket buffers from /proc/net/sockstat), then the
# arithmetic for 1,000,000 connections on one 24 GiB node.
#
#   bash bench/idle.sh [rounds] [clients] [BINARY]
#
# BINARY is the streamhub server measured (default: built from this tree);
# the load generator is always built from this tree. ONLY="streamhub nchan"
# measures some servers only, PROTOS="mqtt sse" some protocols only. Needs mosquitto, nginx with
# libnginx-mod-nchan (installed from Debian when missing) and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-1} clients=${2:-15000} server_bin=${3:-}
bin=$PWD/bench/.bin
mkdir -p "$bin"
need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
[ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] || need+=(nginx libnginx-mod-nchan)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
go build -o "$bin/streamhub-gen" ./cmd/streamhub
if [ -z "$server_bin" ]; then
  go build -o "$bin/streamhub" ./cmd/streamhub
  server_bin=$bin/streamhub
fi
server_bin=$(realpath "$server_bin")
go build -o "$bin/mochi" ./bench/mochi
# nats-server 2.10+ as compare.sh installs it; Debian's (2.9) if that fails.
nats=$bin/nats-server
[ -x "$nats" ] || GOBIN=$bin go install github.com/nats-io/nats-server/v2@v2.15.2 2>/dev/null || nats=/usr/sbin/nats-server

dir=$(mktemp -d) pid=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
trap 'stop; rm -rf "$dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

# protocols SERVER lists what is measured on it.
protocols() {
  case $1 in
    streamhub) echo mqtt mqtts mqtt-ws sse ndjson ws ws-json ;;
    mosquitto) echo mqtt mqtts ;; # Debian's 2.0.11 fails to open its websockets listener here
    nats) echo mqtt nats ;;
    mochi) echo mqtt ;;
    nchan) echo sse ws ;;
  esac
}

# start SERVER starts a server on free ports and sets pid (the process
# whose memory is read) and urls (protocol=target lines).
start() {
  local p q r
  p=$(free_port) q=$(free_port) r=$(free_port)
  case $1 in
    streamhub)
      STREAMHUB_MQTT_CERT=$dir/cert.pem STREAMHUB_MQTT_KEY=$dir/key.pem STREAMHUB_MQTT_TLSADDR=127.0.0.1:$q \
        $pin_server "$server_bin" serve --http "127.0.0.1:$p" --mqtt "127.0.0.1:$r" --log-level warn &
      pid=$!
      wait_port "$p"
      urls="mqtt=mqtt://127.0.0.1:$r
mqtts=mqtts://127.0.0.1:$q
mqtt-ws=mqtt+ws://127.0.0.1:$p/mqtt
sse=http://127.0.0.1:$p/v1/subscribe?topic={topic}
ndjson=http://127.0.0.1:$p/v1/subscribe?topic={topic}&format=ndjson
ws=ws://127.0.0.1:$p/v1/ws/{topic}
ws-json=json+ws://127.0.0.1:$p/v1/ws" ;;
    mosquitto)
      # user: as root it would drop to "mosquitto" before reading the key;
      # without set_tcp_nodelay each TLS connect waits out a delayed ACK.
      cat > "$dir/mosquitto.conf" <<CONF
user $(id -un)
set_tcp_nodelay ${NODELAY:-true}
per_listener_settings false
allow_anonymous true
listener $r 127.0.0.1
listener $q 127.0.0.1
certfile $dir/cert.pem
keyfile $dir/key.pem
CONF
      $pin_server "$mosq" -c "$dir/mosquitto.conf" >/dev/null 2>&1 &
      pid=$!
      urls="mqtt=mqtt://127.0.0.1:$r
mqtts=mqtts://127.0.0.1:$q" ;;
    nats)
      nats_mqtt_conf "$dir" "$q"
      sed -i "s/^listen: .*/listen: 127.0.0.1:$p/" "$dir/nats.conf"
      rm -rf "$dir/js"
      $pin_server "$nats" -c "$dir/nats.conf" >/dev/null 2>&1 &
      pid=$!
      urls="mqtt=mqtt://127.0.0.1:$q
nats=nats://127.0.0.1:$p" ;;
    mochi)
      $pin_server "$bin/mochi" -addr "127.0.0.1:$q" >/dev/null 2>&1 &
      pid=$!
      urls="mqtt=mqtt://127.0.0.1:$q" ;;
    nchan)
      nchan_conf "$dir" "$q"
      $pin_server nginx -c "$dir/nginx.conf" -p "$dir" &
      pid=$!
      urls="sse=http://127.0.0.1:$q/sub/{topic}
ws=ws://127.0.0.1:$q/ws/{topic}" ;;
  esac
  wait_port "$q" || { echo "$1 did not start" >&2; return 1; }
  sleep 0.5
}

results=$dir/results
: > "$results"
for round in $(seq "$rounds"); do
  for server in ${ONLY:-streamhub mosquitto nats mochi nchan}; do
    # A fresh server per protocol, so that each figure starts from the
    # same empty process.
    for proto in $(protocols "$server"); do
      case " ${PROTOS:-$proto} " in *" $proto "*) ;; *) continue ;; esac
      if ! start "$server"; then stop; continue; fi
      measured=$pid
      [ "$server" = nchan ] && measured=$(pgrep -P "$pid" | head -1) # nginx's worker
      target=$(echo "$urls" | sed -n "s/^$proto=//p")
      printf '\rround %s/%s %-10s %-8s' "$round" "$rounds" "$server" "$proto" >&2
      out=$($pin_bench "$bin/streamhub-gen" bench --scenario idle --clients "$clients" --duration "${HOLD:-2s}" \
        --target "$target" --ca "$dir/cert.pem" --pid "$measured" --json 2>/dev/null || echo '{}')
      echo "$server $proto $out" >> "$results"
      stop
    done
  done
done
echo >&2
cp "$results" "$bin/idle-results.txt" # kept, to print the table again
python3 bench/idle_table.py "$results" "$clients"
