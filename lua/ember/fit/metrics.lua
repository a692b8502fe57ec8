-- ember.fit.metrics: the metrics ember.fit logs beside the loss (built in: accuracy, mae, mse; or a
-- function of the batch), and the validation pass that averages loss and metrics over samples.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local show, callable = util.show, util.callable
local fail = E.raiser("ember.fit")

local function class_targets(y, n)
  if y:dim() == 2 and y:shape()[2] == 1 then return y:reshape(n) end
  return y
end

-- built-in metrics: fn(out, y) -> the sum over the batch (so epochs average over samples)
local BUILTIN = {
  accuracy = function(out, y)
    if out:dim() ~= 2 then
      fail("metric accuracy needs outputs of shape (N, classes) (got %s dims)", out:dim())
    end
    local n = out:shape()[1]
    return out:argmax(2):eq(class_targets(y, n)):sum():item()
  end,
  mae = function(out, y) return (out - y):abs():sum():item() / (out:numel() / out:shape()[1]) end,
  mse = function(out, y) return ((out - y) ^ 2):sum():item() / (out:numel() / out:shape()[1]) end,
}

local function unknown(i, m)
  local names = {}
  for k in pairs(BUILTIN) do names[#names + 1] = k end
  table.sort(names)
  fail("metrics[%d]: unknown metric %s (built in: %s; or give name = function(out, y) -> batch mean)",
       i, show(m), table.concat(names, ", "))
end

--- metrics.resolve(spec) -> ordered list of {name, fn, sum}: spec's built-in names in order, then its
-- named functions sorted by name. sum: fn returns the batch's sum (built in), else the batch mean.
function M.resolve(spec)
  local out = {}
  if spec == nil then return out end
  if type(spec) ~= "table" then fail("metrics must be a list such as {\"accuracy\"} (got %s)", show(spec)) end
  for i, m in ipairs(spec) do
    if type(m) ~= "string" or not BUILTIN[m] then unknown(i, m) end
    out[#out + 1] = {name = m, fn = BUILTIN[m], sum = true}
  end
  local named = {}
  for k, f in pairs(spec) do
    if math.type(k) ~= "integer" then
      if type(k) ~= "string" or not callable(f) then
        fail("metrics.%s must be a function(out, y) -> number (got %s)", tostring(k), type(f))
      end
      named[#named + 1] = k
    end
  end
  table.sort(named)
  for _, k in ipairs(named) do out[#out + 1] = {name = k, fn = spec[k], sum = false} end
  return out
end

--- metrics.batch_sum(m, out, y, n) -> the batch's contribution to the epoch sum of metric m
function M.batch_sum(m, out, y, n)
  local v = m.fn(out, y)
  if type(v) ~= "number" then
    local ok, x = pcall(function() return v:item() end)
    if not ok or type(x) ~= "number" then fail("metric %s returned %s (expected a number)", m.name, show(v)) end
    v = x
  end
  if m.sum then return v end
  return v * n
end

--- metrics.set_mode(model, train): model:train() or model:eval() when the model has them
function M.set_mode(model, train)
  local f = train and model.train or model.eval
  if type(f) == "function" then f(model) end
end

--- metrics.evaluate(model, loss_fn, ds, n, metrics) -> {loss, metrics = {name = mean}}: the mean loss
-- over samples and the metric means, in eval mode with gradients off
function M.evaluate(model, loss_fn, ds, n, metrics)
  M.set_mode(model, false)
  local was = ember.is_grad_enabled()
  ember.set_grad_enabled(false)
  local ok, res = pcall(function()
    local sum, count, sums = 0, 0, {}
    for _, m in ipairs(metrics) do sums[m.name] = 0 end
    for x, y in ds:batches(n, {shuffle = false}) do
      local out = model(x)
      local b = x:shape()[1]
      sum = sum + loss_fn(out, y):item() * b
      for _, m in ipairs(metrics) do sums[m.name] = sums[m.name] + M.batch_sum(m, out, y, b) end
      count = count + b
    end
    local means = {}
    for _, m in ipairs(metrics) do means[m.name] = count > 0 and sums[m.name] / count or 0 / 0 end
    return {loss = count > 0 and sum / count or 0 / 0, metrics = means}
  end)
  ember.set_grad_enabled(was)
  if not ok then error(res, 0) end
  return res
end

return M
