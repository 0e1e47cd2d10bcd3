-- wrk script: WhatsApp Cloud text webhooks (~1 KB), a unique message id per
-- request. The bench channel accepts unsigned webhooks (insecure_skip_signature),
-- so wrk needs no HMAC; signature checking costs ~1 us per request on top.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid
  body_head = [[{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"bench-number"},"contacts":[{"profile":{"name":"Bench Contact"},"wa_id":"1650555]]
  body_mid = [["}],"messages":[{"from":"1650555]]
  body_mid2 = [[","id":"wamid.bench.]]
  body_tail = [[","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color? This is a benchmark message of a typical length, with some padding to look like real traffic from customers asking about orders."}}]},"field":"messages"}]}]}]]
end

function request()
  counter = counter + 1
  local contact = string.format("%04d", counter % 1000)
  local id = thread_id .. "." .. counter .. "." .. math.random(1, 1000000000)
  local body = body_head .. contact .. body_mid .. contact .. body_mid2 .. id .. body_tail
  return wrk.format("POST", "/webhooks/whatsapp", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  io.write(string.format("ingest: %d requests, %.0f req/s, errors: status %d, connect %d, timeout %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), summary.errors.status,
    summary.errors.connect, summary.errors.timeout))
  for _, p in pairs({50, 99, 99.9}) do
    io.write(string.format("  p%s latency: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
