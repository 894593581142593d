-- wrk script: an X-Road REST (r1) call through the client proxy: POST of a JSON body to
-- /r1/{service}/items with the X-Road-Client header.
--
-- Environment:
--   BODY_BYTES   request body size in bytes (default 1000)
--   XROAD_SERVICE  the service's REST form (default DEV/GOV/8765432-1/BENCHSERVICE/bench)
--   XROAD_CLIENT   the client's REST form (default DEV/COM/1234567-8/BENCHCLIENT)
--
-- Prints the same WRKRESULT line as ../shared/bench/soap-post.lua.

local target = tonumber(os.getenv("BODY_BYTES") or "1000") or 1000
local service = os.getenv("XROAD_SERVICE") or "DEV/GOV/8765432-1/BENCHSERVICE/bench"
local client = os.getenv("XROAD_CLIENT") or "DEV/COM/1234567-8/BENCHCLIENT"

local head = '{"name":"benchmark","tags":["x-road","rest"],"data":"'
local tail = '"}'
local pad = target - #head - #tail
if pad < 0 then pad = 0 end
local unit = "QmVuY2htYXJrUGF5bG9hZEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFla"
local filler = string.rep(unit, math.floor(pad / #unit) + 1):sub(1, pad)

wrk.method = "POST"
wrk.path = "/r1/" .. service .. "/items"
wrk.body = head .. filler .. tail
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["X-Road-Client"] = client

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d bytes=%d body_bytes=%d p50_us=%d p90_us=%d p99_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.bytes, #wrk.body,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
