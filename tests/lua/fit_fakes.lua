-- fit_fakes.lua - what the ember.fit specs train: fakes that make every logged number computable by
-- hand, and a small real model whose training draws from ember's RNG (for exact-resume checks).
-- Specs load it with `local F = dofile("tests/lua/fit_fakes.lua")`.
local ember = require "ember"

local M = {}

-- A model out = x * p (p = 1 stays 1: the fake optimizer only counts), a recording optimizer and a
-- dataset of 1-D samples. They make every logged number computable by hand.

function M.fake_model(events)
  local p = ember.ones(1):requires_grad()
  local m = {p = p, mode = "train", calls = {}}
  setmetatable(m, {__call = function(self, x)
    self.calls[#self.calls + 1] = {mode = self.mode, grad = ember.is_grad_enabled()}
    return x * self.p
  end})
  function m:parameters() return {self.p} end
  function m:train() self.mode = "train" end
  function m:eval() self.mode = "eval" end
  function m:state_dict() return {p = self.p} end
  function m:load_state_dict(s) ember.no_grad(function() self.p:copy(s.p) end) end
  m.events = events
  return m
end

function M.fake_opt(model, lr, events)
  local o = {param_groups = {{params = model:parameters(), lr = lr}}, steps = 0}
  function o:zero_grad() for _, q in ipairs(self.param_groups[1].params) do q.grad = nil end end
  function o:step()
    self.steps = self.steps + 1
    if events then events[#events + 1] = "opt" end
  end
  function o:state_dict() return {steps = self.steps} end
  function o:load_state_dict(s) self.steps = s.steps end
  return o
end

function M.dataset(values, y)
  local n = #values
  local x = ember.tensor(values)
  local ds = {x = x}
  function ds:size() return n end
  function ds:batches(b, opts)
    local order = {}
    for i = 1, n do order[i] = i end
    if opts and opts.shuffle then   -- draws from ember's RNG, as ember.data does
      local r = ember.rand(n):totable()
      table.sort(order, function(i, j) return r[i] < r[j] end)
    end
    local pos = 1
    return function()
      if pos > n then return nil end
      local idx = {}
      for i = pos, math.min(n, pos + b - 1) do idx[#idx + 1] = order[i] end
      pos = pos + b
      local xb = x:index_select(1, ember.tensor(idx))
      return xb, y and y:index_select(1, ember.tensor(idx)) or xb
    end
  end
  return ds
end

function M.mean_loss(out) return out:mean() end

-- A linear model trained with real SGD + momentum on shuffled data, with noise drawn from ember's RNG in
-- every training forward (as dropout would): model, optimizer, train and valid datasets, seeded
function M.linear()
  ember.manual_seed(5)
  local w = (ember.randn(3, 1) * 0.1):requires_grad()
  local m = {mode = "train"}
  setmetatable(m, {__call = function(self, x)
    local out = x:matmul(w)
    if self.mode == "train" then out = out + ember.randn(x:shape()[1], 1) * 0.01 end
    return out
  end})
  function m:parameters() return {w} end
  function m:train() self.mode = "train" end
  function m:eval() self.mode = "eval" end
  function m:state_dict() return {w = w} end
  function m:load_state_dict(s) ember.no_grad(function() w:copy(s.w) end) end
  local x = ember.randn(10, 3)
  local y = x:matmul(ember.tensor{{1}, {-2}, {0.5}})
  local opt = ember.optim.sgd(m:parameters(), {lr = 0.05, momentum = 0.9})
  return m, opt, M.dataset(x:totable(), y), M.dataset(x:narrow(1, 1, 4):totable(), y:narrow(1, 1, 4))
end


function M.mse(out, y) return ((out - y) ^ 2):mean() end

return M
