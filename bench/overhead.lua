-- overhead.lua - per-op overhead from Lua: 1,000,000 additions of two 1-element tensors (`a + b`),
-- each making a new tensor, timed inside the process; RSS is sampled before, during and after the loop
-- to show that the loop runs in flat memory without any collectgarbage() call.
-- Twin: overhead_torch.py. Run: build/ember --threads 1 bench/overhead.lua
local ember = require "ember"
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")

local n = C.quick and 100000 or 1000000
local a, b = ember.tensor{1.5}, ember.tensor{2.25}

-- warm-up: the first allocations, the Lua GC's first cycles
local c
for _ = 1, 10000 do c = a + b end

local rss_before = C.status_kb("VmRSS")
local rss_max = rss_before
local chunk = n // 10
local t0 = ember.clock()
for _ = 1, 10 do
  for _ = 1, chunk do c = a + b end
  local r = C.status_kb("VmRSS")      -- ten samples: a reading costs ~20 us, negligible
  if r and r > rss_max then rss_max = r end
end
local dt = ember.clock() - t0
local rss_after = C.status_kb("VmRSS")
assert(c:item() == 3.75, "overhead: wrong sum " .. tostring(c:item()))

C.result("ops", n)
C.result("seconds", dt)
C.result("ops_per_s", n / dt)
C.result("rss_before_kb", rss_before)
C.result("rss_max_kb", rss_max)
C.result("rss_after_kb", rss_after)
