#!/usr/bin/env python3
"""Reads an Ordo export (JSON Lines, one canonical event envelope per line) and prints:
orders placed, cancelled and expired per day; revenue of orders still reserved per currency;
and the ten best-selling SKUs by units reserved and not released.

Standard library only, streaming (constant memory whatever the export's size):

    ordo replay export --data-dir /var/lib/ordo > events.jsonl
    python3 replay/examples/analyze.py events.jsonl
    ordo replay export --data-dir /var/lib/ordo | python3 replay/examples/analyze.py -
"""
import collections
import datetime
import json
import sys


def day(ms):
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc).date().isoformat()


def main(path):
    per_day = collections.defaultdict(collections.Counter)
    units = collections.Counter()  # sku -> units reserved minus released
    open_orders = {}  # order_id -> (currency, total_minor) while reserved
    src = sys.stdin if path == "-" else open(path, encoding="utf-8")
    for line in src:
        e = json.loads(line)
        p, t = e["payload"], e["type"]
        d = day(e["occurred_at"])
        if t == "OrderPlaced":
            per_day[d]["placed"] += 1
            # schema_version 1 predates `channel`; the engine reads it as "api".
            per_day[d]["channel:" + p.get("channel", "api")] += 1
            open_orders[p["order_id"]] = (p["currency"], p["total_minor"])
        elif t in ("OrderCancelled", "OrderExpired"):
            per_day[d]["cancelled" if t == "OrderCancelled" else "expired"] += 1
            open_orders.pop(p["order_id"], None)
        elif t == "StockReserved":
            units[p["sku"]] += p["qty"]
        elif t == "StockReleased":
            units[p["sku"]] -= p["qty"]
    print("day         placed  cancelled  expired  channels")
    for d in sorted(per_day):
        c = per_day[d]
        channels = ", ".join(f"{k[8:]}={v}" for k, v in sorted(c.items()) if k.startswith("channel:"))
        print(f"{d}  {c['placed']:6}  {c['cancelled']:9}  {c['expired']:7}  {channels}")
    revenue = collections.Counter()
    for currency, total in open_orders.values():
        revenue[currency] += total  # minor units: integers, never floats
    print("\nreserved order value (minor units):", dict(revenue))
    print("\ntop SKUs by units held:")
    for sku, n in units.most_common(10):
        print(f"  {sku:20} {n}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "-")
