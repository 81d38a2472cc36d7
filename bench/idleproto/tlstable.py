"""Markdown table of bench/idleproto/tls-variants.sh output: medians (range) per variant.

    bash bench/idleproto/tls-variants.sh 2 15000 > tls.jsonl; python3 bench/idleproto/tlstable.py tls.jsonl
"""
import collections
import json
import statistics
import sys

rows = collections.defaultdict(list)
order = []
for path in sys.argv[1:]:
    for line in open(path):
        d = json.loads(line)
        if d.get("failed"):
            continue
        if d["server"] not in rows:
            order.append(d["server"])
        rows[d["server"]].append(d)


def cell(r, key):
    vals = [d[key] for d in r if key in d]
    if not vals:
        return "—"
    m = statistics.median(vals)
    if len(vals) == 1:
        return f"{m:,.0f}"
    return f"{m:,.0f} ({min(vals):,.0f}–{max(vals):,.0f})"


print("| variant | negotiated | rounds | RSS growth per idle connection | after FreeOSMemory | live heap |")
print("|---|---|---|---|---|---|")
for s in order:
    r = rows[s]
    d = r[0]
    neg = ", ".join(x for x in (d.get("tls_version"), d.get("tls_cipher"), d.get("tls_curve")) if x) or "plain TCP"
    ok = "" if all(x["received"] == x["conns"] for x in r) else " (not all received)"
    print(f"| {s.removeprefix('park-')}{ok} | {neg} | {len(r)} | {cell(r, 'rss_per_conn_b')} | "
          f"{cell(r, 'rss_per_conn_after_free_b')} | {cell(r, 'heap_alloc_after_free_per_conn_b')} |")
