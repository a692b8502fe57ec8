-- ember.nn.activation: elementwise nonlinearities and the softmax layers.
local check = require "ember.nn.check"
local Module = require("ember.nn.module").Module
local util = require "ember.util"

local show = util.show

local M = {}

local fail, input = check.fail, check.input

-- the constructor's arguments that rebuild a layer (Module:spec)
local function no_args() return {} end
local function dim_args(self) return {self.dim} end

local ReLU = Module:extend("ReLU")
M.ReLU = ReLU
--- nn.ReLU(): max(x, 0)
function ReLU:forward(x) return input(self, x):relu() end
ReLU.spec_args = no_args

local Sigmoid = Module:extend("Sigmoid")
M.Sigmoid = Sigmoid
--- nn.Sigmoid(): 1 / (1 + exp(-x))
function Sigmoid:forward(x) return input(self, x):sigmoid() end
Sigmoid.spec_args = no_args

local Tanh = Module:extend("Tanh")
M.Tanh = Tanh
--- nn.Tanh(): tanh(x)
function Tanh:forward(x) return input(self, x):tanh() end
Tanh.spec_args = no_args

local LeakyReLU = Module:extend("LeakyReLU")
M.LeakyReLU = LeakyReLU
--- nn.LeakyReLU([negative_slope = 0.01]): x for x > 0, negative_slope x otherwise
function LeakyReLU:init(slope)
  if slope ~= nil and type(slope) ~= "number" then
    check.fail_type("nn.LeakyReLU", "negative_slope must be a number (got %s)", show(slope))
  end
  if slope ~= nil and not util.is_finite(slope) then
    fail("nn.LeakyReLU", "negative_slope must be finite (got %s)", show(slope))
  end
  self.negative_slope = slope or 0.01
end
function LeakyReLU:extra_repr() return "negative_slope = " .. self.negative_slope end
function LeakyReLU:spec_args() return {self.negative_slope} end
function LeakyReLU:forward(x) return input(self, x):leaky_relu(self.negative_slope) end

local GELU = Module:extend("GELU")
M.GELU = GELU
--- nn.GELU([{approximate = "none"}]): x Phi(x) with the exact normal CDF (Hendrycks & Gimpel 2016,
--- arXiv:1606.08415); approximate = "tanh" uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
function GELU:init(opts)
  opts = check.options("nn.GELU", opts, {approximate = true})
  local a = opts.approximate or "none"
  if a ~= "none" and a ~= "tanh" then
    fail("nn.GELU", "approximate must be \"none\" or \"tanh\" (got %s)", show(a))
  end
  self.approximate = a
end
function GELU:extra_repr() return self.approximate == "tanh" and "approximate = tanh" or "" end
function GELU:spec_args() return {{approximate = self.approximate}} end
function GELU:forward(x)
  input(self, x)
  if self.approximate == "tanh" then
    return x * 0.5 * (((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)):tanh() + 1)
  end
  return x:gelu()
end

local function dim_repr(self) return "dim = " .. self.dim end

local Softmax = Module:extend("Softmax")
M.Softmax = Softmax
--- nn.Softmax([dim = -1]): exp(x) / sum(exp(x)) along dim (1-based; -1 is the last)
function Softmax:init(dim) self.dim = check.nonzero_dim("nn.Softmax", "dim", dim) end
Softmax.extra_repr = dim_repr
Softmax.spec_args = dim_args
function Softmax:forward(x) return input(self, x):softmax(check.dim(self, x, "dim", self.dim)) end

local LogSoftmax = Module:extend("LogSoftmax")
M.LogSoftmax = LogSoftmax
--- nn.LogSoftmax([dim = -1]): the logarithm of Softmax, computed stably
function LogSoftmax:init(dim) self.dim = check.nonzero_dim("nn.LogSoftmax", "dim", dim) end
LogSoftmax.extra_repr = dim_repr
LogSoftmax.spec_args = dim_args
Softmax.spec_args = dim_args
function LogSoftmax:forward(x) return input(self, x):log_softmax(check.dim(self, x, "dim", self.dim)) end

return M
