-- ember.nn.pooling: max and average pooling over 2-d windows.
local ember = require "ember"
local check = require "ember.nn.check"
local window = require "ember.nn.window"
local Module = require("ember.nn.module").Module
local shape_str = require("ember.util").shape_str

local M = {}

local fail = check.fail

local MAX_OPTIONS = {stride = true, padding = true, dilation = true, ceil_mode = "boolean"}
local AVG_OPTIONS = {stride = true, padding = true, dilation = true, ceil_mode = "boolean", count_include_pad = "boolean"}

local function pool_init(self, name, kernel, stride, opts, avg)
  if type(stride) == "table" and opts == nil and not stride[1] then stride, opts = nil, stride end
  opts = check.options(name, opts, avg and AVG_OPTIONS or MAX_OPTIONS)
  if stride == nil then stride = opts.stride end
  self.kernel_size = {check.pair(name, "kernel_size", kernel, 1)}
  self.stride = stride == nil and {self.kernel_size[1], self.kernel_size[2]} or {check.pair(name, "stride", stride, 1)}
  self.padding = {check.pair(name, "padding", opts.padding or 0, 0)}
  for i = 1, 2 do
    if self.padding[i] > self.kernel_size[i] // 2 then
      fail(name, "padding must be at most half the kernel size (got padding %d, kernel %d)", self.padding[i],
           self.kernel_size[i])
    end
  end
  if avg then
    if opts.dilation ~= nil and opts.dilation ~= 1 then fail(name, "dilation is not supported") end
    self.dilation = {1, 1}
    self.count_include_pad = opts.count_include_pad ~= false
  else
    self.dilation = {check.pair(name, "dilation", opts.dilation or 1, 1)}
  end
  self.ceil_mode = opts.ceil_mode == true
end

local function pool_repr(self)
  local k = self.kernel_size
  local s = "kernel " .. check.pair_text(k[1], k[2]) .. window.sizes_text(self, true)
  if self.ceil_mode then s = s .. ", ceil_mode" end
  if self.count_include_pad == false then s = s .. ", count_include_pad = false" end
  return s
end

-- the constructor's arguments that rebuild a pool (Module:spec)
local function pool_spec_args(self)
  local function pair(p) return {p[1], p[2]} end
  local opts = {padding = pair(self.padding), ceil_mode = self.ceil_mode}
  if self.count_include_pad == nil then opts.dilation = pair(self.dilation)
  else opts.count_include_pad = self.count_include_pad end
  return {pair(self.kernel_size), pair(self.stride), opts}
end

local function pool_forward(self, x, fn)
  check.input(self, x)
  local d = x:dim()
  if d ~= 4 and d ~= 3 then
    check.shape_error(self, "expected input [N x C x H x W], got %s", shape_str(x))
  end
  window.check_fits(self, x, self.kernel_size, self.padding, self.dilation)
  return fn(x, self.kernel_size, {stride = self.stride, padding = self.padding, dilation = self.dilation,
                                  ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad})
end

local MaxPool2d = Module:extend("MaxPool2d")
M.MaxPool2d = MaxPool2d

--- nn.MaxPool2d(kernel_size [, stride = kernel_size] [, {stride, padding = 0, dilation = 1,
--- ceil_mode = false}]): the maximum of each window of [N x C x H x W]; padding counts as -inf and is
--- at most half the kernel. The gradient flows to each window's (first) maximum.
function MaxPool2d:init(kernel, stride, opts) pool_init(self, "nn.MaxPool2d", kernel, stride, opts, false) end
MaxPool2d.extra_repr = pool_repr
MaxPool2d.spec_args = pool_spec_args
function MaxPool2d:forward(x) return pool_forward(self, x, ember.max_pool2d) end

local AvgPool2d = Module:extend("AvgPool2d")
M.AvgPool2d = AvgPool2d

--- nn.AvgPool2d(kernel_size [, stride = kernel_size] [, {stride, padding = 0, ceil_mode = false,
--- count_include_pad = true}]): the mean of each window; with count_include_pad the zero padding counts
--- in the divisor (PyTorch's default).
function AvgPool2d:init(kernel, stride, opts) pool_init(self, "nn.AvgPool2d", kernel, stride, opts, true) end
AvgPool2d.extra_repr = pool_repr
AvgPool2d.spec_args = pool_spec_args
function AvgPool2d:forward(x) return pool_forward(self, x, ember.avg_pool2d) end

return M
