"""Draws docs/bench-mqtt.svg from bench/compare.sh's results: delivered
messages per second, server CPU per delivery, and latency percentiles, the
median of the rounds for each broker.

    python3 bench/chart.py RESULTS OUT.svg
"""
import json
import statistics
import sys

BROKERS = ['streamhub', 'mosquitto', 'nats', 'mochi']
COLORS = {'streamhub': '#2b7bb9', 'mosquitto': '#8a8a8a', 'nats': '#27ae60', 'mochi': '#e67e22'}
SCENARIOS = [('1to1', '1→1 ×10'), ('fanin', '10→1'), ('fanout', '1→100')]


def load(path):
    rows = {}
    for line in open(path):
        broker, scenario, js = line.split(' ', 2)
        rows.setdefault((scenario, broker), []).append(json.loads(js or '{}'))
    return rows


def med(rows, scenario, broker, key, scale=1.0):
    vals = [r.get(key, 0) * scale for r in rows.get((scenario, broker), [])]
    return statistics.median(vals) if vals else 0


def panel(out, x0, y0, w, h, title, groups, values, fmt):
    """groups: labels; values[g][b] per broker; bars scaled to the panel's peak."""
    out.append(f'<text x="{x0}" y="{y0 - 8}" font-size="13" font-weight="bold">{title}</text>')
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#999"/>')
    peak = max([v for g in values for v in g] + [1e-9])
    gw = w / len(groups)
    bw = gw / (len(BROKERS) + 1)
    for gi, label in enumerate(groups):
        gx = x0 + gi * gw
        out.append(f'<text x="{gx + gw / 2:.0f}" y="{y0 + h + 16}" text-anchor="middle">{label}</text>')
        for bi, b in enumerate(BROKERS):
            v = values[gi][bi]
            bh = (h - 16) * v / peak
            x = gx + bw / 2 + bi * bw
            out.append(f'<rect x="{x:.1f}" y="{y0 + h - bh:.1f}" width="{bw * 0.85:.1f}" height="{bh:.1f}" fill="{COLORS[b]}"/>')
            out.append(f'<text x="{x + bw * 0.42:.1f}" y="{y0 + h - bh - 3:.1f}" font-size="9" text-anchor="middle">{fmt(v)}</text>')


def main():
    rows = load(sys.argv[1])
    W, ph, pw = 980, 190, 440
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="560" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="20" y="22" font-size="15">MQTT QoS 0, 100 B on one shared core per broker: medians of bench/compare.sh rounds</text>']
    labels = [l for _, l in SCENARIOS]
    rate = [[med(rows, s, b, 'delivered_per_second') for b in BROKERS] for s, _ in SCENARIOS]
    cpu = [[med(rows, s, b, 'server_cpu_per_delivery_ns', 1e-3) for b in BROKERS] for s, _ in SCENARIOS]
    panel(out, 30, 60, pw, ph, 'Delivered messages per second (higher is better)', labels, rate, lambda v: f'{v / 1000:.0f}k')
    panel(out, 510, 60, pw, ph, 'Server CPU per delivery, µs (lower is better)', labels, cpu, lambda v: f'{v:.2f}')
    lat = [[med(rows, 'latency', b, k, 1e-6) for b in BROKERS] for k in ('p50_ns', 'p90_ns', 'p99_ns')]
    panel(out, 30, 320, pw, ph, 'Latency at 10,000 msg/s, ms (lower is better)', ['p50', 'p90', 'p99'], lat, lambda v: f'{v:.2f}')
    idle = [[med(rows, 'idle', b, 'server_bytes_per_connection', 1 / 1024) for b in BROKERS]]
    panel(out, 510, 320, pw, ph, 'Idle connection, KiB of server memory (lower is better)', ['15,000 held'], idle, lambda v: f'{v:.1f}')
    for bi, b in enumerate(BROKERS):
        out.append(f'<rect x="{30 + bi * 130}" y="540" width="12" height="12" fill="{COLORS[b]}"/><text x="{46 + bi * 130}" y="550">{b}</text>')
    out.append('</svg>')
    open(sys.argv[2], 'w').write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
