-- lenet_profile.lua - where the time of one LeNet training step goes in ember (batch 64, SGD momentum),
-- timed from Lua with ember.clock(). The graph is cut between layers: each layer runs on a detached
-- copy of the previous output that requires grad, so after loss:backward() every layer's backward runs
-- on its own as out:backward(grad of the next input), and is timed alone. The work is the same as a
-- whole step's (the first conv still computes no input gradient); the cuts add a few microseconds,
-- shown by comparing the sum of the pieces with unsegmented steps timed the same way.
-- Inputs are random images in [0, 1] with random labels: the cost of these ops does not depend on
-- the values. Figures are medians over the timed steps, in milliseconds.
--
-- Run: build/ember --threads 2 bench/lenet_profile.lua [--steps N] [--batch B (default 64)]
--      build/ember --threads 2 bench/lenet_profile.lua --plain N    (N plain steps and nothing else:
--      what bench/run.lua hands to `perf record`)
local ember = require "ember"
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local nn, optim, loss = ember.nn, ember.optim, ember.loss

local steps = C.arg_int("steps", C.quick and 20 or 100)
local plain, B = C.arg_int("plain", nil), C.arg_int("batch", 64)

ember.manual_seed(1)
-- FLOP per image of each layer's forward and backward (a multiply-add counts 2): conv1 has no input
-- gradient to compute, conv2 and linear compute both weight and input gradients
local layers = {
  {key = "conv1", name = "conv1 1->10 k5", m = nn.Conv2d(1, 10, 5), ffl = 2 * 5760 * 25, bfl = 2 * 5760 * 25},
  {key = "pool1", name = "maxpool1 2", m = nn.MaxPool2d(2)},
  {key = "relu1", name = "relu1", m = nn.ReLU()},
  {key = "conv2", name = "conv2 10->20 k5", m = nn.Conv2d(10, 20, 5), ffl = 2 * 1280 * 250, bfl = 4 * 1280 * 250},
  {key = "pool2", name = "maxpool2 2", m = nn.MaxPool2d(2)},
  {key = "relu2", name = "relu2", m = nn.ReLU()},
  {key = "flatten", name = "flatten", m = nn.Flatten()},
  {key = "linear", name = "linear 320->10", m = nn.Linear(320, 10), ffl = 2 * 3200, bfl = 4 * 3200},
}
local model_list, params = {}, {}
for i, l in ipairs(layers) do
  model_list[i] = l.m
  for _, p in ipairs(l.m:parameters()) do params[#params + 1] = p end
end
local model = nn.Sequential(model_list)
local opt = optim.sgd(params, {lr = 0.01, momentum = 0.9})

local x = ember.rand(B, 1, 28, 28)
local labels = {}
for i = 1, B do labels[i] = (i * 7) % 10 + 1 end
local y = ember.tensor(labels)

local function plain_step()
  opt:zero_grad()
  local l = loss.cross_entropy(model(x), y)
  l:backward()
  opt:step()
end

for _ = 1, 10 do plain_step() end     -- warm-up: buffers, caches, the allocator's free lists
if plain then
  for _ = 1, plain do plain_step() end
  return
end

local clock = ember.clock
local L = #layers
local t = {zero = {}, loss_f = {}, loss_b = {}, step = {}, whole = {}}
for k = 1, L do layers[k].f, layers[k].b = {}, {} end

local function segmented_step(s)
  local t0 = clock()
  opt:zero_grad()
  local t1 = clock()
  t.zero[s] = t1 - t0
  local ins, outs = {x}, {}
  for k = 1, L do
    t0 = clock()
    outs[k] = layers[k].m(ins[k])
    t1 = clock()
    layers[k].f[s] = t1 - t0
    ins[k + 1] = outs[k]:detach():requires_grad()
  end
  t0 = clock()
  local l = loss.cross_entropy(ins[L + 1], y)
  t1 = clock()
  t.loss_f[s] = t1 - t0
  l:backward()
  t0 = clock()
  t.loss_b[s] = t0 - t1
  for k = L, 1, -1 do
    t0 = clock()
    outs[k]:backward(ins[k + 1].grad)
    layers[k].b[s] = clock() - t0
  end
  t0 = clock()
  opt:step()
  t.step[s] = clock() - t0
end

-- a full collection between steps, outside the timed parts: the cut graph leaves more garbage than an
-- uncut step, and freeing it at once keeps both kinds of step on the same warm, recycled memory (the
-- epoch benchmark shows the collector's real effect)
for s = 1, steps do
  collectgarbage()
  local t0 = clock()
  plain_step()
  t.whole[s] = clock() - t0
  collectgarbage()
  segmented_step(s)
end

local ms = function(list) return 1e3 * C.median(list) end
local rows, sum = {}, 0
for _, l in ipairs(layers) do
  local f, b = ms(l.f), ms(l.b)
  rows[#rows + 1] = {l.name, f, b, l.ffl and (l.ffl + l.bfl) * B / ((f + b) * 1e-3) / 1e9, l.key}
  sum = sum + f + b
end
rows[#rows + 1] = {"cross entropy", ms(t.loss_f), ms(t.loss_b), nil, "loss"}
rows[#rows + 1] = {"zero_grad", ms(t.zero), 0, nil, "zero_grad"}
rows[#rows + 1] = {"sgd momentum step", ms(t.step), 0, nil, "step"}
sum = sum + ms(t.loss_f) + ms(t.loss_b) + ms(t.zero) + ms(t.step)
local whole = ms(t.whole)

local batches = 60000 // B + (60000 % B > 0 and 1 or 0)
io.write(string.format("%d timed steps, batch %d, %d threads; medians in ms per step\n", steps, B, C.threads()))
io.write(string.format("%-20s %9s %9s %9s %7s %9s\n", "piece", "forward", "backward", "total", "share", "GFLOP/s"))
for _, r in ipairs(rows) do
  local tot = r[2] + r[3]
  io.write(string.format("%-20s %9.3f %9.3f %9.3f %6.1f%% %9s\n", r[1], r[2], r[3], tot, 100 * tot / sum,
                         r[4] and string.format("%.1f", r[4]) or ""))
end
io.write(string.format("%-20s %29.3f\n", "sum of pieces", sum))
io.write(string.format("%-20s %29.3f   (x %d batches = %.2f s/epoch, plus batching)\n", "whole step, uncut",
                       whole, batches, whole * batches / 1e3))
-- the machine-readable lines come after the table, for bench/run.lua (results.tsv)
for _, r in ipairs(rows) do
  C.result(r[5] .. "_fwd_ms", r[2])
  C.result(r[5] .. "_bwd_ms", r[3])
end
C.result("sum_ms", sum)
C.result("whole_step_ms", whole)
