-- ember.nn.penalty: weight penalties to add to a loss (L1, L2).
local ember = require "ember"
local fail = require("ember.nn.check").fail
local is_module = require("ember.nn.module").is_module
local util = require "ember.util"

local M = {}

local function param_list(name, params)
  if is_module(params) then return params:parameters() end
  if type(params) ~= "table" then fail(name, "list of tensors or a module expected (got %s)", util.show(params)) end
  for i, p in ipairs(params) do
    if not util.is_tensor(p) then fail(name, "element %d is not a tensor (got %s)", i, util.show(p)) end
  end
  return params
end

-- the sum over the parameters of term(p):sum(), or nil when there are none
local function total(name, params, term)
  local sum
  for _, p in ipairs(param_list(name, params)) do
    local s = term(p):sum()
    sum = sum and sum + s or s
  end
  return sum
end

--- nn.l1_penalty(params) -> 0-d tensor sum_p sum |p| (differentiable; the gradient at 0 is 0).
--- params: a list of tensors or a module. Add lambda * it to the loss for L1 regularisation.
function M.l1_penalty(params)
  return total("nn.l1_penalty", params, function(p) return p:abs() end) or ember.tensor(0)
end

--- nn.l2_penalty(params) -> 0-d tensor sum_p sum p^2 / 2, whose gradient is p itself (so lambda times it
--- in the loss equals weight_decay = lambda in SGD). params: a list of tensors or a module.
function M.l2_penalty(params)
  local sum = total("nn.l2_penalty", params, function(p) return p:square() end)
  return sum and sum * 0.5 or ember.tensor(0)
end

return M
