-- ember.optim.clip: gradient norms and clipping (PyTorch's clip_grad_norm_ and clip_grad_value_).
local ember = require "ember"
local util = require "ember.util"
local fail = require("ember.optim.kinds").fail

local M = {}

local huge = math.huge
local is_tensor, is_finite, show = util.is_tensor, util.is_finite, util.show

-- a flat list of tensors from a tensor, a list of tensors, or a list of group tables (opt.param_groups)
local function clip_params(where, ps)
  if is_tensor(ps) then return {ps} end
  if type(ps) ~= "table" then fail(where, nil, "params must be a tensor or a list of tensors (got %s)", show(ps)) end
  local list = {}
  for i, x in ipairs(ps) do
    if is_tensor(x) then
      list[#list + 1] = x
    elseif type(x) == "table" and type(x.params) == "table" then
      for j, p in ipairs(x.params) do
        if not is_tensor(p) then fail(where, nil, "params[%d].params[%d] is not a tensor (got %s)", i, j, show(p)) end
        list[#list + 1] = p
      end
    else
      fail(where, nil, "params[%d] is not a tensor (got %s)", i, show(x))
    end
  end
  return list
end

local function norm_type_arg(where, v)
  if v == nil then return 2 end
  if v == "inf" or v == huge then return huge end
  if type(v) ~= "number" or not (v > 0) or v ~= v then
    fail(where, nil, "norm_type must be a number > 0 or inf (got %s)", show(v))
  end
  return v
end

--- optim.grad_norm(params [, norm_type = 2]) -- the norm of all the gradients of params taken together
-- (parameters without .grad are skipped), as a Lua number. norm_type: a number > 0, or math.huge / "inf".
function M.grad_norm(params, norm_type)
  local where = "optim.grad_norm"
  return ember._grad_norm(clip_params(where, params), norm_type_arg(where, norm_type))
end

--- optim.clip_grad_norm(params, max_norm [, norm_type = 2] [, {error_if_nonfinite = false}]) --
-- computes the total norm of the gradients (as one vector; norm_type a number > 0, or math.huge /
-- "inf") and, when max_norm / (total + 1e-6) < 1, scales every gradient in place by that factor
-- (PyTorch's clip_grad_norm_). Returns the total norm before clipping, as a Lua number. A non-finite
-- total (NaN or inf gradients) leaves the gradients untouched and is returned, so the caller can skip
-- the step; with error_if_nonfinite = true it raises an error instead.
function M.clip_grad_norm(params, max_norm, norm_type, opts)
  local where = "optim.clip_grad_norm"
  if type(norm_type) == "table" and opts == nil then norm_type, opts = nil, norm_type end
  local list = clip_params(where, params)
  if not is_finite(max_norm) or max_norm < 0 then
    fail(where, nil, "max_norm must be a finite number >= 0 (got %s)", show(max_norm))
  end
  local nt = norm_type_arg(where, norm_type)
  if opts ~= nil and type(opts) ~= "table" then
    fail(where, nil, "options must be a table such as {error_if_nonfinite = true} (got %s)", show(opts))
  end
  local total = ember._clip_grad_norm(list, max_norm, nt)
  if opts and opts.error_if_nonfinite and not is_finite(total) then
    fail(where, nil, "the total norm of order %s of the gradients is %s, so they cannot be clipped "
         .. "(gradients left unchanged; without error_if_nonfinite the norm is returned instead)",
         nt == huge and "inf" or tostring(nt), tostring(total))
  end
  return total
end

--- optim.clip_grad_value(params, clip_value) -- clamps every gradient element of params into
-- [-clip_value, clip_value] in place (clip_value a finite number >= 0).
function M.clip_grad_value(params, clip_value)
  local where = "optim.clip_grad_value"
  local list = clip_params(where, params)
  if not is_finite(clip_value) or clip_value < 0 then
    fail(where, nil, "clip_value must be a finite number >= 0 (got %s)", show(clip_value))
  end
  ember._clip_grad_value(list, clip_value)
end

return M
