#!/usr/bin/env bash
# HTTP benchmark: POST /v1/orders (3 lines, durable) with wrk, 64 keep-alive connections on
# loopback, next to Ordo's own Beast server with a handler that does no work, in the same run.
#   bench/http_bench.sh [DURATION_S]
# ORDO_BIN=path runs another build of `ordo` (say, the previous commit's) against the same
# no-op baseline, for before/after comparisons in one session.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
bash compose/build.sh release >/dev/null
ordo="${ORDO_BIN:-build/bin/ordo}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_port() { for _ in $(seq 1 500); do curl -s -o /dev/null "http://127.0.0.1:$1/livez" && return 0; sleep 0.02; done; return 1; }

"$ordo" serve --data-dir "$work/data" --listen 127.0.0.1:18081 --http-threads 1 2>"$work/ordo.log" &
pids+=($!)
wait_port 18081
merchant="$("$ordo" token --data-dir "$work/data" --sub bench-seller --role merchant)"
export ORDO_BENCH_TOKEN="$("$ordo" token --data-dir "$work/data" --sub bench-customer --role customer)"
for i in 1 2 3; do
  curl -sf -o /dev/null -X POST http://127.0.0.1:18081/v1/products -H "Authorization: Bearer $merchant" \
    -H 'Content-Type: application/json' \
    -d "{\"sku\":\"bench-$i\",\"seller_id\":\"bench-seller\",\"name\":\"Bench $i\",\"price_minor\":1999,\"currency\":\"EUR\",\"stock\":1000000000000}"
done
echo "== ordo POST /v1/orders (durable, group commit) =="
wrk -t2 -c64 -d"${duration}s" --latency -s bench/place_order.lua http://127.0.0.1:18081 | tee "$work/ordo.txt" | grep -E "Requests/sec|p50_ms|p99_ms|non_2xx"
# How many commands each fsync carried (all partitions): the committer's cost per request
# falls as groups grow.
curl -sf http://127.0.0.1:18081/metrics | awk '/^ordo_commands_total/{c+=$2} /^ordo_group_commits_total/{g+=$2}
  END{if (g) printf "commands per group commit: %.1f (%d commands, %d fsyncs)\n", c/g, c, g}'

build/bin/beast_noop 18082 1 &
pids+=($!)
wait_port 18082
echo "== beast no-op handler (same server code, no work) =="
wrk -t2 -c64 -d"${duration}s" --latency -s bench/place_order.lua http://127.0.0.1:18082 | tee "$work/noop.txt" | grep -E "Requests/sec|p50_ms|p99_ms|non_2xx"

ordo_rps="$(awk '/^requests_per_s/{print $2}' "$work/ordo.txt")"
noop_rps="$(awk '/^requests_per_s/{print $2}' "$work/noop.txt")"
echo "ratio ordo/noop: $(awk -v a="$ordo_rps" -v b="$noop_rps" 'BEGIN{printf "%.2f", a/b}')"
