-- wrk script of the soak (bench.py --soak): a fixed cycle of mixed requests.
-- Each thread pre-builds CYCLE requests and sends them in turn: the migrated
-- validator (about 1 in 20 of its bodies invalid: 422), legacy validate.php
-- through PHP-FPM, the canary (Host canary.local, sticky key X-User rotating
-- over 200 users), and static files.  User ids, e-mails and headers vary so
-- messages, keys and canary buckets vary.  Answers are counted by status
-- class; done() prints "statuses 2xx=.. 3xx=.. 4xx=.. 5xx=.." for bench.py.
local CYCLE = 1000
local threads = {}
local requests, i = {}, 0
c2, c3, c4, c5 = 0, 0, 0, 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function signup(u, valid)
  local extra = (u % 3 == 0) and ',"referral_code":"abc123xyz"' or ''
  return string.format(
    '{"type":"signup","user_id":%d,"email":" User%d@Example.org ","age":%d,"country":"%s"%s}',
    valid and u or 0, u, 13 + u % 100, (u % 2 == 0) and "de" or "gb", extra)
end

function init(args)
  local json = { ["Content-Type"] = "application/json" }
  for n = 1, CYCLE do
    local u = (tid or 0) * 100000 + n
    local kind = n % 10
    local r
    if kind <= 3 then
      r = wrk.format("POST", "/api/v2/validate", json, signup(u, n % 20 ~= 0))
    elseif kind <= 5 then
      r = wrk.format("POST", "/validate.php", json, signup(u, true))
    elseif kind <= 7 then
      local h = { ["Content-Type"] = "application/json", ["Host"] = "canary.local",
                  ["X-User"] = "u" .. (n % 200) }
      r = wrk.format("POST", "/validate.php", h, signup(u, true))
    elseif kind == 8 then
      r = wrk.format("GET", "/assets/style.css", { ["X-Trace"] = tostring(u) })
    else
      r = wrk.format("GET", "/assets/app.js", { ["Accept-Encoding"] = "identity" })
    end
    requests[n] = r
  end
end

function request()
  i = i % CYCLE + 1
  return requests[i]
end

function response(status, headers, body)
  if status < 300 then c2 = c2 + 1
  elseif status < 400 then c3 = c3 + 1
  elseif status < 500 then c4 = c4 + 1
  else c5 = c5 + 1 end
end

function done(summary, latency, reqs)
  local t = { 0, 0, 0, 0 }
  for _, thread in ipairs(threads) do
    t[1] = t[1] + thread:get("c2")
    t[2] = t[2] + thread:get("c3")
    t[3] = t[3] + thread:get("c4")
    t[4] = t[4] + thread:get("c5")
  end
  io.write(string.format("statuses 2xx=%d 3xx=%d 4xx=%d 5xx=%d\n", t[1], t[2], t[3], t[4]))
end
