-- wrk script: POST /v1/messages (text) with a unique client_id each.
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  token = os.getenv("TOKEN")
end
function request()
  counter = counter + 1
  local body = string.format('{"channel":"bench","to":"1555%07d","text":"Your order #%d ships today. Reply STOP to opt out.","client_id":"b%d.%d.%d"}',
    counter % 10000000, counter, tid, counter, math.random(1, 1000000000))
  return wrk.format("POST", "/v1/messages", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
function done(summary, latency, requests)
  io.write(string.format("send API: %d requests, %.0f req/s, non-2xx %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), summary.errors.status))
  for _, p in pairs({50, 99, 99.9}) do
    io.write(string.format("  API p%s latency (to 202): %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
