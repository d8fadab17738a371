-- wrk script: POST /v1/orders with a 3-line order. The token comes from the environment.
wrk.method = "POST"
wrk.path = "/v1/orders"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORDO_BENCH_TOKEN")
wrk.body = os.getenv("ORDO_BENCH_BODY") or '{"customer_id":"bench-customer","lines":[{"sku":"bench-1","qty":1},{"sku":"bench-2","qty":2},{"sku":"bench-3","qty":1}]}'

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("p50_ms %.2f\np99_ms %.2f\n", latency:percentile(50) / 1000,
                         latency:percentile(99) / 1000))
  io.write(string.format("requests_per_s %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("non_2xx %d\n", (summary.errors.status or 0)))
end
