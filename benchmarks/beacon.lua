-- wrk script: one page view per request, a batched beacon of five vitals with attribution, as beacon.js
-- sends it. Each request gets fresh ids (web-vitals ids are unique per page load), so dedup sees new pairs.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid
end

local template = [=[[{"name":"LCP","value":2140.5,"delta":2140.5,"id":"v6-%d-%d-1","rating":"good","navigationType":"navigate","pageUrl":"https://shop.example.com/products/%d?utm_source=mail","timestamp":1795400000000,"attribution":{"target":"#hero > img","url":"https://cdn.example.com/img/hero-%d.jpg?v=3","timeToFirstByte":180.2,"resourceLoadDelay":310.4,"resourceLoadDuration":1200.1,"elementRenderDelay":449.8}},{"name":"FCP","value":980.1,"delta":980.1,"id":"v6-%d-%d-2","rating":"good","navigationType":"navigate","pageUrl":"https://shop.example.com/products/%d?utm_source=mail","timestamp":1795400000000,"attribution":{"timeToFirstByte":180.2,"firstByteToFCP":799.9,"loadState":"dom-content-loaded"}},{"name":"TTFB","value":180.2,"delta":180.2,"id":"v6-%d-%d-3","rating":"good","navigationType":"navigate","pageUrl":"https://shop.example.com/products/%d?utm_source=mail","timestamp":1795400000000,"attribution":{"waitingDuration":2.1,"cacheDuration":0,"dnsDuration":12.3,"connectionDuration":40.2,"requestDuration":125.6}},{"name":"CLS","value":0.042,"delta":0.042,"id":"v6-%d-%d-4","rating":"good","navigationType":"navigate","pageUrl":"https://shop.example.com/products/%d?utm_source=mail","timestamp":1795400000000,"attribution":{"largestShiftTarget":"div.banner","largestShiftValue":0.03,"largestShiftTime":1510.2,"loadState":"complete"}},{"name":"INP","value":168,"delta":168,"id":"v6-%d-%d-5","rating":"good","navigationType":"navigate","pageUrl":"https://shop.example.com/products/%d?utm_source=mail","timestamp":1795400000000,"attribution":{"interactionTarget":"button.add-to-cart","interactionType":"pointer","inputDelay":12.1,"processingDuration":120.4,"presentationDelay":35.5,"loadState":"complete","longestScript":{"url":"https://shop.example.com/static/app.4f3a2b.js","invoker":"BUTTON.onclick","subpart":"processing-duration","intersectingDuration":110.2}}}]]=]

request = function()
  counter = counter + 1
  local p = counter % 50
  local body = string.format(template,
    thread_id, counter, p, p % 10,
    thread_id, counter, p,
    thread_id, counter, p,
    thread_id, counter, p,
    thread_id, counter, p)
  return wrk.format("POST", "/api/web-vitals", {["Content-Type"] = "text/plain;charset=UTF-8", ["Origin"] = "https://shop.example.com"}, body)
end
