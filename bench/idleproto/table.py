"""Markdown table of bench/idleproto/run.sh output: medians (range) per server.

    bash bench/idleproto/run.sh 3 15000 > runs.jsonl; python3 bench/idleproto/table.py runs.jsonl
"""
import collections
import json
import statistics
import sys

rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    if not d.get("failed"):
        rows[d["server"]].append(d)


def cell(vals, fmt="{:,.0f}"):
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"


print("| server | rounds | RSS growth per idle connection | RSS growth on the publish | server threads | connect 15,000 | publish to all: all received in |")
print("|---|---|---|---|---|---|---|")
for s in ["streamhub", "stdnet", "nbio", "gnet", "netpoll", "epoll", "park", "fdconn"]:
    r = rows.get(s)
    if not r:
        continue
    ok = all(d["received"] == d["conns"] for d in r)
    print(f"| {s} | {len(r)} | {cell([d['rss_per_conn_b'] for d in r])} B"
          f" | {cell([(d['rss_after_publish_kib'] - d['rss_idle_kib']) / 1024 for d in r], '{:,.1f}')} MiB"
          f" | {cell([d['threads_idle'] for d in r])}"
          f" | {cell([d['connect_s'] for d in r], '{:.1f}')} s"
          f" | {cell([d['fanout_s'] * 1000 for d in r])} ms{'' if ok else ' (LOST SOME)'} |")
