#!/usr/bin/env bash
# What recording a path costs (issue 26): one 720p30 ~2 Mbit/s stream
# (ffmpeg testsrc, libx264 ultrafast zerolatency, AAC; bench/media.sh's
# command) published over RTMP, encoded once and sent by ffmpeg's tee
# muxer to two streamhub servers with only RTMP on (no MQTT, RTSP or
# WebRTC; HTTP idle, HLS muxers start on a request only): "live" without
# recording, "record" with media.record on the path (fMP4 segments of
# SEGMENT, default 10s, under its data directory). Both are measured over
# the same ROUNDS windows of ROUND seconds, after WARMUP: CPU milliseconds
# per second of stream (/proc/PID/stat), bytes read from the publisher
# (rchar) and written to storage (write_bytes, /proc/PID/io) per second,
# and RSS. At the end, the recorded segments' bytes over the span they
# cover. CPU per second of stream counts the seconds of stream a round
# read (its bytes over the stream's rate, from the segments), so that a
# publisher lagging on a busy machine does not lower it. Both servers on
# core 0, ffmpeg on core 1 (PIN=0: unpinned).
# Stops by itself.
#
#   bash bench/record.sh                      # 6 rounds of 20 s
#   ROUNDS=3 ROUND=30 bash bench/record.sh
#   PROFILE=30 bash bench/record.sh           # and a CPU profile of the recording server, 30 s
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-6} ROUND=${ROUND:-20} WARMUP=${WARMUP:-12} SEGMENT=${SEGMENT:-10s} PROFILE=${PROFILE:-0}
with_scratch
go build -o "$dir/streamhub" ./cmd/streamhub

# server NAME [extra flags...]: a streamhub with only RTMP on, data in $dir/NAME.
server() {
  local name=$1 rtmp http
  shift
  rtmp=$(free_port) http=$(free_port)
  mkdir -p "$dir/$name"
  STREAMHUB_HTTP_PPROF=true $pin_server "$dir/streamhub" serve --http 127.0.0.1:$http --mqtt "" --rtmp 127.0.0.1:$rtmp \
    --rtsp "" --webrtc-udp "" --data "$dir/$name" "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  wait_port "$http"; wait_port "$rtmp"
  eval "${name}_pid=$! ${name}_rtmp=$rtmp ${name}_http=$http"
}
cat >"$dir/record.yaml" <<EOF
media:
  record: [{filter: "live/#", segment: $SEGMENT}]
EOF
server live
server record --config "$dir/record.yaml"

$pin_bench ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=1280x720:rate=30 -f lavfi -i sine \
  -c:v libx264 -pix_fmt yuv420p -preset ultrafast -tune zerolatency -b:v 2M -g 30 -c:a aac -flags +global_header \
  -map 0:v -map 1:a -f tee \
  "[f=flv:onfail=abort]rtmp://127.0.0.1:$live_rtmp/live/cam1|[f=flv:onfail=abort]rtmp://127.0.0.1:$record_rtmp/live/cam1" \
  2>"$dir/publisher.log" &
pids+=($!)
sleep "$WARMUP"
if [ "$PROFILE" != 0 ]; then
  out=$(mktemp -d)
  curl -s -o "$out/record.pprof" "http://127.0.0.1:$record_http/debug/pprof/profile?seconds=$PROFILE"
  cp "$dir/streamhub" "$out/streamhub"
  echo "profile: go tool pprof -top $out/streamhub $out/record.pprof"
fi

# sample NAME: "cpu_ticks rchar write_bytes" of a server.
sample() {
  local pid
  eval "pid=\$${1}_pid"
  echo "$(awk '{print $14+$15}' /proc/$pid/stat) $(awk '/^rchar/ {r=$2} /^write_bytes/ {w=$2} END {print r, w}' /proc/$pid/io)"
}
rss() { local pid; eval "pid=\$${1}_pid"; awk '/^VmRSS/ {print $2}' /proc/$pid/status; }
: >"$dir/rounds"
for round in $(seq "$ROUNDS"); do
  l0=$(sample live) r0=$(sample record) t0=$(date +%s.%N)
  sleep "$ROUND"
  l1=$(sample live) r1=$(sample record) t1=$(date +%s.%N)
  echo "$round $t0 $t1 $l0 $l1 $r0 $r1 $(rss live) $(rss record)" >>"$dir/rounds"
done
kill "${pids[-1]}" 2>/dev/null || true # the publisher: the recording's last segment is written
sleep 2
cat "$dir/publisher.log" "$dir/record.log" | tail -20
python3 - "$dir" "$(getconf CLK_TCK)" <<'PY'
import os, re, statistics, sys
d, hz = sys.argv[1], int(sys.argv[2])
rows = []
for line in open(d + "/rounds"):
    f = line.split()
    t = float(f[2]) - float(f[1])
    l0, l1, r0, r1 = (list(map(int, f[i:i+3])) for i in (3, 6, 9, 12))
    rows.append(dict(
        live_cpu=(l1[0]-l0[0]) * 1000 / hz / t, rec_cpu=(r1[0]-r0[0]) * 1000 / hz / t,
        live_in=(l1[1]-l0[1]) / t / 1024, rec_in=(r1[1]-r0[1]) / t / 1024,
        live_w=(l1[2]-l0[2]) / t / 1024, rec_w=(r1[2]-r0[2]) / t / 1024,
        live_rss=int(f[15]) / 1024, rec_rss=int(f[16]) / 1024))
# The segments: NAME is START_DURATIONus.mp4, so bytes per second of
# recorded stream need no clock.
size = secs = 0
n = 0
for root, _, files in os.walk(d + "/record"):
    for name in files:
        m = re.search(r"_(\d+)us\.mp4$", name)
        if m:
            n, size, secs = n + 1, size + os.path.getsize(os.path.join(root, name)), secs + int(m.group(1)) / 1e6
rate = size / secs / 1024 if secs else 0  # KiB per second of stream
for r in rows:  # per second of stream: over the seconds of stream the round read
    if rate and r["live_in"] and r["rec_in"]:
        r["live_cpu"] *= rate / r["live_in"]
        r["rec_cpu"] *= rate / r["rec_in"]

print("| round | CPU live, per s of stream | CPU record | recording's CPU | read live | read record | written live | written record | RSS live | RSS record |")
print("|---|---|---|---|---|---|---|---|---|---|")
for i, r in enumerate(rows, 1):
    print(f"| {i} | {r['live_cpu']:.1f} ms/s | {r['rec_cpu']:.1f} ms/s | {r['rec_cpu']-r['live_cpu']:+.1f} ms/s | {r['live_in']:.0f} KiB/s | {r['rec_in']:.0f} KiB/s | "
          f"{r['live_w']:.0f} KiB/s | {r['rec_w']:.0f} KiB/s | {r['live_rss']:.1f} MiB | {r['rec_rss']:.1f} MiB |")
med = lambda k: statistics.median(r[k] for r in rows)
diff = statistics.median(r["rec_cpu"] - r["live_cpu"] for r in rows)
print(f"| median | {med('live_cpu'):.1f} | {med('rec_cpu'):.1f} | {diff:+.1f} | {med('live_in'):.0f} | {med('rec_in'):.0f} | {med('live_w'):.0f} | {med('rec_w'):.0f} | {med('live_rss'):.1f} | {med('rec_rss'):.1f} |")
if secs:
    print(f"segments: {n}, {size/1024:.0f} KiB over {secs:.1f} s of stream: {rate:.0f} KiB per second of stream")
tot = lambda k0, k1: sum(r[k1] for r in rows) / sum(r[k0] for r in rows)
print(f"all rounds: written/read by the recording server {tot('rec_in', 'rec_w')*100:.1f}%, by the live one {tot('live_in', 'live_w')*100:.1f}% "
      "(write_bytes over rchar; a round sees the segments finished in it)")
PY
