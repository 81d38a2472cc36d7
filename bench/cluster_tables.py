"""Markdown tables from bench/cluster.sh's results: medians of the rounds,
ranges in parentheses.

    python3 bench/cluster_tables.py RESULTS SUBS LATSECS SIZE REPLICAS

Each line of RESULTS is tab-separated: section, label (fields split by ";"),
the load generator's output (`streamhub bench --json`, bench/durable's table
row, or `nats bench`'s text), then the CPU ticks (1/100 s) the streamhub
processes and the NATS servers spent during the run.
"""
import json
import re
import statistics
import sys

TICK_US = 10_000  # one /proc CPU tick in µs


def load(path):
    rows = {}
    for line in open(path):
        section, label, out, sh, nats = line.rstrip("\n").split("\t")
        rows.setdefault(section, {}).setdefault(tuple(label.split(";")), []).append((out, int(sh), int(nats)))
    return rows


def med(vals):
    return statistics.median(vals) if vals else 0


def cell(vals, f):
    if not vals:
        return "failed"
    if len(vals) == 1:
        return f(vals[0])
    return f"{f(med(vals))} ({f(min(vals))}–{f(max(vals))})"


def count(v):
    return f"{v:,.0f}"


def micros(v):
    return f"{v:.1f} µs"


def millis(v):
    return f"{v:.2f} ms"


def bench_json(out):
    try:
        return json.loads(out)
    except ValueError:
        return {}


def group(runs, *prefix):
    """Runs whose label starts with prefix, with the rest of the label."""
    return [(k[len(prefix):], v) for k, v in runs.items() if k[:len(prefix)] == prefix]


WHERE = ("1 node, no cluster", "1 node on NATS", "3 nodes on NATS")


def fanout(runs, subs):
    print(f"\n### Fan-out: 1 MQTT publisher on node A → {subs} MQTT subscribers spread over the nodes, QoS 0, {size} B\n")
    print("| topics | streamhub nodes | messages | delivered/s | lost | streamhub CPU per delivery | NATS CPU per delivery | vs 1 node on NATS |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in ("non-durable", "durable"):
        base = None
        for where in WHERE:
            for (msgs,), rs in group(runs, kind, where):
                rs = [(bench_json(o), sh, nats) for o, sh, nats in rs]
                ok = [(r, sh, nats) for r, sh, nats in rs if r.get("received")]
                rate = [r["delivered_per_second"] for r, _, _ in ok]
                lost = sum(r.get("lost", 0) for r, _, _ in ok)
                sh_cpu = [sh * TICK_US / r["received"] for r, sh, _ in ok]
                nats_cpu = [nats * TICK_US / r["received"] for r, _, nats in ok]
                if where == "1 node on NATS":
                    base = med(rate) or None
                ratio = f"{med(rate) / base:.2f}" if base and where != WHERE[0] else ""
                failed = f" ({len(rs) - len(ok)} runs failed)" if len(ok) < len(rs) else ""
                print(f"| {kind} | {where}{failed} | {int(msgs):,} | {cell(rate, count)} | {lost} | {cell(sh_cpu, micros)} | "
                      f"{cell(nats_cpu, micros) if where != WHERE[0] else '–'} | {ratio} |")


def latency(runs, secs):
    print(f"\n### Latency: 1 MQTT publisher, paced, for {secs} s, QoS 0, {size} B\n")
    print("| topics | msg/s | publisher → subscribers | p50 | p90 | p99 | p99.9 | delivered (within 0.5 s of the last publish) |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in ("non-durable", "durable"):
        for (where, rate), rs in group(runs, kind):
            ok = [r for r in (bench_json(o) for o, _, _ in rs) if r.get("received")]
            pct = lambda k: cell([r.get(k, 0) / 1e6 for r in ok], millis)
            delivered = [100 * r["received"] / r["expected"] for r in ok]
            print(f"| {kind} | {int(rate):,} | {where} | {pct('p50_ns')} | {pct('p90_ns')} | {pct('p99_ns')} | {pct('p999_ns')} | "
                  f"{cell(delivered, lambda v: f'{v:.0f}%')} |")


def publish_rate(out):
    m = re.search(r"publisher (?:aggregated )?stats: ([\d,.]+) msgs/sec", out)
    if m:
        return float(m.group(1).replace(",", ""))
    nums = re.findall(r"\|\s*([\d.]+)\s*\|", out)  # bench/durable's row: | label | publishes/s | replay/s |
    return float(nums[0]) if nums else 0


CLIENTS = ("streamhub, HTTP POST", "streamhub, MQTT QoS 1", "NATS Go client, js.Publish", "nats bench js pub sync",
           "streamhub, MQTT QoS 1, 64 in flight", "NATS Go client, js.PublishAsync, 64 in flight")


def durable(runs):
    print(f"\n### Durable publishes acknowledged per second, {size} B, each publisher waiting for its acknowledgement (the last two rows: 64 in flight per connection)\n")
    print("| replicas | publishers × messages | client | acknowledged publishes/s | vs NATS Go client | vs `nats bench` | streamhub CPU per publish | NATS CPU per publish |")
    print("|---|---|---|---|---|---|---|---|")
    shapes = sorted({k[:3] for k in runs}, key=lambda k: (int(k[0]), -int(k[1])))
    for r, c, m in shapes:
        rates = {who: [(publish_rate(o), sh, nats) for o, sh, nats in runs.get((r, c, m, who), [])] for who in CLIENTS}
        go = med([v for v, _, _ in rates[CLIENTS[2]] if v]) or None
        nb = med([v for v, _, _ in rates[CLIENTS[3]] if v]) or None
        for who, rs in rates.items():
            ok = [(v, sh, nats) for v, sh, nats in rs if v]
            vals = [v for v, _, _ in ok]
            sh_cpu = [sh * TICK_US / int(m) for _, sh, _ in ok]
            nats_cpu = [nats * TICK_US / int(m) for _, _, nats in ok]
            vs = lambda base: f"{med(vals) / base:.2f}" if base and vals else ""
            shc = cell(sh_cpu, micros) if who.startswith("streamhub") else "–"
            print(f"| {r} | {c} × {int(m):,} | {who} | {cell(vals, count)} | {vs(go)} | {vs(nb)} | {shc} | {cell(nats_cpu, micros)} |")


if __name__ == "__main__":
    path = sys.argv[1]
    subs, latsecs, size, replicas = map(int, sys.argv[2:6])
    rows = load(path)
    if "fanout" in rows or "latency" in rows:
        print(f"\nFan-out and latency: streams with {replicas} replicas.")
    if "fanout" in rows:
        fanout(rows["fanout"], subs)
    if "latency" in rows:
        latency(rows["latency"], latsecs)
    if "durable" in rows:
        durable(rows["durable"])
