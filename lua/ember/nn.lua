-- nn.lua - ember.nn: layers as modules (Linear, Conv2d, pooling, activations, Dropout, BatchNorm,
-- Sequential) over the C kernels of core/nn.h, the nn.Module base class for user models, parameter
-- initialisation (nn.init) and weight penalties.
--
-- Writing a module in Lua:
--
--   local Net = nn.Module:extend("Net")
--   function Net:init(hidden)                   -- called by Net(hidden) / Net.new(hidden)
--     self.fc1 = nn.Linear(784, hidden)          -- a module assigned to a field is registered ...
--     self.fc2 = nn.Linear(hidden, 10)
--     self.scale = ember.ones(10):requires_grad()  -- ... and so is a leaf tensor that requires grad
--     self:buffer("seen", ember.zeros(1))        -- state saved with the model but not trained
--   end
--   function Net:forward(x)                      -- any tensor ops: autograd records them
--     return self.fc2(self.fc1(x:flatten(2)):relu()) * self.scale
--   end
--   local net = Net(128)                         -- net(x) calls net:forward(x)
--
-- Registration by assignment covers modules and leaf tensors that require grad; `self:add(name, m)`,
-- `self:param(name, t)` and `self:buffer(name, t)` do the same explicitly (and return their argument).
-- Names are the field names, dotted through submodules ("fc1.weight", "1.bias" in a Sequential, whose
-- layers are fields 1, 2, ...). Order is stable: a module's own parameters in the order they were first
-- assigned, then each child's, recursively, in the order the children were first assigned (PyTorch's).
-- Reassigning a field keeps its place; setting it to nil removes it. Tensors that do not require grad
-- (constants, cached activations) are plain fields unless registered with self:buffer. Lua only sees
-- the first assignment of a field, so a field first set to a plain value (false, a number) and later
-- to a module is not registered: use self:add / self:param for it.
local ember = require "ember"

local M = {}

local is_tensor = ember.is_tensor
local sqrt, floor, huge = math.sqrt, math.floor, math.huge

local E = require "ember.error"

-- fail(where, fmt, ...): where is a public name ("nn.Linear" -> "ember.nn.Linear") or a module
-- instance as the user sees it ("Linear(320 -> 10)", a user-defined "Encoder"), kept as it is
local function fail(where, fmt, ...)
  where = tostring(where)
  if where:find("^nn[.:]") then where = "ember." .. where end
  local e = E.new("value", where, select("#", ...) > 0 and string.format(fmt, ...) or fmt)
  e.where = E.where(2)
  error(e, 0)
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if is_tensor(v) then return "tensor" end
  return tostring(v)
end

-- "[64 x 1 x 28 x 28]", as the core formats shapes
local shape_str = require("ember.util").shape_str
M.shape_str = shape_str

local function is_int(v, min)
  if type(v) ~= "number" or v ~= floor(v) or v == huge or v == -huge then return false end
  return v >= (min or -huge)
end

-- 1234567 -> "1,234,567"
local function count_str(n)
  local sign, digits = tostring(math.tointeger(n) or floor(n)):match("^(%-?)(%d+)$")
  if not digits then return tostring(n) end
  local k = #digits % 3
  if k == 0 then k = 3 end
  return sign .. digits:sub(1, k) .. (digits:sub(k + 1):gsub("(%d%d%d)", ",%1"))
end

-------------------------------------------------------------------------------------------------------
-- Module

local Module = {}
Module.__index = Module
Module.__name = "Module"
M.Module = Module

--- nn.is_module(v) -> true when v is a module instance
local function is_module(v)
  return type(v) == "table" and rawget(v, "_names") ~= nil and getmetatable(v) ~= nil
end
M.is_module = is_module

local function register(self, name, kind)
  local kinds = rawget(self, "_kinds")
  if kinds[name] == nil then
    local names = rawget(self, "_names")
    names[#names + 1] = name
  end
  if kind == "buffer" or kinds[name] == nil then kinds[name] = kind end
end

-- assignment registers modules and leaf tensors that require grad (see the header)
function Module.__newindex(self, k, v)
  if is_module(v) or (is_tensor(v) and v.is_leaf and v:grad_required()) then register(self, k, "member") end
  rawset(self, k, v)
end

local function construct(cls, ...)
  local self = setmetatable({}, cls)
  rawset(self, "_names", {})   -- registered fields, in first-assignment order
  rawset(self, "_kinds", {})   -- field -> "member" (module or parameter, by value) | "buffer"
  rawset(self, "training", true)
  self:init(...)
  return self
end

--- Module:extend(name) -> a new class deriving from this one. Define cls:init(...) and cls:forward(...);
--- cls(...) or cls.new(...) constructs an instance (init receives the arguments).
function Module:extend(name)
  if type(name) ~= "string" or name == "" then fail("nn.Module:extend", "class name expected (got %s)", show(name)) end
  local cls = {}
  for _, k in ipairs{"__call", "__tostring", "__newindex"} do cls[k] = self[k] end
  cls.__index = cls
  cls.__name = name
  cls.super = self
  cls.new = function(...) return construct(cls, ...) end
  return setmetatable(cls, {__index = self, __call = function(c, ...) return construct(c, ...) end})
end

Module.new = function(...) return construct(Module, ...) end
setmetatable(Module, {__call = function(c, ...) return construct(c, ...) end})

--- m:init(...) -- constructor body; the default does nothing
function Module:init() end

--- m:forward(...) -- the computation; m(...) calls it
function Module:forward()
  fail(self.__name, "forward is not defined (define function %s:forward(x) ... end)", self.__name)
end

function Module:__call(...)
  return self:forward(...)
end

--- m:add([name,] module) -> module: registers a child; without a name it takes the next integer field
function Module:add(name, module)
  if module == nil and is_module(name) then
    name, module = #self + 1, name
  end
  if not is_module(module) then fail(self.__name .. ":add", "module expected (got %s)", show(module)) end
  if type(name) ~= "string" and not is_int(name, 1) then
    fail(self.__name .. ":add", "name must be a string or a positive integer (got %s)", show(name))
  end
  register(self, name, "member")
  rawset(self, name, module)
  return module
end

--- m:param(name, tensor) -> tensor: registers a trainable parameter (turns requires_grad on)
function Module:param(name, t)
  local where = self.__name .. ":param"
  if type(name) ~= "string" then fail(where, "name must be a string (got %s)", show(name)) end
  if not is_tensor(t) then fail(where, "tensor expected for %s (got %s)", name, show(t)) end
  if not t.is_leaf then fail(where, "%s must be a leaf tensor (use :detach())", name) end
  t:requires_grad(true)
  register(self, name, "member")
  rawset(self, name, t)
  return t
end

--- m:buffer(name, tensor) -> tensor: registers state that is saved and loaded but not trained
--- (as running_mean in BatchNorm)
function Module:buffer(name, t)
  local where = self.__name .. ":buffer"
  if type(name) ~= "string" then fail(where, "name must be a string (got %s)", show(name)) end
  if t ~= nil and not is_tensor(t) then fail(where, "tensor expected for %s (got %s)", name, show(t)) end
  register(self, name, "buffer")
  rawset(self, name, t)
  return t
end

-- calls visit(prefix, module) for this module and every submodule, parents first
local function walk(self, prefix, visit, seen)
  seen = seen or {}
  if seen[self] then return end
  seen[self] = true
  visit(prefix, self)
  for _, k in ipairs(rawget(self, "_names")) do
    local v = rawget(self, k)
    if is_module(v) then walk(v, prefix .. tostring(k) .. ".", visit, seen) end
  end
end

-- the module's own tensors of one kind ("param" or "buffer") as {name, tensor} pairs
local function own(self, kind)
  local out, kinds = {}, rawget(self, "_kinds")
  for _, k in ipairs(rawget(self, "_names")) do
    local v = rawget(self, k)
    if is_tensor(v) and (kinds[k] == "buffer") == (kind == "buffer") then out[#out + 1] = {k, v} end
  end
  return out
end

local function named(self, kind)
  local out, seen = {}, {}
  walk(self, "", function(prefix, m)
    for _, p in ipairs(own(m, kind)) do
      if not seen[p[2]] then   -- a tensor shared by two modules is listed once
        seen[p[2]] = true
        out[#out + 1] = {prefix .. tostring(p[1]), p[2]}
      end
    end
  end)
  return out
end

--- m:named_parameters() -> array of {name, tensor} pairs in a stable order (see the header), e.g.
---   for _, p in ipairs(model:named_parameters()) do print(p[1], p[2]:numel()) end
function Module:named_parameters() return named(self, "param") end

--- m:parameters() -> array of the trainable tensors, in named_parameters order
function Module:parameters()
  local out = {}
  for i, p in ipairs(named(self, "param")) do out[i] = p[2] end
  return out
end

--- m:named_buffers() -> array of {name, tensor} pairs of the non-trained state (running statistics)
function Module:named_buffers() return named(self, "buffer") end

--- m:children() -> array of the direct submodules, in registration order
function Module:children()
  local out = {}
  for _, k in ipairs(rawget(self, "_names")) do
    local v = rawget(self, k)
    if is_module(v) then out[#out + 1] = v end
  end
  return out
end

--- m:named_children() -> array of {name, module} pairs
function Module:named_children()
  local out = {}
  for _, k in ipairs(rawget(self, "_names")) do
    local v = rawget(self, k)
    if is_module(v) then out[#out + 1] = {k, v} end
  end
  return out
end

--- m:apply(fn) -> m: calls fn(module) for every submodule and then m itself (for custom init)
function Module:apply(fn)
  for _, c in ipairs(self:children()) do c:apply(fn) end
  fn(self)
  return self
end

--- m:num_parameters() -> the number of trainable values (shared tensors counted once)
function Module:num_parameters()
  local n = 0
  for _, p in ipairs(named(self, "param")) do n = n + p[2]:numel() end
  return n
end

--- m:zero_grad() -> m: drops every parameter's .grad (as PyTorch's set_to_none)
function Module:zero_grad()
  for _, p in ipairs(named(self, "param")) do p[2].grad = nil end
  return self
end

--- m:train([mode = true]) -> m: training mode for m and every submodule (Dropout drops, BatchNorm uses
--- batch statistics); m:train(false) is m:eval()
function Module:train(mode)
  if mode == nil then mode = true end
  walk(self, "", function(_, m) rawset(m, "training", mode and true or false) end)
  return self
end

--- m:eval() -> m: evaluation mode, recursively
function Module:eval() return self:train(false) end

--- m:state_dict() -> table name -> tensor of every parameter and buffer. The tensors share storage with
--- the model (detached, as PyTorch's): clone them to keep a snapshot.
function Module:state_dict()
  local sd = {}
  for _, p in ipairs(named(self, "param")) do sd[p[1]] = p[2]:detach() end
  for _, p in ipairs(named(self, "buffer")) do sd[p[1]] = p[2]:detach() end
  return sd
end

--- m:load_state_dict(sd [, strict = true]) -> missing, unexpected (arrays of names).
--- Copies sd's values into the model's existing tensors (so optimizers holding them stay valid).
--- Every entry is checked before anything is copied: a shape mismatch is always an error; with strict,
--- so are missing and unexpected names. A number is accepted for a one-element tensor.
function Module:load_state_dict(sd, strict)
  local where = self.__name .. ":load_state_dict"
  if type(sd) ~= "table" then fail(where, "state dict table expected (got %s)", show(sd)) end
  if strict == nil then strict = true end
  local targets, order = {}, {}
  for _, kind in ipairs{"param", "buffer"} do
    for _, p in ipairs(named(self, kind)) do targets[p[1]] = p[2]; order[#order + 1] = p[1] end
  end
  local missing, unexpected = {}, {}
  for _, name in ipairs(order) do
    local v, t = sd[name], targets[name]
    if v == nil then
      missing[#missing + 1] = name
    elseif type(v) == "number" then
      if t:numel() ~= 1 then
        fail(where, "%s: a number cannot be loaded into a tensor of shape %s", name, shape_str(t))
      end
    elseif not is_tensor(v) then
      fail(where, "%s: tensor expected (got %s)", name, type(v))
    else
      local a, b = shape_str(v), shape_str(t)
      if a ~= b then fail(where, "%s: shape %s in the state dict, %s in the model", name, a, b) end
    end
  end
  for k in pairs(sd) do
    if targets[k] == nil then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  if strict and (#missing > 0 or #unexpected > 0) then
    local parts = {}
    if #missing > 0 then parts[#parts + 1] = "missing " .. table.concat(missing, ", ") end
    if #unexpected > 0 then parts[#parts + 1] = "unexpected " .. table.concat(unexpected, ", ") end
    fail(where, "keys do not match the model (%s); pass strict = false to load the matching ones",
         table.concat(parts, "; "))
  end
  ember.no_grad(function()
    for _, name in ipairs(order) do
      local v = sd[name]
      if type(v) == "number" then targets[name]:fill(v)
      elseif v ~= nil then targets[name]:copy(v) end
    end
  end)
  return missing, unexpected
end

--- m:extra_repr() -> string shown between the parentheses when printing (layers override it)
function Module:extra_repr() return "" end

-- "Linear(320 -> 10)"
local function short_repr(m)
  return m.__name .. "(" .. m:extra_repr() .. ")"
end
M.short_repr = short_repr

local function params_note(n)
  return n > 0 and ("  " .. count_str(n) .. (n == 1 and " param" or " params")) or ""
end

local function repr_lines(m, indent, lines, label)
  local kids = m:named_children()
  local head = indent .. (label or "") .. m.__name .. "(" .. m:extra_repr()
  if #kids == 0 then
    lines[#lines + 1] = head .. ")" .. params_note(m:num_parameters())
    return
  end
  lines[#lines + 1] = head
  for _, p in ipairs(own(m, "param")) do
    lines[#lines + 1] = indent .. "  (" .. tostring(p[1]) .. "): parameter " .. shape_str(p[2]) ..
      params_note(p[2]:numel())
  end
  for _, c in ipairs(kids) do repr_lines(c[2], indent .. "  ", lines, "(" .. tostring(c[1]) .. "): ") end
  lines[#lines + 1] = indent .. ")" .. (indent ~= "" and params_note(m:num_parameters()) or "")
end

--- tostring(m): the architecture, one line per layer with its parameter count; a container ends with
--- a line "Total: N parameters"
function Module:__tostring()
  local lines = {}
  repr_lines(self, "", lines)
  if #self:children() > 0 then
    local total = self:num_parameters()
    lines[#lines + 1] = "Total: " .. count_str(total) .. (total == 1 and " parameter" or " parameters")
  end
  return table.concat(lines, "\n")
end

-------------------------------------------------------------------------------------------------------
-- nn.init: in-place initialisers (run under no_grad, so they work on parameters); each returns t

local init = {}
M.init = init

local function check_t(where, t)
  if not is_tensor(t) then fail("nn.init." .. where, "tensor expected (got %s)", show(t)) end
end

--- init.calculate_fan(t) -> fan_in, fan_out: for [out x in] weights in and out; for conv weights
--- [out x in x k...] in and out times the receptive field (PyTorch's _calculate_fan_in_and_fan_out)
function init.calculate_fan(t)
  check_t("calculate_fan", t)
  local s = t:shape()
  if #s < 2 then fail("nn.init.calculate_fan", "needs at least 2 dimensions (got %s)", shape_str(t)) end
  local rf = 1
  for i = 3, #s do rf = rf * s[i] end
  return s[2] * rf, s[1] * rf
end

--- init.calculate_gain(nonlinearity [, param]) -> the recommended gain (PyTorch's table): linear, conv*,
--- sigmoid 1; tanh 5/3; relu sqrt(2); leaky_relu sqrt(2 / (1 + slope^2)) (slope default 0.01); selu 3/4
function init.calculate_gain(nl, param)
  if nl == "linear" or nl == "sigmoid" or (type(nl) == "string" and nl:match("^conv")) then return 1 end
  if nl == "tanh" then return 5 / 3 end
  if nl == "relu" then return sqrt(2) end
  if nl == "leaky_relu" then
    local a = param == nil and 0.01 or param
    if type(a) ~= "number" then fail("nn.init.calculate_gain", "slope must be a number (got %s)", show(a)) end
    return sqrt(2 / (1 + a * a))
  end
  if nl == "selu" then return 3 / 4 end
  fail("nn.init.calculate_gain", "unknown nonlinearity %s", show(nl))
end

--- init.uniform_(t [, lo = 0, hi = 1]) -> t, from ember's seeded generator
function init.uniform_(t, lo, hi)
  check_t("uniform_", t)
  return ember.no_grad(function() return t:uniform(lo or 0, hi or 1) end)
end

--- init.normal_(t [, mean = 0, std = 1]) -> t
function init.normal_(t, mean, std)
  check_t("normal_", t)
  return ember.no_grad(function() return t:normal(mean or 0, std or 1) end)
end

--- init.constant_(t, v) -> t;  init.zeros_(t), init.ones_(t)
function init.constant_(t, v)
  check_t("constant_", t)
  if type(v) ~= "number" then fail("nn.init.constant_", "value must be a number (got %s)", show(v)) end
  return ember.no_grad(function() return t:fill(v) end)
end
function init.zeros_(t) return init.constant_(t, 0) end
function init.ones_(t) return init.constant_(t, 1) end

local function kaiming_std(where, t, opts)
  if type(opts) == "number" then opts = {a = opts} end
  opts = opts or {}
  local a, mode, nl = opts.a or 0, opts.mode or "fan_in", opts.nonlinearity or "leaky_relu"
  if mode ~= "fan_in" and mode ~= "fan_out" then
    fail("nn.init." .. where, "mode must be \"fan_in\" or \"fan_out\" (got %s)", show(mode))
  end
  local fan_in, fan_out = init.calculate_fan(t)
  local fan = mode == "fan_in" and fan_in or fan_out
  local gain = init.calculate_gain(nl, a)
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
  local fi, fo = init.calculate_fan(t)
  local b = (gain or 1) * sqrt(6 / math.max(fi + fo, 1))
  return init.uniform_(t, -b, b)
end

--- init.xavier_normal_(t [, gain = 1]) -> t: N(0, gain^2 2 / (fan_in + fan_out))
function init.xavier_normal_(t, gain)
  check_t("xavier_normal_", t)
  local fi, fo = init.calculate_fan(t)
  return init.normal_(t, 0, (gain or 1) * sqrt(2 / math.max(fi + fo, 1)))
end

-------------------------------------------------------------------------------------------------------
-- argument helpers for the layers

local function check_count(where, what, v)
  if not is_int(v, 1) then fail(where, "%s must be a positive integer (got %s)", what, show(v)) end
  return math.tointeger(v)
end

-- an integer or a table {h, w} -> h, w (each >= min)
local function pair(where, what, v, min)
  local h, w = v, v
  if type(v) == "table" then h, w = v[1], v[2] end
  if not (is_int(h, min) and is_int(w, min)) or (type(v) == "table" and #v ~= 2) then
    fail(where, "%s must be an integer >= %d or a table of 2 (got %s)", what, min,
         type(v) == "table" and "{" .. table.concat(v, ", ") .. "}" or show(v))
  end
  return math.tointeger(h), math.tointeger(w)
end

local function opts_table(where, o)
  if o == nil then return {} end
  if type(o) ~= "table" then fail(where, "options must be a table (got %s)", show(o)) end
  return o
end

local function pair_str(h, w) return h == w and tostring(h) or (h .. "x" .. w) end

-------------------------------------------------------------------------------------------------------
-- Linear

local Linear = Module:extend("Linear")
M.Linear = Linear

--- nn.Linear(in_features, out_features [, {bias = true}]): y = x W^T + b for x [* x in_features].
--- W [out x in] and b [out] start as U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default, from ember's seed).
function Linear:init(in_features, out_features, opts)
  local where = "nn.Linear"
  self.in_features = check_count(where, "in_features", in_features)
  self.out_features = check_count(where, "out_features", out_features)
  opts = opts_table(where, opts)
  local w = ember.empty(out_features, in_features)
  init.kaiming_uniform_(w, {a = sqrt(5)})
  self:param("weight", w)
  if opts.bias ~= false then
    local bound = 1 / sqrt(in_features)
    self:param("bias", init.uniform_(ember.empty(out_features), -bound, bound))
  end
end

function Linear:extra_repr()
  return self.in_features .. " -> " .. self.out_features .. (rawget(self, "bias") and "" or ", bias = false")
end

function Linear:forward(x)
  if not is_tensor(x) then fail(short_repr(self), "tensor expected (got %s)", show(x)) end
  local d = x:dim()
  if d == 0 or x:size(d) ~= self.in_features then
    fail(short_repr(self), "input has %d features (%s)", d == 0 and 0 or x:size(d), shape_str(x))
  end
  return ember.linear(x, self.weight, self.bias)
end

-------------------------------------------------------------------------------------------------------
-- Conv2d

local Conv2d = Module:extend("Conv2d")
M.Conv2d = Conv2d

--- nn.Conv2d(in_channels, out_channels, kernel_size [, {stride = 1, padding = 0, dilation = 1,
--- groups = 1, bias = true}]): 2-d cross-correlation over [N x Cin x H x W] (or [Cin x H x W]).
--- Sizes are an integer or {h, w}; padding may also be "valid" (0) or "same" (stride 1, output size =
--- input size; an even dilated kernel gets the odd row and column of padding at the bottom and right, as
--- PyTorch). groups splits the channels into that many blocks convolved separately (groups = Cin = Cout:
--- depthwise). Weight [Cout x Cin/groups x kh x kw] and bias start as U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
--- fan_in = Cin/groups kh kw (PyTorch's default).
function Conv2d:init(cin, cout, kernel, opts)
  local where = "nn.Conv2d"
  self.in_channels = check_count(where, "in_channels", cin)
  self.out_channels = check_count(where, "out_channels", cout)
  if type(opts) == "number" then
    fail(where, "give stride, padding and dilation as options: nn.Conv2d(%d, %d, %s, {stride = 1, padding = 0})",
         cin, cout, tostring(kernel))
  end
  opts = opts_table(where, opts)
  self.kernel_size = {pair(where, "kernel_size", kernel, 1)}
  self.stride = {pair(where, "stride", opts.stride or 1, 1)}
  self.dilation = {pair(where, "dilation", opts.dilation or 1, 1)}
  local groups = opts.groups or 1
  if math.type(groups) ~= "integer" or groups < 1 or cin % groups ~= 0 or cout % groups ~= 0 then
    fail(where, "groups must be an integer >= 1 dividing in_channels (%d) and out_channels (%d) (got %s)", cin, cout,
         show(groups))
  end
  self.groups = groups
  local pad = opts.padding or 0
  if pad == "valid" then pad = 0 end
  if pad == "same" then
    if self.stride[1] ~= 1 or self.stride[2] ~= 1 then fail(where, "padding = \"same\" needs stride 1") end
    local p = {}
    for i = 1, 2 do p[i] = self.dilation[i] * (self.kernel_size[i] - 1) // 2 end
    self.same = true   -- ember.conv2d pads an odd span's extra row and column at the bottom and right
    pad = p
  end
  self.padding = {pair(where, "padding", pad, 0)}
  local kh, kw = self.kernel_size[1], self.kernel_size[2]
  local w = ember.empty(cout, cin // groups, kh, kw)
  init.kaiming_uniform_(w, {a = sqrt(5)})
  self:param("weight", w)
  if opts.bias ~= false then
    local bound = 1 / sqrt(cin // groups * kh * kw)
    self:param("bias", init.uniform_(ember.empty(cout), -bound, bound))
  end
end

function Conv2d:extra_repr()
  local s = self.in_channels .. " -> " .. self.out_channels .. ", kernel " ..
    pair_str(self.kernel_size[1], self.kernel_size[2])
  local st, pd, dl = self.stride, self.padding, self.dilation
  if st[1] ~= 1 or st[2] ~= 1 then s = s .. ", stride " .. pair_str(st[1], st[2]) end
  if pd[1] ~= 0 or pd[2] ~= 0 then s = s .. ", padding " .. pair_str(pd[1], pd[2]) end
  if dl[1] ~= 1 or dl[2] ~= 1 then s = s .. ", dilation " .. pair_str(dl[1], dl[2]) end
  if (self.groups or 1) > 1 then s = s .. ", groups " .. self.groups end
  if not rawget(self, "bias") then s = s .. ", bias = false" end
  return s
end

-- the input's spatial size against the dilated kernel: "input ... is smaller than the kernel"
local function check_window(where, x, k, pad, dil)
  local d = x:dim()
  local h, w = x:size(d - 1), x:size(d)
  if h + 2 * pad[1] < dil[1] * (k[1] - 1) + 1 or w + 2 * pad[2] < dil[2] * (k[2] - 1) + 1 then
    local extra = (pad[1] + pad[2] > 0 and (", padding " .. pair_str(pad[1], pad[2])) or "") ..
      (dil[1] * dil[2] > 1 and (", dilation " .. pair_str(dil[1], dil[2])) or "")
    fail(where, "input %s is smaller than the kernel (%d x %d%s)", shape_str(x), k[1], k[2], extra)
  end
end

function Conv2d:forward(x)
  if not is_tensor(x) then fail(short_repr(self), "tensor expected (got %s)", show(x)) end
  local d = x:dim()
  if (d ~= 4 and d ~= 3) or x:size(d - 2) ~= self.in_channels then
    fail(short_repr(self), "expected input [N x %d x H x W], got %s", self.in_channels, shape_str(x))
  end
  check_window(short_repr(self), x, self.kernel_size, self.padding, self.dilation)
  return ember.conv2d(x, self.weight, self.bias, {stride = self.stride, padding = self.same and "same" or self.padding,
                                                  dilation = self.dilation, groups = self.groups})
end

-------------------------------------------------------------------------------------------------------
-- pooling

local function pool_init(self, where, kernel, stride, opts, avg)
  if type(stride) == "table" and opts == nil and not stride[1] then stride, opts = nil, stride end
  opts = opts_table(where, opts)
  if stride == nil then stride = opts.stride end
  self.kernel_size = {pair(where, "kernel_size", kernel, 1)}
  self.stride = stride == nil and {self.kernel_size[1], self.kernel_size[2]} or {pair(where, "stride", stride, 1)}
  self.padding = {pair(where, "padding", opts.padding or 0, 0)}
  for i = 1, 2 do
    if self.padding[i] > self.kernel_size[i] // 2 then
      fail(where, "padding must be at most half the kernel size (got padding %d, kernel %d)", self.padding[i],
           self.kernel_size[i])
    end
  end
  if avg then
    if opts.dilation ~= nil and opts.dilation ~= 1 then fail(where, "dilation is not supported") end
    self.dilation = {1, 1}
    self.count_include_pad = opts.count_include_pad ~= false
  else
    self.dilation = {pair(where, "dilation", opts.dilation or 1, 1)}
  end
  self.ceil_mode = opts.ceil_mode == true
end

local function pool_repr(self)
  local k, st, pd, dl = self.kernel_size, self.stride, self.padding, self.dilation
  local s = "kernel " .. pair_str(k[1], k[2]) .. ", stride " .. pair_str(st[1], st[2])
  if pd[1] ~= 0 or pd[2] ~= 0 then s = s .. ", padding " .. pair_str(pd[1], pd[2]) end
  if dl[1] ~= 1 or dl[2] ~= 1 then s = s .. ", dilation " .. pair_str(dl[1], dl[2]) end
  if self.ceil_mode then s = s .. ", ceil_mode" end
  if self.count_include_pad == false then s = s .. ", count_include_pad = false" end
  return s
end

local function pool_forward(self, x, fn)
  if not is_tensor(x) then fail(short_repr(self), "tensor expected (got %s)", show(x)) end
  local d = x:dim()
  if d ~= 4 and d ~= 3 then fail(short_repr(self), "expected input [N x C x H x W], got %s", shape_str(x)) end
  check_window(short_repr(self), x, self.kernel_size, self.padding, self.dilation)
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
function MaxPool2d:forward(x) return pool_forward(self, x, ember.max_pool2d) end

local AvgPool2d = Module:extend("AvgPool2d")
M.AvgPool2d = AvgPool2d

--- nn.AvgPool2d(kernel_size [, stride = kernel_size] [, {stride, padding = 0, ceil_mode = false,
--- count_include_pad = true}]): the mean of each window; with count_include_pad the zero padding counts
--- in the divisor (PyTorch's default).
function AvgPool2d:init(kernel, stride, opts) pool_init(self, "nn.AvgPool2d", kernel, stride, opts, true) end
AvgPool2d.extra_repr = pool_repr
function AvgPool2d:forward(x) return pool_forward(self, x, ember.avg_pool2d) end

-------------------------------------------------------------------------------------------------------
-- activations and shape layers

local function tensor_arg(self, x)
  if not is_tensor(x) then fail(short_repr(self), "tensor expected (got %s)", show(x)) end
  return x
end

local function simple(name, method)
  local cls = Module:extend(name)
  cls.forward = function(self, x) return tensor_arg(self, x)[method](x) end
  M[name] = cls
  return cls
end

--- nn.ReLU(): max(x, 0);  nn.Sigmoid(): 1 / (1 + exp(-x));  nn.Tanh(): tanh(x)
simple("ReLU", "relu")
simple("Sigmoid", "sigmoid")
simple("Tanh", "tanh")

local Identity = Module:extend("Identity")
M.Identity = Identity
--- nn.Identity(): returns its input (a placeholder layer)
function Identity:forward(x) return x end

local LeakyReLU = Module:extend("LeakyReLU")
M.LeakyReLU = LeakyReLU
--- nn.LeakyReLU([negative_slope = 0.01]): x for x > 0, negative_slope x otherwise
function LeakyReLU:init(slope)
  if slope ~= nil and type(slope) ~= "number" then
    fail("nn.LeakyReLU", "negative_slope must be a number (got %s)", show(slope))
  end
  self.negative_slope = slope or 0.01
end
function LeakyReLU:extra_repr() return "negative_slope = " .. self.negative_slope end
function LeakyReLU:forward(x) return tensor_arg(self, x):leaky_relu(self.negative_slope) end

local GELU = Module:extend("GELU")
M.GELU = GELU
--- nn.GELU([{approximate = "none"}]): x Phi(x) with the exact normal CDF (Hendrycks & Gimpel 2016,
--- arXiv:1606.08415); approximate = "tanh" uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
function GELU:init(opts)
  opts = opts_table("nn.GELU", opts)
  local a = opts.approximate or "none"
  if a ~= "none" and a ~= "tanh" then
    fail("nn.GELU", "approximate must be \"none\" or \"tanh\" (got %s)", show(a))
  end
  self.approximate = a
end
function GELU:extra_repr() return self.approximate == "tanh" and "approximate = tanh" or "" end
function GELU:forward(x)
  tensor_arg(self, x)
  if self.approximate == "tanh" then
    return x * 0.5 * (((x + x * x * x * 0.044715) * sqrt(2 / math.pi)):tanh() + 1)
  end
  return x:gelu()
end

local function dim_layer(name, method)
  local cls = Module:extend(name)
  M[name] = cls
  cls.init = function(self, dim)
    if dim ~= nil and not is_int(dim) then fail("nn." .. name, "dim must be an integer (got %s)", show(dim)) end
    self.dim = dim or -1
  end
  cls.extra_repr = function(self) return "dim = " .. self.dim end
  cls.forward = function(self, x) return tensor_arg(self, x)[method](x, self.dim) end
  return cls
end

--- nn.Softmax([dim = -1]): exp(x) / sum(exp(x)) along dim (1-based; -1 is the last);
--- nn.LogSoftmax([dim = -1]): its logarithm, computed stably
dim_layer("Softmax", "softmax")
dim_layer("LogSoftmax", "log_softmax")

local Flatten = Module:extend("Flatten")
M.Flatten = Flatten
--- nn.Flatten([start_dim = 2, end_dim = -1]): merges dims start_dim..end_dim (keeps the batch dim)
function Flatten:init(start_dim, end_dim)
  if start_dim ~= nil and not is_int(start_dim) then fail("nn.Flatten", "start_dim must be an integer (got %s)", show(start_dim)) end
  if end_dim ~= nil and not is_int(end_dim) then fail("nn.Flatten", "end_dim must be an integer (got %s)", show(end_dim)) end
  self.start_dim, self.end_dim = start_dim or 2, end_dim or -1
end
function Flatten:extra_repr()
  return (self.start_dim == 2 and self.end_dim == -1) and "" or (self.start_dim .. ", " .. self.end_dim)
end
function Flatten:forward(x) return tensor_arg(self, x):flatten(self.start_dim, self.end_dim) end

-------------------------------------------------------------------------------------------------------
-- Dropout

local Dropout = Module:extend("Dropout")
M.Dropout = Dropout

--- nn.Dropout([p = 0.5]): in training mode zeroes each element with probability p (from ember's seeded
--- generator) and scales the rest by 1 / (1 - p); in eval mode returns its input unchanged.
function Dropout:init(p)
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    fail("nn.Dropout", "p must be a number in [0, 1] (got %s)", show(p))
  end
  self.p = p
end
function Dropout:extra_repr() return "p = " .. self.p end
function Dropout:forward(x)
  tensor_arg(self, x)
  if not self.training or self.p == 0 then return x end
  return ember.dropout(x, self.p)
end

-------------------------------------------------------------------------------------------------------
-- BatchNorm

local function bn_init(self, where, num_features, opts)
  self.num_features = check_count(where, "num_features", num_features)
  opts = opts_table(where, opts)
  local eps, momentum = opts.eps or 1e-5, opts.momentum
  if momentum == nil then momentum = 0.1 end
  if type(eps) ~= "number" or not (eps >= 0) then fail(where, "eps must be a number >= 0 (got %s)", show(eps)) end
  if momentum ~= false and (type(momentum) ~= "number" or not (momentum >= 0 and momentum <= 1)) then
    fail(where, "momentum must be a number in [0, 1], or false for a cumulative average (got %s)", show(momentum))
  end
  self.eps, self.momentum = eps, momentum
  self.affine = opts.affine ~= false
  self.track_running_stats = opts.track_running_stats ~= false
  if self.affine then
    self:param("weight", ember.ones(num_features))
    self:param("bias", ember.zeros(num_features))
  end
  if self.track_running_stats then
    self:buffer("running_mean", ember.zeros(num_features))
    self:buffer("running_var", ember.ones(num_features))
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

local BatchNorm1d = Module:extend("BatchNorm1d")
M.BatchNorm1d = BatchNorm1d

--- nn.BatchNorm1d(num_features [, {eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true}])
--- over [N x C] or [N x C x L]: y = (x - mean) / sqrt(var + eps) * weight + bias per channel, with the
--- batch's mean and biased variance in training, which also updates
--- running = (1 - momentum) running + momentum batch (unbiased variance) and counts num_batches_tracked;
--- eval uses the running statistics. momentum = false keeps a cumulative average instead.
function BatchNorm1d:init(n, opts) bn_init(self, "nn.BatchNorm1d", n, opts) end
BatchNorm1d.extra_repr = bn_repr
function BatchNorm1d:forward(x)
  tensor_arg(self, x)
  local d = x:dim()
  if (d ~= 2 and d ~= 3) or x:size(2) ~= self.num_features then
    fail(short_repr(self), "expected input [N x %d] or [N x %d x L], got %s", self.num_features, self.num_features,
         shape_str(x))
  end
  return bn_forward(self, x)
end

local BatchNorm2d = Module:extend("BatchNorm2d")
M.BatchNorm2d = BatchNorm2d

--- nn.BatchNorm2d(num_features [, options as BatchNorm1d]) over [N x C x H x W], statistics per channel
--- over N, H and W
function BatchNorm2d:init(n, opts) bn_init(self, "nn.BatchNorm2d", n, opts) end
BatchNorm2d.extra_repr = bn_repr
function BatchNorm2d:forward(x)
  tensor_arg(self, x)
  if x:dim() ~= 4 or x:size(2) ~= self.num_features then
    fail(short_repr(self), "expected input [N x %d x H x W], got %s", self.num_features, shape_str(x))
  end
  return bn_forward(self, x)
end

-------------------------------------------------------------------------------------------------------
-- Sequential

local Sequential = Module:extend("Sequential")
M.Sequential = Sequential

--- nn.Sequential{layer, layer, ...} (or nn.Sequential(layer, layer, ...)): applies the layers in order.
--- Layer i is field i (model[1]), so parameters are named "1.weight", "1.bias", ...; seq:add(layer)
--- appends. An error inside layer i is re-raised as "in layer i of Sequential (Layer(...)): message".
function Sequential:init(...)
  local n, layers = select("#", ...), {...}
  if n == 1 and type(layers[1]) == "table" and not is_module(layers[1]) then
    layers, n = layers[1], 0
    for k in pairs(layers) do
      if not is_int(k, 1) then fail("nn.Sequential", "layers must be a list (got the key %s)", show(k)) end
      if k > n then n = k end
    end
  end
  for i = 1, n do
    if not is_module(layers[i]) then fail("nn.Sequential", "layer %d is not a module (got %s)", i, show(layers[i])) end
    self:add(i, layers[i])
  end
end

function Sequential:forward(x, ...)
  local n = #self
  if n == 0 then return x end
  for i = 1, n do
    local layer = rawget(self, i)
    local ok, y
    if i == 1 then ok, y = pcall(layer, x, ...) else ok, y = pcall(layer, x) end
    if not ok then
      -- the layer's error, with the layer it came from (as torch/nn's rethrowErrors)
      local context = "in layer " .. i .. " of Sequential (" .. short_repr(layer) .. "): "
      if type(y) == "string" then error(context .. y, 0) end
      if E.is(y) then
        local e = E.new(y.kind, nil, context .. E.message(y), {layer = i, cause = y})
        e.where = y.where
        error(e, 0)
      end
      error(y, 0)
    end
    x = y
  end
  return x
end

-------------------------------------------------------------------------------------------------------
-- penalties

local function param_list(where, params)
  if is_module(params) then return params:parameters() end
  if type(params) ~= "table" then fail(where, "list of tensors or a module expected (got %s)", show(params)) end
  for i, p in ipairs(params) do
    if not is_tensor(p) then fail(where, "element %d is not a tensor (got %s)", i, show(p)) end
  end
  return params
end

--- nn.l1_penalty(params) -> 0-d tensor sum_p sum |p| (differentiable; the gradient at 0 is 0).
--- params: a list of tensors or a module. Add lambda * it to the loss for L1 regularisation.
function M.l1_penalty(params)
  local total
  for _, p in ipairs(param_list("nn.l1_penalty", params)) do
    local s = p:abs():sum()
    total = total and total + s or s
  end
  return total or ember.tensor(0)
end

--- nn.l2_penalty(params) -> 0-d tensor sum_p sum p^2 / 2, whose gradient is p itself (so lambda times it
--- in the loss equals weight_decay = lambda in SGD). params: a list of tensors or a module.
function M.l2_penalty(params)
  local total
  for _, p in ipairs(param_list("nn.l2_penalty", params)) do
    local s = p:square():sum()
    total = total and total + s or s
  end
  return total and total * 0.5 or ember.tensor(0)
end

-------------------------------------------------------------------------------------------------------
-- functional forms (the kernels the layers use)

--- nn.functional: linear(x, w [, b]), conv2d(x, w [, b] [, {stride, padding, dilation}]),
--- max_pool2d / avg_pool2d(x, kernel [, opts]), batch_norm(x, w, b, rm, rv, training [, momentum, eps]),
--- dropout(x, p [, training = true]), relu, sigmoid, tanh, gelu, softmax(x, dim), log_softmax(x, dim)
M.functional = {
  linear = ember.linear, conv2d = ember.conv2d, max_pool2d = ember.max_pool2d, avg_pool2d = ember.avg_pool2d,
  batch_norm = ember.batch_norm, dropout = ember.dropout,
  relu = function(x) return x:relu() end, sigmoid = function(x) return x:sigmoid() end,
  tanh = function(x) return x:tanh() end, gelu = function(x) return x:gelu() end,
  leaky_relu = function(x, s) return x:leaky_relu(s) end,
  softmax = function(x, dim) return x:softmax(dim or -1) end,
  log_softmax = function(x, dim) return x:log_softmax(dim or -1) end,
}

return M
