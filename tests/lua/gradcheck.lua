-- gradcheck.lua - finite-difference gradient check shared by the specs (as torch/nn's Jacobian and
-- ggml's test-backend-ops): compares autograd's gradient of sum(w * f(inputs)) (w fixed random weights,
-- so every output element matters) with central differences, element by element.
--   gradcheck(f, inputs [, {eps = 1e-3, tol = 1e-2}]) -> true | false, message
-- f receives the list of input tensors and returns a tensor. Every input is checked (a missing .grad counts
-- as zeros, so an op that drops a gradient fails) except those listed in opts.skip = {k = true}.
local ember = require "ember"

local function flat_get(t, i) return t:reshape(-1)[i]:item() end
-- an input is a leaf that requires grad: changing it in place is refused unless under no_grad
local function flat_set(t, i, v) ember.no_grad(function() local f = t:reshape(-1); f[i] = v end) end

return function(f, inputs, opts)
  opts = opts or {}
  local eps, tol = opts.eps or 1e-3, opts.tol or 1e-2
  local state = ember.get_rng_state()
  ember.manual_seed(1234)
  local out = f(inputs)
  local w = ember.rand(table.unpack(out:shape())) + 0.5
  ember.set_rng_state(state)
  for _, x in ipairs(inputs) do if x.grad then x.grad = nil end end
  local s = (out * w):sum()
  s:backward()
  local function value()
    return ember.no_grad(function() return (f(inputs) * w):sum():item() end)
  end
  for k, x in ipairs(inputs) do
    if not (opts.skip and opts.skip[k]) then
      local g = x.grad
      for i = 1, x:numel() do
        local orig = flat_get(x, i)
        flat_set(x, i, orig + eps)
        local up = value()
        flat_set(x, i, orig - eps)
        local down = value()
        flat_set(x, i, orig)
        local num = (up - down) / (2 * eps)
        local ana = g and flat_get(g, i) or 0
        local err = math.abs(num - ana) / math.max(math.abs(num), math.abs(ana), 1)
        if err > tol or err ~= err then
          return false, ("input %d element %d: autograd %.6g, finite difference %.6g (rel. error %.3g)")
            :format(k, i, ana, num, err)
        end
      end
    end
  end
  return true
end
