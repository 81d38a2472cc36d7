#!/usr/bin/env bash
# CPU of a path read on another node (docs/CLUSTER.md, "Media across
# nodes"): one nats-server with JetStream, streamhub nodes a and b on it,
# one 720p30 2 Mbit/s stream (ffmpeg testsrc, libx264 ultrafast
# zerolatency, AAC) published over RTMP to a; then 1 and 10 RTSP readers
# (`ffmpeg -c copy -f null`) on b, or on a itself with WHERE=a, each
# measured for DURATION seconds: CPU milliseconds per second of a, b and
# nats-server. Stops by itself.
#
#   bash bench/clustermedia.sh            # readers on b (remote)
#   WHERE=a bash bench/clustermedia.sh    # readers on a (local), to compare
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20} WHERE=${WHERE:-b}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
go build -o "$dir/streamhub" ./cmd/streamhub
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
natsport=$(free) rtmpa=$(free) rtspa=$(free) rtspb=$(free)
nats-server -a 127.0.0.1 -p "$natsport" -js -sd "$dir/js" >"$dir/nats.log" 2>&1 & nats=$!; pids+=("$nats")
sleep 1
node() { # name rtmp rtsp
	"$dir/streamhub" serve --http 127.0.0.1:0 --mqtt 127.0.0.1:0 --rtmp "127.0.0.1:$2" --rtsp "127.0.0.1:$3" \
		--webrtc-udp 127.0.0.1:0 --cluster "nats://127.0.0.1:$natsport" --node "$1" >"$dir/$1.log" 2>&1 &
	pids+=("$!")
}
node a "$rtmpa" "$rtspa"; a=${pids[-1]}
node b "$(free)" "$rtspb"; b=${pids[-1]}
sleep 3
ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=1280x720:rate=30 -f lavfi -i sine \
	-c:v libx264 -pix_fmt yuv420p -preset ultrafast -tune zerolatency -b:v 2M -g 30 -c:a aac \
	-f flv "rtmp://127.0.0.1:$rtmpa/live/cam1" 2>/dev/null &
pids+=("$!")
sleep 5
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
measure() {
	local a0 b0 n0
	a0=$(ticks "$a") b0=$(ticks "$b") n0=$(ticks "$nats")
	sleep "$DURATION"
	echo "$1: a $((($(ticks "$a") - a0) * 1000 / hz / DURATION)) ms/s, b $((($(ticks "$b") - b0) * 1000 / hz / DURATION)) ms/s, nats-server $((($(ticks "$nats") - n0) * 1000 / hz / DURATION)) ms/s"
}
port=$rtspb
[ "$WHERE" = a ] && port=$rtspa
readers() {
	for _ in $(seq "$1"); do
		ffmpeg -hide_banner -loglevel error -rtsp_transport tcp -i "rtsp://127.0.0.1:$port/live/cam1" -c copy -f null - 2>/dev/null &
		pids+=("$!")
	done
	sleep 5
}
measure "no reader"
readers 1
measure "1 RTSP reader on $WHERE"
readers 9
measure "10 RTSP readers on $WHERE"
