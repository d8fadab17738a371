#!/usr/bin/env bash
# Query latency: GET /v1/orders/{id} from the PostgreSQL views with wrk (32 connections),
# while a second wrk keeps placing orders (16 connections), on loopback, same run.
#   bench/query_bench.sh [DURATION_S]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
bash compose/build.sh release >/dev/null
work="$(mktemp -d)"
chmod 755 "$work"
pg="$work/pg"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  bash compose/postgres.sh stop "$pg" || true
  rm -rf "$work"
}
trap cleanup EXIT
conninfo="$(bash compose/postgres.sh start "$pg" 55499)"
build/bin/ordo serve --data-dir "$work/data" --listen 127.0.0.1:18083 --postgres "$conninfo" 2>"$work/ordo.log" &
pids+=($!)
for _ in $(seq 1 500); do curl -s -o /dev/null http://127.0.0.1:18083/livez && break; sleep 0.02; done
merchant="$(build/bin/ordo token --data-dir "$work/data" --sub bench-seller --role merchant)"
export ORDO_BENCH_TOKEN="$(build/bin/ordo token --data-dir "$work/data" --sub bench-customer --role customer)"
curl -sf -o /dev/null -X POST http://127.0.0.1:18083/v1/products -H "Authorization: Bearer $merchant" \
  -H 'Content-Type: application/json' \
  -d '{"sku":"bench-1","seller_id":"bench-seller","name":"Bench","price_minor":1999,"currency":"EUR","stock":1000000000000}'
# Seed: 2 threads × N orders with known ids.
wrk -t2 -c2 -d3s -s bench/seed_orders.lua http://127.0.0.1:18083 >/dev/null
seeded="$(curl -s http://127.0.0.1:18083/readyz | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitions"][0]["last_offset"])')"
export ORDO_BENCH_MAX_N=$(( seeded / 5 ))   # 2 events per order, 2 threads; stay inside the seeded range
echo "seeded events: $seeded; GET ids q-{1,2}-{1..$ORDO_BENCH_MAX_N}"
ORDO_BENCH_BODY='{"customer_id":"bench-customer","lines":[{"sku":"bench-1","qty":1}]}' wrk -t1 -c16 -d"${duration}s" -s bench/place_order.lua http://127.0.0.1:18083 >"$work/writes.txt" &
writer=$!
echo "== GET /v1/orders/{id} under a concurrent order load =="
wrk -t1 -c32 -d"${duration}s" --latency -s bench/get_orders.lua http://127.0.0.1:18083 | grep -E "Requests/sec|p50_ms|p99_ms|non_2xx"
wait "$writer"
echo "== concurrent writes =="
grep -E "requests_per_s|p99_ms" "$work/writes.txt"
