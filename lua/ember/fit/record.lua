-- ember.fit.record: the values a run actually trained with, written to meta.tsv when training starts:
-- `optimizer` (its kind: sgd, adam, ...) and `optimizer.<name>` for every option of param group 1 (lr is
-- the base lr a schedule starts from; betas as "0.9,0.999"), and for every key of the run's config that
-- names such an option but holds another value (a script's 0 for "the default", say) `used.<key>`: the
-- value the optimizer used. `ember runs` shows a param by its used value.
local util = require "ember.util"

local M = {}

local function text(v)
  if type(v) == "number" then return util.number_text(v) end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = text(x) end
    return table.concat(parts, ",")
  end
  return tostring(v)
end

local function same(a, b)
  if type(a) == "table" and type(b) == "table" then
    if #a ~= #b then return false end
    for i = 1, #a do
      if a[i] ~= b[i] then return false end
    end
    return true
  end
  return a == b
end

--- record.used(run, opt): writes opt's kind and group 1's options into run's meta.tsv (see above)
function M.used(run, opt)
  local names, values = require("ember.optim").hyperparameters(opt)
  local g = opt.param_groups[1]
  if values.lr ~= nil and type(g.initial_lr) == "number" then values.lr = g.initial_lr end
  local meta = {}
  if type(opt.kind) == "string" then meta.optimizer = opt.kind end
  for _, k in ipairs(names) do meta["optimizer." .. k] = text(values[k]) end
  local config = type(run.config) == "table" and run.config or {}
  for k, v in pairs(config) do
    if type(k) == "string" and values[k] ~= nil and not same(v, values[k]) then
      meta["used." .. k] = text(values[k])
    end
  end
  if next(meta) then run:set_meta(meta) end
end

return M
