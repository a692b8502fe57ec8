-- ember.nn.container: Sequential, the container that applies its layers in order.
local E = require "ember.error"
local check = require "ember.nn.check"
local module = require "ember.nn.module"
local show = require("ember.util").show

local M = {}

local is_module = module.is_module

local Sequential = module.Module:extend("Sequential")
M.Sequential = Sequential

--- nn.Sequential{layer, layer, ...} (or nn.Sequential(layer, layer, ...)): applies the layers in order.
--- Layer i is field i (model[1]), so parameters are named "1.weight", "1.bias", ...; seq:add(layer)
--- appends. An error inside layer i is re-raised as "in layer i of Sequential (Layer(...)): message".
function Sequential:init(...)
  local n, layers = select("#", ...), {...}
  if n == 1 and type(layers[1]) == "table" and not is_module(layers[1]) then
    layers, n = layers[1], 0
    for k in pairs(layers) do
      if not check.is_int(k, 1) then check.fail("nn.Sequential", "layers must be a list (got the key %s)", show(k)) end
      if k > n then n = k end
    end
  end
  for i = 1, n do
    if not is_module(layers[i]) then
      check.fail("nn.Sequential", "layer %d is not a module (got %s)", i, show(layers[i]))
    end
    self:add(i, layers[i])
  end
end

-- a container's spec holds its layers' specs (Module:spec): describe(layer, i) gives layer i's
Sequential.spec_children = true
function Sequential:spec_args(describe)
  local out = {}
  for i = 1, #self do out[i] = describe(rawget(self, i), i) end
  return out
end

-- the error y of layer i, with the layer it came from in front (as torch/nn's rethrowErrors)
local function rethrow(i, layer, y)
  local context = "in layer " .. i .. " of Sequential (" .. check.instance(layer) .. "): "
  if type(y) == "string" then error(context .. y, 0) end
  if E.is(y) then
    local e = E.new(y.kind, nil, context .. E.message(y), {layer = i, cause = y})
    e.where = y.where
    error(e, 0)
  end
  error(y, 0)
end

function Sequential:forward(x, ...)
  local n = #self
  if n == 0 then return x end
  for i = 1, n do
    local layer = rawget(self, i)
    local ok, y
    if i == 1 then ok, y = pcall(layer, x, ...) else ok, y = pcall(layer, x) end
    if not ok then rethrow(i, layer, y) end
    x = y
  end
  return x
end

return M
