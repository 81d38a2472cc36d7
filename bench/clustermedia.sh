#!/usr/bin/env bash
# CPU of a path read on another node (docs/CLUSTER.md, "Media across
# nodes"): one nats-server with JetStream, streamhub nodes a and b on it,
# one 720p30 2 Mbit/s stream (ffmpeg testsrc, libx264 ultrafast
# zerolatency, AAC) published over RTMP to a; then, in each of ROUNDS
# rounds, no reader, 1 and 10 RTSP readers (`ffmpeg -c copy -f null`) on
# b (remote), and 1 and 10 on a (local), each measured for DURATION
# seconds: CPU milliseconds per second of a, b and nats-server, and the
# median of the rounds. Between b's readers and a's, the script waits
# until b's copy of the path has ended (no frames sent to b any more).
# The servers and nats-server on core 0, ffmpeg on core 1 (PIN=0:
# unpinned). Stops by itself.
#
#   bash bench/clustermedia.sh                  # 3 rounds, 15 s a step
#   ROUNDS=5 DURATION=20 bash bench/clustermedia.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-15} ROUNDS=${ROUNDS:-3}
with_scratch
go build -o "$dir/streamhub" ./cmd/streamhub
natsport=$(free_port) rtmpa=$(free_port) rtspa=$(free_port) rtspb=$(free_port)
$pin_server nats-server -a 127.0.0.1 -p "$natsport" -js -sd "$dir/js" >"$dir/nats.log" 2>&1 &
nats=$!; pids+=("$nats")
wait_port "$natsport"
node() { # name rtmp rtsp
  $pin_server "$dir/streamhub" serve --http 127.0.0.1:0 --mqtt "" --rtmp "127.0.0.1:$2" --rtsp "127.0.0.1:$3" \
    --webrtc-udp "" --cluster "nats://127.0.0.1:$natsport" --node "$1" >"$dir/$1.log" 2>&1 &
  pids+=("$!")
  wait_port "$2"
}
node a "$rtmpa" "$rtspa"; a=${pids[-1]}
node b "$(free_port)" "$rtspb"; b=${pids[-1]}
$pin_bench ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=1280x720:rate=30 -f lavfi -i sine \
  -c:v libx264 -pix_fmt yuv420p -preset ultrafast -tune zerolatency -b:v 2M -g 30 -c:a aac \
  -f flv "rtmp://127.0.0.1:$rtmpa/live/cam1" 2>"$dir/publisher.log" &
pids+=("$!")
sleep 5
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
: >"$dir/steps"
measure() { # step name
  local a0 b0 n0 t0
  a0=$(ticks "$a") b0=$(ticks "$b") n0=$(ticks "$nats") t0=$(date +%s.%N)
  sleep "$DURATION"
  echo "$1|$(ticks "$a") $a0 $(ticks "$b") $b0 $(ticks "$nats") $n0 $t0 $(date +%s.%N)" >>"$dir/steps"
}
readers=()
add_readers() { # count port
  for _ in $(seq "$1"); do
    $pin_bench ffmpeg -hide_banner -loglevel error -rtsp_transport tcp -i "rtsp://127.0.0.1:$2/live/cam1" \
      -c copy -f null - 2>>"$dir/readers.log" &
    pids+=("$!") readers+=("$!")
  done
  sleep 5
}
stop_readers() {
  for p in "${readers[@]}"; do kill "$p" 2>/dev/null || true; done
  readers=()
  sleep 8 # b's copy ends 2 s after its last reader, a stops sending 3 s after b's last request
}
for _ in $(seq "$ROUNDS"); do
  measure "no reader"
  add_readers 1 "$rtspb"; measure "1 RTSP reader on b (remote)"
  add_readers 9 "$rtspb"; measure "10 RTSP readers on b (remote)"
  stop_readers
  add_readers 1 "$rtspa"; measure "1 RTSP reader on a (local)"
  add_readers 9 "$rtspa"; measure "10 RTSP readers on a (local)"
  stop_readers
done
python3 - "$dir/steps" "$hz" <<'PY'
import statistics, sys
hz = int(sys.argv[2])
steps = {}
for line in open(sys.argv[1]):
    name, f = line.rstrip("\n").split("|")
    a1, a0, b1, b0, n1, n0 = map(int, f.split()[:6])
    t = float(f.split()[7]) - float(f.split()[6])
    steps.setdefault(name, []).append([(a1-a0) * 1000 / hz / t, (b1-b0) * 1000 / hz / t, (n1-n0) * 1000 / hz / t])
print("| | node a | node b | nats-server |")
print("|---|---|---|---|")
for name, rows in steps.items():
    cells = []
    for i in range(3):
        xs = [r[i] for r in rows]
        cells.append(f"{statistics.median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})")
    print(f"| {name} | " + " | ".join(cells) + " |")
print("ms/s of CPU, median of", len(next(iter(steps.values()))), "rounds (range)")
PY
echo "reader error lines: $(grep -c . "$dir/readers.log" 2>/dev/null || echo 0)"
