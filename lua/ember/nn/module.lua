-- ember.nn.module: the Module protocol every layer and user model follows: classes (extend), the
-- registration of parameters, buffers and submodules by assignment, walking the tree of modules
-- (parameters, train/eval, apply) and state dicts. The rules of registration are in ember.nn's header.
local ember = require "ember"
local E = require "ember.error"
local check = require "ember.nn.check"
local util = require "ember.util"

local M = {}

local is_tensor, show, shape_str = util.is_tensor, util.show, util.shape_str
local fail_at = check.fail_at

-- an error of kind type named where ("Net:add"): an argument of the wrong type
local function type_error(where, fmt, ...) E.raise("type", where, fmt, ...) end

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

-- assignment registers modules and leaf tensors that require grad (see ember.nn's header)
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

-- printing lives in ember.nn.print, which builds on this file: loaded on the first print
local function module_text(self) return require("ember.nn.print").text(self) end
Module.__tostring = module_text

--- Module:extend(name) -> a new class deriving from this one. Define cls:init(...) and cls:forward(...);
--- cls(...) or cls.new(...) constructs an instance (init receives the arguments).
function Module:extend(name)
  if type(name) ~= "string" or name == "" then
    check.fail_type("nn.Module:extend", "class name expected (got %s)", show(name))
  end
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
  fail_at(self.__name, "forward is not defined (define function %s:forward(x) ... end)", self.__name)
end

function Module:__call(...)
  return self:forward(...)
end

--- m:add([name,] module) -> module: registers a child; without a name it takes the next integer field
function Module:add(name, module)
  if module == nil and is_module(name) then
    name, module = #self + 1, name
  end
  if not is_module(module) then type_error(self.__name .. ":add", "module expected (got %s)", show(module)) end
  if type(name) ~= "string" and not check.is_int(name, 1) then
    type_error(self.__name .. ":add", "name must be a string or a positive integer (got %s)", show(name))
  end
  register(self, name, "member")
  rawset(self, name, module)
  return module
end

-- registers t as field name of kind "member" or "buffer", after checking both (t may be nil for a buffer)
local function register_tensor(self, method, name, t, kind)
  local where = self.__name .. ":" .. method
  if type(name) ~= "string" then type_error(where, "name must be a string (got %s)", show(name)) end
  if (t ~= nil or kind ~= "buffer") and not is_tensor(t) then
    type_error(where, "tensor expected for %s (got %s)", name, show(t))
  end
  if kind ~= "buffer" then
    if not t.is_leaf then fail_at(where, "%s must be a leaf tensor (use :detach())", name) end
    t:requires_grad(true)
  end
  register(self, name, kind)
  rawset(self, name, t)
  return t
end

--- m:param(name, tensor) -> tensor: registers a trainable parameter (turns requires_grad on)
function Module:param(name, t) return register_tensor(self, "param", name, t, "member") end

--- m:buffer(name, tensor) -> tensor: registers state that is saved and loaded but not trained
--- (as running_mean in BatchNorm)
function Module:buffer(name, t) return register_tensor(self, "buffer", name, t, "buffer") end

--- module.walk(m, prefix, visit) calls visit(prefix, module) for m and every submodule, parents first,
-- each module once (a module shared or reached again through a cycle is not visited twice)
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
M.walk = walk

--- module.own(m, kind) -> m's own tensors of one kind ("param" or "buffer") as {name, tensor} pairs
local function own(self, kind)
  local out, kinds = {}, rawget(self, "_kinds")
  for _, k in ipairs(rawget(self, "_names")) do
    local v = rawget(self, k)
    if is_tensor(v) and (kinds[k] == "buffer") == (kind == "buffer") then out[#out + 1] = {k, v} end
  end
  return out
end
M.own = own

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

--- m:named_children() -> array of {name, module} pairs of the direct submodules, in registration order
function Module:named_children()
  local out = {}
  for _, k in ipairs(rawget(self, "_names")) do
    local v = rawget(self, k)
    if is_module(v) then out[#out + 1] = {k, v} end
  end
  return out
end

--- m:children() -> array of the direct submodules, in registration order
function Module:children()
  local out = {}
  for i, c in ipairs(self:named_children()) do out[i] = c[2] end
  return out
end

local function apply(self, fn, open)
  open[self] = true
  for _, c in ipairs(self:children()) do
    if not open[c] then apply(c, fn, open) end   -- a child that contains its parent is a cycle: stop
  end
  open[self] = nil
  fn(self)
end

--- m:apply(fn) -> m: calls fn(module) for every submodule and then m itself (for custom init); a module
--- registered under two names is visited under each, a cycle of modules once around
function Module:apply(fn)
  if not util.callable(fn) then
    type_error(self.__name .. ":apply", "function expected (got %s)", show(fn))
  end
  apply(self, fn, {})
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
  if type(mode) ~= "boolean" then type_error(self.__name .. ":train", "mode must be true or false (got %s)", show(mode)) end
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

-- the state dict's entries against the model's tensors (name -> tensor, and their order): an error for
-- a value that cannot be loaded; returns the missing and unexpected names
local function match_state(where, sd, targets, order)
  local missing, unexpected = {}, {}
  for _, name in ipairs(order) do
    local v, t = sd[name], targets[name]
    if v == nil then
      missing[#missing + 1] = name
    elseif type(v) == "number" then
      if t:numel() ~= 1 then
        E.raise("shape", where, "%s: a number cannot be loaded into a tensor of shape %s", name, shape_str(t))
      end
    elseif not is_tensor(v) then
      type_error(where, "%s: tensor expected (got %s)", name, type(v))
    else
      local a, b = shape_str(v), shape_str(t)
      if a ~= b then E.raise("shape", where, "%s: shape %s in the state dict, %s in the model", name, a, b) end
    end
  end
  for k in pairs(sd) do
    if targets[k] == nil then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  return missing, unexpected
end

--- m:load_state_dict(sd [, strict = true]) -> missing, unexpected (arrays of names).
--- Copies sd's values into the model's existing tensors (so optimizers holding them stay valid).
--- Every entry is checked before anything is copied: a shape mismatch is always an error; with strict,
--- so are missing and unexpected names. A number is accepted for a one-element tensor.
function Module:load_state_dict(sd, strict)
  local where = self.__name .. ":load_state_dict"
  if type(sd) ~= "table" then type_error(where, "state dict table expected (got %s)", show(sd)) end
  if strict == nil then strict = true end
  local targets, order = {}, {}
  for _, kind in ipairs{"param", "buffer"} do
    for _, p in ipairs(named(self, kind)) do targets[p[1]] = p[2]; order[#order + 1] = p[1] end
  end
  local missing, unexpected = match_state(where, sd, targets, order)
  if strict and (#missing > 0 or #unexpected > 0) then
    local parts = {}
    if #missing > 0 then parts[#parts + 1] = "missing " .. table.concat(missing, ", ") end
    if #unexpected > 0 then parts[#parts + 1] = "unexpected " .. table.concat(unexpected, ", ") end
    fail_at(where, "keys do not match the model (%s); pass strict = false to load the matching ones",
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

--- m:spec() -> a plain-data description of the model ({kind = "Linear", args = {320, 10, {bias = true}}},
--- containers with their children's specs) that nn.from_spec(spec) rebuilds with fresh parameters; an
--- error for a module defined in Lua, which has none (ember.nn.spec)
function Module:spec() return require("ember.nn.spec").describe(self) end

return M
