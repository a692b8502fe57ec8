-- linear.lua - a Linear(10, 1) regression on the diabetes data (442 rows, features standardized,
-- target as is), full batch, plain SGD lr 0.01: optimizer steps per second, where a step is
-- zero_grad, forward, mse loss, backward and the update. Weights start at zero on both sides, so
-- ember and PyTorch walk the same trajectory and must end at the same loss.
-- Twin: linear_torch.py. Run: build/ember --threads 1 bench/linear.lua
local ember = require "ember"
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local nn, optim, loss = ember.nn, ember.optim, ember.loss

local root = (arg[0]:match("^(.*)/") or ".") .. "/.."
local ds = ember.data.csv(root .. "/experiments/data/diabetes.csv", {target = "target"})
ds:standardize()
local x, y = ds.x, ds.y                      -- [442 x 10], [442 x 1]

local model = nn.Linear(10, 1)
ember.no_grad(function()
  for _, p in ipairs(model:parameters()) do p:zero() end
end)
local opt = optim.sgd(model:parameters(), {lr = 0.01})

local steps = C.quick and 2000 or 20000
local function train(n)
  local l
  for _ = 1, n do
    opt:zero_grad()
    l = loss.mse(model(x), y)
    l:backward()
    opt:step()
  end
  return l
end

local warm = steps // 10
local first = train(warm):item()                -- warm-up, part of the trajectory
local t0 = ember.clock()
local last = train(steps - warm)
local dt = ember.clock() - t0

C.result("steps", steps - warm)
C.result("seconds", dt)
C.result("steps_per_s", (steps - warm) / dt)
C.result("warm_loss", first)
C.result("final_loss", last:item())
C.result("rss_after_kb", C.status_kb("VmRSS"))
