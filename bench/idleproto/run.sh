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
# Variants (issue 29, idle TLS memory; bench/idleproto/tls-variants.sh runs
# them), for the prototypes, not streamhub: SERVER_FLAGS (e.g. "-cert rsa
# -notickets"), CLIENT_FLAGS (e.g. "-tlsmax 1.2 -curve x25519"), SERVER_ENV
# (e.g. "GOGC=10"), CLIENT_ENV (e.g. "GODEBUG=cpu.aes=off": the Go client
# then puts ChaCha20-Poly1305 first, and the server follows) and LABEL, a
# suffix for the server's name in the output. Run the variants with ONLY=park
# (the other prototypes take no such flags). DEBUG=1 gives park a debug
# address: the client then reports heap in use per connection and the RSS
# after debug.FreeOSMemory (HEAP=DIR also saves each run's heap profile).
#
#   TLS=1 ONLY=park DEBUG=1 CLIENT_FLAGS="-curve x25519" LABEL=-x25519 bash bench/idleproto/run.sh 2 15000
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
pid="" debugflags=()
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
    port=$(free_port) debugflags=()
    if [ "$s" = streamhub ] && [ -n "$tlsflag" ]; then
      STREAMHUB_MQTT_CERT=$bin/cert.pem STREAMHUB_MQTT_KEY=$bin/key.pem STREAMHUB_MQTT_TLSADDR=127.0.0.1:$port \
        $pin_server "$bin/streamhub" serve --http 127.0.0.1:0 --mqtt "" --rtmp "" --rtsp "" --log-level warn &
    elif [ "$s" = streamhub ]; then
      $pin_server "$bin/streamhub" serve --http 127.0.0.1:0 --mqtt "127.0.0.1:$port" --rtmp "" --rtsp "" --log-level warn &
    else
      if [ -n "${DEBUG:-}" ] && [ "$s" = park ]; then
        dport=$(free_port)
        debugflags=(-debug "127.0.0.1:$dport")
      fi
      # shellcheck disable=SC2086
      env ${SERVER_ENV:-} $pin_server "$bin/$s" -addr "127.0.0.1:$port" $tlsflag ${SERVER_FLAGS:-} "${debugflags[@]}" >/dev/null 2>&1 &
    fi
    pid=$!
    wait_port "$port"
    sleep 0.5 # let the server settle before the baseline RSS
    clientdebug=()
    if [ ${#debugflags[@]} -gt 0 ]; then
      clientdebug=(-debug "http://127.0.0.1:$dport")
      [ -n "${HEAP:-}" ] && mkdir -p "$HEAP" && clientdebug+=(-heap "$HEAP/$s$tlsflag${LABEL:-}-$round.pb.gz")
    fi
    # shellcheck disable=SC2086
    out=$(env ${CLIENT_ENV:-} $pin_bench timeout 240 "$bin/client" -addr "127.0.0.1:$port" -n "$n" -pid "$pid" $tlsflag ${CLIENT_FLAGS:-} "${clientdebug[@]}" || echo '{"failed":true}')
    echo "{\"server\":\"$s$tlsflag${LABEL:-}\",\"round\":$round,${out#\{}"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    sleep 1 # let the sockets of the last run go
  done
done
