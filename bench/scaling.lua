-- scaling.lua - per-step time of one training workload at the thread count ember runs with, measured
-- in this process after a warm-up: the ember half of the scaling table (bench/run.lua, BENCH_THREADS).
-- Workloads, each a full step (zero_grad, forward, cross entropy, backward, optimizer step) on
-- consecutive batches of Fashion-MNIST's training set (as an epoch sees them: one batch repeated would
-- be learnt by heart, and its vanishing gradients turn denormal, which slows PyTorch, which does not
-- flush them, 5x):
--   lenet64, lenet512  LeNet (conv 1->10 k5, maxpool 2, relu, conv 10->20 k5, maxpool 2, relu, flatten,
--                      linear 320->10), SGD lr 0.01 momentum 0.9, batch 64 / 512
--   mlp1024, mlp128    flatten, linear 784->256, relu, linear 256->10, Adam lr 1e-3, batch 1024 / 128
-- Twin: scaling_torch.py. Run: build/ember --threads 4 bench/scaling.lua lenet512 [--steps N]
local ember = require "ember"
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local nn, optim, loss = ember.nn, ember.optim, ember.loss

local WORKLOADS = {
  lenet64 = {net = "lenet", batch = 64}, lenet512 = {net = "lenet", batch = 512},
  mlp1024 = {net = "mlp", batch = 1024}, mlp128 = {net = "mlp", batch = 128},
}
local name = arg[1]
local w = WORKLOADS[name or ""]
if not w then error("scaling.lua: workload must be lenet64, lenet512, mlp1024 or mlp128 (got " .. tostring(name) .. ")", 0) end
local steps = C.arg_int("steps", nil)
-- about 1.5 s of timed steps at 1 thread (0.3 s in quick mode)
local per = {lenet64 = 4e-3, lenet512 = 30e-3, mlp1024 = 6e-3, mlp128 = 1e-3}
steps = steps or math.max(10, math.floor((C.quick and 0.3 or 1.5) / per[name]))

ember.manual_seed(1)
local model, opt
if w.net == "lenet" then
  model = nn.Sequential{
    nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
    nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
    nn.Flatten(), nn.Linear(320, 10)}
  opt = optim.sgd(model:parameters(), {lr = 0.01, momentum = 0.9})
else
  model = nn.Sequential{nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)}
  opt = optim.adam(model:parameters(), {lr = 1e-3})
end
local train = C.fashion_mnist("train")
local test = C.fashion_mnist("test")   -- unused; loaded as a training script (and the twin) does
assert(test)
local batches = {}
for x, y in train:batches(w.batch) do
  if x:shape()[1] == w.batch then batches[#batches + 1] = {x, y} end
end
local at = 0

local function step()
  at = at % #batches + 1
  local x, y = batches[at][1], batches[at][2]
  opt:zero_grad()
  local l = loss.cross_entropy(model(x), y)
  l:backward()
  opt:step()
end

local clock = ember.clock
for _ = 1, math.max(5, steps // 10) do step() end   -- warm-up: scratch buffers, free lists, the pool
local times = {}
for s = 1, steps do
  local t0 = clock()
  step()
  times[s] = clock() - t0
end
C.result("threads", C.threads())
C.result("steps", steps)
C.result("step_ms", 1e3 * C.median(times))
