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
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-20} WARMUP=${WARMUP:-3}
with_scratch
go build -o "$dir/streamhub" ./cmd/streamhub
go build -o "$dir/medialatency" ./bench/medialatency
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=1280x720:rate=30 -t 10 -c:v libx264 -preset ultrafast \
  -tune zerolatency -pix_fmt yuv420p -b:v 2M -g 30 -x264-params aud=1 -f h264 "$dir/in.h264"

http=$(free_port) rtmp=$(free_port) rtsp=$(free_port) udp=$(free_port)
$pin_server "$dir/streamhub" serve --http 127.0.0.1:$http --mqtt "" --rtmp 127.0.0.1:$rtmp --rtsp 127.0.0.1:$rtsp \
  --webrtc-udp 127.0.0.1:$udp >"$dir/server.log" 2>&1 &
pids+=($!)
wait_port "$http"; wait_port "$rtmp"; wait_port "$rtsp"
$pin_bench "$dir/medialatency" -h264 "$dir/in.h264" -rtmp 127.0.0.1:$rtmp -rtsp 127.0.0.1:$rtsp \
  -http http://127.0.0.1:$http -duration "${DURATION}s" -warmup "${WARMUP}s"
