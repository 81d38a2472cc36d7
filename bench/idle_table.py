"""Markdown tables of bench/idle.sh's results: RSS growth per connection by
server and protocol, the kernel's TCP socket memory apart, and the
arithmetic for 1,000,000 idle connections on one 24 GiB node.

    python3 bench/idle_table.py RESULTS CLIENTS

RESULTS has one line per measurement: "SERVER PROTOCOL {json of streamhub
bench --json}"."""
import json, statistics, sys

rows, order = {}, []
for line in open(sys.argv[1]):
    server, proto, js = line.split(' ', 2)
    if (server, proto) not in rows:
        order.append((server, proto))
    rows.setdefault((server, proto), []).append(json.loads(js or '{}'))
clients = int(sys.argv[2])
names = {'mqtt': 'MQTT (TCP)', 'mqtts': 'MQTT over TLS', 'mqtt-ws': 'MQTT over WebSocket', 'sse': 'SSE', 'ndjson': 'NDJSON',
         'ws': 'WebSocket (plain)', 'ws-json': 'WebSocket (JSON protocol)', 'nats': 'NATS protocol'}
goal = {'mqtt': 2048, 'mqtts': 3072, 'mqtt-ws': 3072, 'sse': 3072, 'ndjson': 3072, 'ws': 3072, 'ws-json': 3072}


def med(v):
    return statistics.median(v) if v else 0


def cell(vals):
    if not vals:
        return 'n/a'
    n = lambda v: f"{int(round(v)):,}"  # no "-0"
    return f"{n(med(vals))} B" + (f" ({n(min(vals))}–{n(max(vals))})" if len(vals) > 1 else '')


def per_socket(r, key):
    """Machine-wide growth over both ends of every loopback connection."""
    held = r.get('received', 0)
    return r.get(key, 0) / (2 * held) if held else 0


def held_runs(server, proto):
    return [r for r in rows[(server, proto)] if r.get('received')]


print("| server | protocol | held | server RSS growth per connection | goal | kernel: TCP slab per socket | kernel: socket buffers per socket |")
print("|---|---|---|---|---|---|---|")
for server, proto in order:
    rs = held_runs(server, proto)
    held = min((r['received'] for r in rs), default=0)
    g = f"{goal[proto]:,} B" if server == 'streamhub' and proto in goal else ''
    print(f"| {server} | {names.get(proto, proto)} | {held:,} of {clients:,} | "
          f"{cell([r.get('server_bytes_per_connection', 0) for r in rs])} | {g} | "
          f"{cell([per_socket(r, 'kernel_tcp_slab_bytes') for r in rs])} | "
          f"{cell([per_socket(r, 'kernel_tcp_buffer_bytes') for r in rs])} |")

# On paper the kernel's share is one of each of a socket's objects at this
# kernel's sizes (/proc/slabinfo; other processes move these caches during a
# run, so the measured TCP slab column above is only a check), plus the
# measured socket buffers.
objsize = {}
try:
    for line in open('/proc/slabinfo'):
        f = line.split()
        if len(f) > 3 and f[0] in ('TCP', 'sock_inode_cache', 'filp', 'dentry', 'eventpoll_epi'):
            objsize[f[0]] = int(f[3])
except OSError:
    pass
objects = sum(objsize.values())
GiB, million, node = 1 << 30, 1_000_000, 24
print(f"\nOn paper for 1,000,000 idle connections on one {node} GiB node, streamhub's medians: the process "
      "(RSS growth per connection), and the kernel apart for the server's end of each connection: socket buffers "
      "(sockstat, measured)" + (", and one each of " + ", ".join(f"{k} {v:,} B" for k, v in objsize.items())
                                + " (slabinfo object sizes, struct tcp_sock in TCP)" if objsize else
                                " (slabinfo unreadable: socket objects not counted)") + ".\n")
print("| protocol | process | kernel | total | within 24 GiB | total at the goal |")
print("|---|---|---|---|---|---|")
for server, proto in order:
    rs = held_runs(server, proto)
    if server != 'streamhub' or not rs:
        continue
    proc = med([r.get('server_bytes_per_connection', 0) for r in rs]) * million / GiB
    buffers = max(0, med([per_socket(r, 'kernel_tcp_buffer_bytes') for r in rs]))
    kern = (buffers + objects) * million / GiB
    at_goal = f"{goal[proto] * million / GiB + kern:.1f} GiB" if proto in goal else ''
    print(f"| {names.get(proto, proto)} | {proc:.1f} GiB | {kern:.1f} GiB | {proc + kern:.1f} GiB | "
          f"{'yes' if proc + kern < node else 'no'} | {at_goal} |")
