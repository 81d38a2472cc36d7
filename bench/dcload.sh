#!/usr/bin/env bash
# Fan-out over WebRTC data channels beside WebSocket, same load
# (bench/dcload): PEERS subscribers on one topic, MESSAGES of 100 B published
# with HTTP POST (8 at once); a fresh server per run, on core 0, the load on
# core 1; server CPU per delivery from /proc/PID/stat. Kinds: webrtc
# (reliable ordered channel labelled with the topic), webrtc-unordered
# (ordered false, maxRetransmits 0) and ws (/v1/ws/<topic>).
#
#   bash bench/dcload.sh                      # 100 peers, 2000 messages, 3 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
PEERS=${PEERS:-100} MESSAGES=${MESSAGES:-2000} ROUNDS=${ROUNDS:-3}
with_scratch
go build -o "$dir/streamhub" ./cmd/streamhub
go build -o "$dir/dcload" ./bench/dcload
for round in $(seq "$ROUNDS"); do
  for kind in webrtc webrtc-unordered ws; do
    http=$(free_port) udp=$(free_port)
    $pin_server "$dir/streamhub" serve --http 127.0.0.1:$http --mqtt "" --rtmp "" --rtsp "" \
      --webrtc-udp 127.0.0.1:$udp --log-level warn >>"$dir/server.log" 2>&1 &
    server=$!; pids+=($server)
    wait_port "$http"
    flags=(-kind "${kind%-unordered}")
    [ "$kind" = webrtc-unordered ] && flags+=(-unordered)
    echo "round=$round $($pin_bench "$dir/dcload" -http "http://127.0.0.1:$http" "${flags[@]}" \
      -peers "$PEERS" -messages "$MESSAGES" -pid "$server")"
    kill "$server"; wait "$server" 2>/dev/null || true
  done
done
