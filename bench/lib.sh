# Shared by the scripts in bench/: free loopback ports, waiting for a
# listener, and pinning. Source it after cd-ing to the repository root.
#
# pin_server and pin_bench run the server on core 0 and the load generator
# on core 1 when the machine has two cores or more (PIN=0 turns it off), so
# neither's work hides the other's.
pin_server="" pin_bench=""
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  pin_server="taskset -c 0" pin_bench="taskset -c 1"
fi
# Media listeners off by default, so that a bench's server never clashes
# with another one's default RTMP, RTSP or WebRTC ports; the media
# scripts pass their own --rtmp/--rtsp flags, which win over these.
export STREAMHUB_RTMP_ADDR="" STREAMHUB_RTSP_ADDR="" STREAMHUB_WEBRTC_UDP=""
# nats_mqtt_conf DIR PORT: a nats-server config in DIR/nats.conf with its
# MQTT listener on PORT (which needs JetStream, stored in DIR/js).
nats_mqtt_conf() {
  printf 'listen: 127.0.0.1:-1\nserver_name: bench\njetstream { store_dir: "%s/js" }\nmqtt { listen: 127.0.0.1:%s }\n' "$1" "$2" > "$1/nats.conf"
}
# nchan_conf DIR PORT: an nginx config in DIR/nginx.conf serving nchan on
# PORT with one worker: publish with POST /pub/ID, subscribe at /sub/ID
# (EventSource) and /ws/ID (WebSocket). Start it with
# `nginx -c DIR/nginx.conf -p DIR` (in the foreground: daemon off).
nchan_conf() {
  mkdir -p "$1/nginx"
  cat > "$1/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $1/nginx.pid;
error_log $1/nginx-error.log;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $1/nginx;
  server {
    listen 127.0.0.1:$2;
    location ~ ^/pub/(.+)\$ { nchan_publisher; nchan_channel_id \$1; nchan_message_buffer_length 1000; }
    location ~ ^/sub/(.+)\$ { nchan_subscriber eventsource; nchan_channel_id \$1; }
    location ~ ^/ws/(.+)\$ { nchan_subscriber websocket; nchan_channel_id \$1; }
  }
}
CONF
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# The MQTT throughput loads that compare.sh and ab.sh both run, as
# "name|streamhub bench arguments".
mqtt_loads=(
  "1to1|--scenario 1to1 --clients 10 --messages 300000"
  "fanin|--scenario fanin --clients 10 --messages 300000"
  "fanout|--scenario fanout --clients 100 --messages 5000"
)

# with_scratch makes a temporary $dir and an empty $pids list; on exit
# every process in $pids is stopped and $dir removed.
with_scratch() {
  dir=$(mktemp -d) pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
}
