#!/usr/bin/env bash
# Idle MQTT connections on event-driven I/O: the current server beside the
# prototypes in bench/idleproto (stdnet: goroutine per connection, the
# control; nbio, gnet, netpoll, own epoll layer; park: std net while
# active, parked in an epoll of our own while idle; nbiotls: nbio with its
# non-blocking TLS; fdconn: our own accept and epoll, a goroutine per
# burst of input), each
# holding N idle connections (CONNECT + SUBSCRIBE), then one publish to all.
# Prints one JSON line per server and round (bench/idleproto/client).
#
#   bash bench/idleproto/run.sh [rounds] [connections]
#   ONLY="nbio streamhub" bash bench/idleproto/run.sh 1 15000
#   TLS=1 ONLY="streamhub stdnet park" bash bench/idleproto/run.sh 3 15000   # MQTT over TLS
#
# The prototypes are a module of their own so that their libraries stay out
# of the server's go.mod. Open files are capped at 20,000 per process: keep
# connections at 15,000 or below.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
rounds=${1:-1} n=${2:-15000}
bin=$PWD/bench/.bin/idleproto
mkdir -p "$bin"
go build -o "$bin/streamhub" ./cmd/streamhub
(cd bench/idleproto && go build -o "$bin/" ./...)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
tlsflag=""
if [ -n "${TLS:-}" ]; then # a throwaway certificate for streamhub; the prototypes make their own
  tlsflag=-tls
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$bin/key.pem" -out "$bin/cert.pem" \
    -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
fi
servers=(streamhub stdnet nbio gnet netpoll epoll park fdconn)
[ -n "$tlsflag" ] && servers=(streamhub stdnet park nbiotls) # gnet and netpoll have no TLS
for round in $(seq "$rounds"); do
  for s in "${servers[@]}"; do
    [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $s "* ]] && continue
    [ -x "$bin/$s" ] || continue
    port=$(free_port)
    if [ "$s" = streamhub ] && [ -n "$tlsflag" ]; then
      STREAMHUB_MQTT_CERT=$bin/cert.pem STREAMHUB_MQTT_KEY=$bin/key.pem STREAMHUB_MQTT_TLSADDR=127.0.0.1:$port \
        $pin_server "$bin/streamhub" serve --http 127.0.0.1:0 --mqtt "" --rtmp "" --rtsp "" --log-level warn &
    elif [ "$s" = streamhub ]; then
      $pin_server "$bin/streamhub" serve --http 127.0.0.1:0 --mqtt "127.0.0.1:$port" --rtmp "" --rtsp "" --log-level warn &
    else
      # shellcheck disable=SC2086
      $pin_server "$bin/$s" -addr "127.0.0.1:$port" $tlsflag >/dev/null 2>&1 &
    fi
    pid=$!
    wait_port "$port"
    sleep 0.5 # let the server settle before the baseline RSS
    # shellcheck disable=SC2086
    out=$($pin_bench timeout 180 "$bin/client" -addr "127.0.0.1:$port" -n "$n" -pid "$pid" $tlsflag || echo '{"failed":true}')
    echo "{\"server\":\"$s$tlsflag\",\"round\":$round,${out#\{}"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    sleep 1 # let the sockets of the last run go
  done
done
