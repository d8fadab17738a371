-- wrk script: GET /v1/orders/{id} for random ids among those seed_orders.lua created.
local max_n = tonumber(os.getenv("ORDO_BENCH_MAX_N") or "1000")
math.randomseed(os.time())
request = function()
  local path = string.format("/v1/orders/q-%d-%d", math.random(1, 2), math.random(1, max_n))
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. os.getenv("ORDO_BENCH_TOKEN")})
end
done = function(summary, latency, requests)
  io.write(string.format("p50_ms %.2f\np99_ms %.2f\n", latency:percentile(50) / 1000,
                         latency:percentile(99) / 1000))
  io.write(string.format("requests_per_s %.0f\nnon_2xx %d\n", summary.requests / (summary.duration / 1e6),
                         summary.errors.status or 0))
end
