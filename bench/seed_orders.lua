-- wrk script: POST /v1/orders with ids q-{thread}-{n}, so a later run can GET them.
local counter, tid = 0, 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  tid = wrk.thread:get("tid")
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"order_id":"q-%d-%d","customer_id":"bench-customer","lines":[{"sku":"bench-1","qty":1}]}', tid, counter)
  return wrk.format("POST", "/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("ORDO_BENCH_TOKEN")}, body)
end
