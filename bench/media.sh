#!/usr/bin/env bash
# One 720p30 ~2 Mbit/s stream (ffmpeg testsrc, libx264 ultrafast
# zerolatency, AAC) published over RTMP to streamhub, read by HLS_READERS
# HLS readers (bench/mediaload) and RTSP_READERS `ffmpeg -c copy -f null`
# readers for DURATION seconds; prints the server's CPU and memory per reader, the
# RTMP publisher→reader latency and the HLS live-edge delay, for the
# variant in HLS_VARIANT (mpegts, fmp4 or lowlatency). Stops by itself.
#
#   bash bench/media.sh                       # 200 HLS + 50 RTSP, 30 s, mpegts
#   HLS_VARIANT=lowlatency bash bench/media.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
HLS_READERS=${HLS_READERS:-200} RTSP_READERS=${RTSP_READERS:-50} DURATION=${DURATION:-30}
HLS_VARIANT=${HLS_VARIANT:-mpegts}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
go build -o "$dir/streamhub" ./cmd/streamhub
go build -o "$dir/mediaload" ./bench/mediaload

http=$(free_port) rtmp=$(free_port) rtsp=$(free_port)
STREAMHUB_HLS_VARIANT=$HLS_VARIANT $pin_server "$dir/streamhub" serve --http 127.0.0.1:$http --mqtt "" \
  --rtmp 127.0.0.1:$rtmp --rtsp 127.0.0.1:$rtsp >"$dir/server.log" 2>&1 &
server=$!; pids+=($server)
wait_port "$http"; wait_port "$rtmp"

# RTMP timestamps are milliseconds in 32 bits: offset the stream's to the
# seconds since midnight (UTC) when ffmpeg starts, so a reader can tell
# each frame's send time from its timestamp. ffmpeg's own start-up comes
# on top, so the latency below errs high, not low.
offset=$(python3 -c 'import time; t=time.time(); print(f"{t % 86400:.3f}")')
$pin_bench ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=1280x720:rate=30 -f lavfi -i sine \
  -c:v libx264 -pix_fmt yuv420p -preset ultrafast -tune zerolatency -b:v 2M -g 30 -c:a aac \
  -output_ts_offset "$offset" -f flv "rtmp://127.0.0.1:$rtmp/live/cam1" 2>"$dir/publisher.log" &
pids+=($!)
sleep 3

rss_kb() { awk '/^VmRSS/ {print $2}' /proc/$server/status; }
cpu_ticks() { awk '{print $14+$15}' /proc/$server/stat; }
base_rss=$(rss_kb) base_cpu=$(cpu_ticks) t0=$(date +%s.%N)
sleep 5
idle_cpu=$(cpu_ticks) t1=$(date +%s.%N)

for _ in $(seq "$RTSP_READERS"); do
  $pin_bench ffmpeg -hide_banner -loglevel error -rtsp_transport tcp -i "rtsp://127.0.0.1:$rtsp/live/cam1" \
    -c copy -f null - 2>>"$dir/rtsp-readers.log" &
  pids+=($!)
done
# RTMP latency: wall clock at arrival minus each video packet's timestamp.
$pin_bench ffprobe -v error -select_streams v -show_entries packet=pts_time -of csv=p=0 \
  "rtmp://127.0.0.1:$rtmp/live/cam1" 2>/dev/null | python3 -u -c '
import sys, time
for line in sys.stdin:
    try: pts = float(line.strip().rstrip(","))
    except ValueError: continue
    print(f"{(time.time() % 86400 - pts) * 1000:.1f}", flush=True)
' >"$dir/rtmp-latency" &
pids+=($!)
sleep 2
l0=$(cpu_ticks) w0=$(date +%s.%N)
$pin_bench "$dir/mediaload" -hls "http://127.0.0.1:$http/hls/live/cam1/" -readers "$HLS_READERS" -duration "${DURATION}s" >"$dir/hls.out"
l1=$(cpu_ticks) w1=$(date +%s.%N) load_rss=$(rss_kb)
tps=$(getconf CLK_TCK)
rtsp_now=$(cat "$dir/rtsp-readers.log" 2>/dev/null | grep -c . || true)
python3 - "$dir" <<PY
import statistics, sys
d = sys.argv[1]
tps, readers = $tps, $HLS_READERS + $RTSP_READERS
idle = ($idle_cpu - $base_cpu) / tps / ($t1 - $t0)
busy = ($l1 - $l0) / tps / ($w1 - $w0)
lat = [float(x) for x in open(d + "/rtmp-latency").read().split()]
lat = lat[len(lat)//3:]  # past ffprobe's probing burst
hls = dict(kv.split("=") for kv in open(d + "/hls.out").read().split())
print(f"variant={'$HLS_VARIANT'} hls_readers=$HLS_READERS rtsp_readers=$RTSP_READERS seconds=$DURATION")
print(f"server CPU: publisher only {idle*100:.1f}% of a core; with readers {busy*100:.1f}%; per reader {(busy-idle)*100/readers:.3f}%")
print(f"server RSS: publisher only {$base_rss/1024:.1f} MiB; with readers {$load_rss/1024:.1f} MiB; per reader {($load_rss-$base_rss)/readers:.0f} KiB")
if lat: print(f"RTMP publisher->reader latency ms: median {statistics.median(lat):.0f}, p95 {sorted(lat)[int(len(lat)*.95)]:.0f} ({len(lat)} video packets)")
print(f"HLS: {hls}")
PY
echo "rtsp reader error lines: $rtsp_now"
