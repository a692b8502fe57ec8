-- ember.nn.weight_init, reached as ember.nn.init: in-place initialisers of weights. Each runs under
-- no_grad (so it works on parameters), draws from ember's seeded generator and returns its tensor.
local ember = require "ember"
local util = require "ember.util"
local check = require "ember.nn.check"

local init = {}

local sqrt = math.sqrt
local show, shape_str = util.show, util.shape_str
local fail, fail_type = check.fail, check.fail_type

local function check_t(name, t)
  if not util.is_tensor(t) then fail_type("nn.init." .. name, "tensor expected (got %s)", show(t)) end
end

-- v, or default when v is nil: a finite number (>= 0 with non_negative), else an error of nn.init.name
local function number_arg(name, what, v, default, non_negative)
  if v == nil then return default end
  if type(v) ~= "number" then fail_type("nn.init." .. name, "%s must be a number (got %s)", what, show(v)) end
  if not util.is_finite(v) or (non_negative and v < 0) then
    fail("nn.init." .. name, "%s must be a finite number%s (got %s)", what, non_negative and " >= 0" or "", show(v))
  end
  return v
end

-- init.calculate_gain, its errors named nn.init.name
local function gain_of(name, nl, param)
  if nl == "linear" or nl == "sigmoid" or (type(nl) == "string" and nl:match("^conv")) then return 1 end
  if nl == "tanh" then return 5 / 3 end
  if nl == "relu" then return sqrt(2) end
  if nl == "leaky_relu" then
    local a = param == nil and 0.01 or param
    if type(a) ~= "number" then fail_type("nn.init." .. name, "slope must be a number (got %s)", show(a)) end
    return sqrt(2 / (1 + a * a))
  end
  if nl == "selu" then return 3 / 4 end
  fail("nn.init." .. name, "unknown nonlinearity %s (known: linear, conv1d, conv2d, conv3d, sigmoid, tanh, "
       .. "relu, leaky_relu, selu)", show(nl))
end

-- fan_in, fan_out of t; an error of nn.init.name when t has fewer than 2 dims
local function fans(name, t)
  local s = t:shape()
  if #s < 2 then fail("nn.init." .. name, "needs a tensor of at least 2 dimensions (got %s)", shape_str(t)) end
  local rf = 1
  for i = 3, #s do rf = rf * s[i] end
  return s[2] * rf, s[1] * rf
end

--- init.calculate_fan(t) -> fan_in, fan_out: for [out x in] weights in and out; for conv weights
--- [out x in x k...] in and out times the receptive field (PyTorch's _calculate_fan_in_and_fan_out)
function init.calculate_fan(t)
  check_t("calculate_fan", t)
  return fans("calculate_fan", t)
end

--- init.calculate_gain(nonlinearity [, param]) -> the recommended gain (PyTorch's table): linear, conv*,
--- sigmoid 1; tanh 5/3; relu sqrt(2); leaky_relu sqrt(2 / (1 + slope^2)) (slope default 0.01); selu 3/4
function init.calculate_gain(nl, param) return gain_of("calculate_gain", nl, param) end

--- init.uniform_(t [, lo = 0, hi = 1]) -> t, from ember's seeded generator
function init.uniform_(t, lo, hi)
  check_t("uniform_", t)
  lo, hi = number_arg("uniform_", "lo", lo, 0), number_arg("uniform_", "hi", hi, 1)
  if lo > hi then fail("nn.init.uniform_", "lo %s is above hi %s", show(lo), show(hi)) end
  return ember.no_grad(function() return t:uniform(lo, hi) end)
end

--- init.normal_(t [, mean = 0, std = 1]) -> t
function init.normal_(t, mean, std)
  check_t("normal_", t)
  mean, std = number_arg("normal_", "mean", mean, 0), number_arg("normal_", "std", std, 1, true)
  return ember.no_grad(function() return t:normal(mean, std) end)
end

--- init.constant_(t, v) -> t filled with v
function init.constant_(t, v)
  check_t("constant_", t)
  if type(v) ~= "number" then fail_type("nn.init.constant_", "value must be a number (got %s)", show(v)) end
  return ember.no_grad(function() return t:fill(v) end)
end
--- init.zeros_(t) -> t filled with 0
function init.zeros_(t)
  check_t("zeros_", t)
  return init.constant_(t, 0)
end
--- init.ones_(t) -> t filled with 1
function init.ones_(t)
  check_t("ones_", t)
  return init.constant_(t, 1)
end

local function kaiming_std(name, t, opts)
  if type(opts) == "number" then opts = {a = opts} end
  if opts ~= nil and type(opts) ~= "table" then
    fail_type("nn.init." .. name, "options must be a table or the number a (got %s)", show(opts))
  end
  opts = check.options("nn.init." .. name, opts, {a = true, mode = true, nonlinearity = true})
  local a = number_arg(name, "a", opts.a, 0)
  local mode, nl = opts.mode or "fan_in", opts.nonlinearity or "leaky_relu"
  if mode ~= "fan_in" and mode ~= "fan_out" then
    fail("nn.init." .. name, "mode must be \"fan_in\" or \"fan_out\" (got %s)", show(mode))
  end
  local fan_in, fan_out = fans(name, t)
  local fan = mode == "fan_in" and fan_in or fan_out
  local gain = gain_of(name, nl, a)
  return fan > 0 and gain / sqrt(fan) or 0
end

--- init.kaiming_uniform_(t [, {a = 0, mode = "fan_in", nonlinearity = "leaky_relu"}]) -> t:
--- U(-b, b) with b = gain sqrt(3 / fan) (He et al. 2015, arXiv:1502.01852). A number means {a = n}.
function init.kaiming_uniform_(t, opts)
  check_t("kaiming_uniform_", t)
  local b = sqrt(3) * kaiming_std("kaiming_uniform_", t, opts)
  return init.uniform_(t, -b, b)
end

--- init.kaiming_normal_(t [, opts as kaiming_uniform_]) -> t: N(0, gain^2 / fan)
function init.kaiming_normal_(t, opts)
  check_t("kaiming_normal_", t)
  return init.normal_(t, 0, kaiming_std("kaiming_normal_", t, opts))
end

--- init.xavier_uniform_(t [, gain = 1]) -> t: U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))
--- (Glorot & Bengio 2010)
function init.xavier_uniform_(t, gain)
  check_t("xavier_uniform_", t)
  local fi, fo = fans("xavier_uniform_", t)
  local b = number_arg("xavier_uniform_", "gain", gain, 1, true) * sqrt(6 / math.max(fi + fo, 1))
  return init.uniform_(t, -b, b)
end

--- init.xavier_normal_(t [, gain = 1]) -> t: N(0, gain^2 2 / (fan_in + fan_out))
function init.xavier_normal_(t, gain)
  check_t("xavier_normal_", t)
  local fi, fo = fans("xavier_normal_", t)
  return init.normal_(t, 0, number_arg("xavier_normal_", "gain", gain, 1, true) * sqrt(2 / math.max(fi + fo, 1)))
end

return init
