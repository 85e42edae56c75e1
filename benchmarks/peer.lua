-- wrk script for the Go peer (jensteichert/webvitals_exporter): it takes one metric object per request,
-- so one page view is five requests; the five vitals rotate, each with a fresh id.
local counter = 0
local names = {"LCP", "FCP", "TTFB", "CLS", "FID"}
local values = {2140.5, 980.1, 180.2, 0.042, 12.0}

request = function()
  counter = counter + 1
  local i = counter % 5 + 1
  local body = string.format('{"id":"v6-%d-%d","label":"web-vital","name":"%s","startTime":1795400000000,"value":%s}',
    counter, i, names[i], values[i])
  return wrk.format("POST", "/vitals", {["Content-Type"] = "application/json"}, body)
end
