-- ember.nn.conv: the 2-d convolution layer (cross-correlation, as PyTorch's Conv2d).
local ember = require "ember"
local check = require "ember.nn.check"
local init = require "ember.nn.weight_init"
local window = require "ember.nn.window"
local Module = require("ember.nn.module").Module
local util = require "ember.util"

local M = {}

local fail = check.fail

local Conv2d = Module:extend("Conv2d")
M.Conv2d = Conv2d

-- padding as given ("valid", "same", an integer or {h, w}) -> {h, w}, same, extra; "same" keeps the
-- size at stride 1: {h, w} is the top and left padding, and an odd span (an even dilated kernel) gets
-- its extra row and column (extra) at the bottom and right from ember.conv2d, as PyTorch pads it
local function padding_of(name, pad, kernel, stride, dilation)
  if pad == "valid" then return {0, 0} end
  if pad ~= "same" then return {check.pair(name, "padding", pad, 0)} end
  if stride[1] ~= 1 or stride[2] ~= 1 then fail(name, "padding = \"same\" needs stride 1") end
  local p, extra = {}, {}
  for i = 1, 2 do
    local span = dilation[i] * (kernel[i] - 1)
    p[i], extra[i] = span // 2, span % 2
  end
  return p, true, extra
end

--- nn.Conv2d(in_channels, out_channels, kernel_size [, {stride = 1, padding = 0, dilation = 1,
--- groups = 1, bias = true}]): 2-d cross-correlation over [N x Cin x H x W] (or [Cin x H x W]).
--- Sizes are an integer or {h, w}; padding may also be "valid" (0) or "same" (stride 1, output size =
--- input size; an even dilated kernel gets the odd row and column of padding at the bottom and right, as
--- PyTorch). groups splits the channels into that many blocks convolved separately (groups = Cin = Cout:
--- depthwise). Weight [Cout x Cin/groups x kh x kw] and bias start as U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
--- fan_in = Cin/groups kh kw (PyTorch's default).
function Conv2d:init(cin, cout, kernel, opts)
  local name = "nn.Conv2d"
  self.in_channels = check.count(name, "in_channels", cin)
  self.out_channels = check.count(name, "out_channels", cout)
  if type(opts) == "number" then
    fail(name, "give stride, padding and dilation as options: nn.Conv2d(%d, %d, %s, {stride = 1, padding = 0})",
         cin, cout, tostring(kernel))
  end
  opts = check.options(name, opts, {stride = true, padding = true, dilation = true, groups = true, bias = "boolean"})
  self.kernel_size = {check.pair(name, "kernel_size", kernel, 1)}
  self.stride = {check.pair(name, "stride", opts.stride or 1, 1)}
  self.dilation = {check.pair(name, "dilation", opts.dilation or 1, 1)}
  local groups = opts.groups or 1
  if math.type(groups) ~= "integer" or groups < 1 or cin % groups ~= 0 or cout % groups ~= 0 then
    fail(name, "groups must be an integer >= 1 dividing in_channels (%d) and out_channels (%d) (got %s)", cin, cout,
         util.show(groups))
  end
  self.groups = groups
  self.padding, self.same, self.same_extra = padding_of(name, opts.padding or 0, self.kernel_size, self.stride,
                                                        self.dilation)
  local kh, kw = self.kernel_size[1], self.kernel_size[2]
  local w = check.new_tensor(name, ember.empty, cout, cin // groups, kh, kw)
  init.kaiming_uniform_(w, {a = math.sqrt(5)})
  self:param("weight", w)
  if opts.bias ~= false then
    local bound = 1 / math.sqrt(cin // groups * kh * kw)
    self:param("bias", init.uniform_(check.new_tensor(name, ember.empty, cout), -bound, bound))
  end
end

-- the constructor's arguments that rebuild this layer (Module:spec)
function Conv2d:spec_args()
  local function pair(p) return {p[1], p[2]} end
  return {self.in_channels, self.out_channels, pair(self.kernel_size),
          {stride = pair(self.stride), padding = self.same and "same" or pair(self.padding),
           dilation = pair(self.dilation), groups = self.groups, bias = rawget(self, "bias") ~= nil}}
end

function Conv2d:extra_repr()
  return self.in_channels .. " -> " .. self.out_channels .. ", kernel " ..
    check.pair_text(self.kernel_size[1], self.kernel_size[2]) .. window.sizes_text(self) ..
    ((self.groups or 1) > 1 and ", groups " .. self.groups or "") .. (rawget(self, "bias") and "" or ", bias = false")
end

function Conv2d:forward(x)
  check.input(self, x)
  local d = x:dim()
  if (d ~= 4 and d ~= 3) or x:size(d - 2) ~= self.in_channels then
    check.shape_error(self, "expected input [N x %d x H x W], got %s", self.in_channels, util.shape_str(x))
  end
  window.check_fits(self, x, self.kernel_size, self.padding, self.dilation, self.same_extra)
  return ember.conv2d(x, self.weight, self.bias, {stride = self.stride, padding = self.same and "same" or self.padding,
                                                  dilation = self.dilation, groups = self.groups})
end

return M
