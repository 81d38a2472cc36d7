#!/usr/bin/env bash
# Publisher→reader latency of a media path over RTSP, RTMP and WHEP
# (bench/medialatency): a pre-encoded 720p30 H.264 clip (libx264 ultrafast,
# zerolatency, 2 Mbit/s, a keyframe a second) is published over RTMP at
# 30 fps with the wall clock in an SEI NAL unit of every frame; a gortsplib
# RTSP reader (TCP), a gortmplib RTMP reader and a pion WHEP reader take it
# off their own clock on arrival. Encoding and ffmpeg start-up are outside
# the figure; each reader's start-up (connect to first frame) is printed
# apart from its steady state (frames after WARMUP). Stops by itself.
#
#   bash bench/medialatency.sh                # 20 s
#   CLUSTER=1 bash bench/medialatency.sh      # and the same readers on node b
#
# CLUSTER=1: a nats-server with JetStream and two streamhub nodes on it;
# the publisher and the first readers on node a, the same three readers
# (remote-*) on node b, in the same run: what a reader on another node
# adds is the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-20} WARMUP=${WARMUP:-3}
with_scratch
go build -o "$dir/streamhub" ./cmd/streamhub
go build -o "$dir/medialatency" ./bench/medialatency
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=1280x720:rate=30 -t 10 -c:v libx264 -preset ultrafast \
  -tune zerolatency -pix_fmt yuv420p -b:v 2M -g 30 -x264-params aud=1 -f h264 "$dir/in.h264"

# node NAME [flags]: a streamhub on free ports, its addresses in
# NAME_rtmp, NAME_rtsp and NAME_http.
node() {
  local name=$1 http rtmp rtsp udp
  shift
  http=$(free_port) rtmp=$(free_port) rtsp=$(free_port) udp=$(free_port)
  $pin_server "$dir/streamhub" serve --http 127.0.0.1:$http --mqtt "" --rtmp 127.0.0.1:$rtmp --rtsp 127.0.0.1:$rtsp \
    --webrtc-udp 127.0.0.1:$udp "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  wait_port "$http"; wait_port "$rtmp"; wait_port "$rtsp"
  eval "${name}_rtmp=127.0.0.1:$rtmp ${name}_rtsp=127.0.0.1:$rtsp ${name}_http=http://127.0.0.1:$http"
}
remote=()
if [ "${CLUSTER:-0}" = 1 ]; then
  nats=$(free_port)
  $pin_server nats-server -a 127.0.0.1 -p "$nats" -js -sd "$dir/js" >"$dir/nats.log" 2>&1 &
  pids+=($!)
  wait_port "$nats"
  node a --cluster "nats://127.0.0.1:$nats" --node a
  node b --cluster "nats://127.0.0.1:$nats" --node b
  remote=(-remote "$b_rtmp,$b_rtsp,$b_http")
else
  node a
fi
$pin_bench "$dir/medialatency" -h264 "$dir/in.h264" -rtmp "$a_rtmp" -rtsp "$a_rtsp" -http "$a_http" "${remote[@]}" \
  -duration "${DURATION}s" -warmup "${WARMUP}s"
