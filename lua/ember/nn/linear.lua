-- ember.nn.linear: the fully connected layer, y = x W^T + b.
local ember = require "ember"
local check = require "ember.nn.check"
local init = require "ember.nn.weight_init"
local Module = require("ember.nn.module").Module
local shape_str = require("ember.util").shape_str

local M = {}

local Linear = Module:extend("Linear")
M.Linear = Linear

--- nn.Linear(in_features, out_features [, {bias = true}]): y = x W^T + b for x [* x in_features].
--- W [out x in] and b [out] start as U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default, from ember's seed).
function Linear:init(in_features, out_features, opts)
  local name = "nn.Linear"
  self.in_features = check.count(name, "in_features", in_features)
  self.out_features = check.count(name, "out_features", out_features)
  opts = check.options(name, opts, {bias = "boolean"})
  local w = check.new_tensor(name, ember.empty, out_features, in_features)
  init.kaiming_uniform_(w, {a = math.sqrt(5)})
  self:param("weight", w)
  if opts.bias ~= false then
    local bound = 1 / math.sqrt(in_features)
    self:param("bias", init.uniform_(check.new_tensor(name, ember.empty, out_features), -bound, bound))
  end
end

-- the constructor's arguments that rebuild this layer (Module:spec)
function Linear:spec_args()
  return {self.in_features, self.out_features, {bias = rawget(self, "bias") ~= nil}}
end

function Linear:extra_repr()
  return self.in_features .. " -> " .. self.out_features .. (rawget(self, "bias") and "" or ", bias = false")
end

function Linear:forward(x)
  check.input(self, x)
  local d = x:dim()
  if d == 0 or x:size(d) ~= self.in_features then
    check.shape_error(self, "input has %d features (%s)", d == 0 and 0 or x:size(d), shape_str(x))
  end
  return ember.linear(x, self.weight, self.bias)
end

return M
