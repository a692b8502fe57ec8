-- ember.nn.normalization: batch normalisation over (N, C[, L]) and (N, C, H, W), with running
-- statistics kept as buffers.
local ember = require "ember"
local check = require "ember.nn.check"
local Module = require("ember.nn.module").Module
local util = require "ember.util"

local M = {}

local fail, show, shape_str = check.fail, util.show, util.shape_str

local function bn_init(self, name, num_features, opts)
  self.num_features = check.count(name, "num_features", num_features)
  opts = check.options(name, opts, {eps = true, momentum = true, affine = "boolean", track_running_stats = "boolean"})
  local eps, momentum = opts.eps or 1e-5, opts.momentum
  if momentum == nil then momentum = 0.1 end
  if not util.is_finite(eps) or eps < 0 then fail(name, "eps must be a finite number >= 0 (got %s)", show(eps)) end
  if momentum ~= false and (type(momentum) ~= "number" or not (momentum >= 0 and momentum <= 1)) then
    fail(name, "momentum must be a number in [0, 1], or false for a cumulative average (got %s)", show(momentum))
  end
  self.eps, self.momentum = eps, momentum
  self.affine = opts.affine ~= false
  self.track_running_stats = opts.track_running_stats ~= false
  if self.affine then
    self:param("weight", check.new_tensor(name, ember.ones, num_features))
    self:param("bias", check.new_tensor(name, ember.zeros, num_features))
  end
  if self.track_running_stats then
    self:buffer("running_mean", check.new_tensor(name, ember.zeros, num_features))
    self:buffer("running_var", check.new_tensor(name, ember.ones, num_features))
    self:buffer("num_batches_tracked", ember.tensor(0))
  end
end

local function bn_repr(self)
  local s = tostring(self.num_features)
  if self.eps ~= 1e-5 then s = s .. ", eps = " .. self.eps end
  if self.momentum ~= 0.1 then s = s .. ", momentum = " .. tostring(self.momentum) end
  if not self.affine then s = s .. ", affine = false" end
  if not self.track_running_stats then s = s .. ", track_running_stats = false" end
  return s
end

-- the constructor's arguments that rebuild the layer (Module:spec)
local function bn_spec_args(self)
  return {self.num_features, {eps = self.eps, momentum = self.momentum, affine = self.affine,
                              track_running_stats = self.track_running_stats}}
end

-- PyTorch's _BatchNorm.forward: batch statistics in training (or without running statistics), which
-- then update the running ones with momentum (or 1 / num_batches_tracked when momentum is false)
local function bn_forward(self, x)
  local factor = self.momentum or 0
  if self.training and self.track_running_stats then
    local nbt = self.num_batches_tracked
    ember.no_grad(function() nbt:fill(nbt:item() + 1) end)
    if self.momentum == false then factor = 1 / nbt:item() end
  end
  local track = self.track_running_stats
  return ember.batch_norm(x, self.weight, self.bias, track and self.running_mean or nil,
                          track and self.running_var or nil, self.training or not track, factor, self.eps)
end

-- a BatchNorm class over inputs of dims ranks (2 and 3, or 4), "expected input ..." naming the
-- shapes it takes
local function batch_norm_class(name, ranks, expected)
  local cls = Module:extend(name)
  cls.extra_repr = bn_repr
  cls.spec_args = bn_spec_args
  function cls:forward(x)
    check.input(self, x)
    if not ranks[x:dim()] or x:size(2) ~= self.num_features then
      check.shape_error(self, "expected input %s, got %s", expected:gsub("C", self.num_features), shape_str(x))
    end
    return bn_forward(self, x)
  end
  M[name] = cls
  return cls
end

local BatchNorm1d = batch_norm_class("BatchNorm1d", {[2] = true, [3] = true}, "[N x C] or [N x C x L]")

--- nn.BatchNorm1d(num_features [, {eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true}])
--- over [N x C] or [N x C x L]: y = (x - mean) / sqrt(var + eps) * weight + bias per channel, with the
--- batch's mean and biased variance in training, which also updates
--- running = (1 - momentum) running + momentum batch (unbiased variance) and counts num_batches_tracked;
--- eval uses the running statistics. momentum = false keeps a cumulative average instead.
function BatchNorm1d:init(n, opts) bn_init(self, "nn.BatchNorm1d", n, opts) end

local BatchNorm2d = batch_norm_class("BatchNorm2d", {[4] = true}, "[N x C x H x W]")

--- nn.BatchNorm2d(num_features [, options as BatchNorm1d]) over [N x C x H x W], statistics per channel
--- over N, H and W
function BatchNorm2d:init(n, opts) bn_init(self, "nn.BatchNorm2d", n, opts) end

return M
