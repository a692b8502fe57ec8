-- ember.repl.names: what the REPL's printing, help and completion share about values and their names:
-- the tensor method table, which module a table is, the documented names of a function, the
-- parameters of a Lua function and how a dotted path is read.
--
-- Completion runs while readline waits for a key, where Ctrl-C cannot interrupt Lua: everything here
-- that completion calls reads tables raw (next, rawget) and never runs a user's metamethod.
local ember = require "ember"

local M = {}

M.KEYWORDS = {"and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
              "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"}
M.LAZY = {nn = true, optim = true, loss = true}   -- globals resolved from ember's fields on first use
M.STDLIBS = {"string", "table", "math", "io", "os", "coroutine", "utf8", "debug", "package"}

function M.is_ident(s) return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil end

-- util.callable reads mt.__call through the metatable's own __index; this one reads it raw
function M.callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

--- names.sorted_keys(t) -> the keys of t (read raw), sorted
function M.sorted_keys(t)
  local out = {}
  for k in next, t do out[#out + 1] = k end
  table.sort(out, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
    return type(a) < type(b)
  end)
  return out
end

function M.terminal_width()
  local ok, cols = pcall(ember.terminal_size)
  return ok and tonumber(cols) or 80
end

local tensor_methods_cache
--- names.tensor_methods() -> the method table of tensors: the upvalue of the C closure that is the
-- tensor metatable's __index
function M.tensor_methods()
  if tensor_methods_cache then return tensor_methods_cache end
  local mt = getmetatable(ember.zeros(1))
  local idx = type(mt) == "table" and rawget(mt, "__index")
  if type(idx) == "table" then tensor_methods_cache = idx
  elseif type(idx) == "function" then
    for i = 1, 8 do
      local name, v = debug.getupvalue(idx, i)
      if name == nil then break end
      if type(v) == "table" then tensor_methods_cache = v; break end
    end
  end
  return tensor_methods_cache or {}
end

--- names.module_name(v) -> the name v has in package.loaded ("ember.plot"), nil when v is no module
function M.module_name(v)
  for name, mod in next, package.loaded do
    if rawequal(mod, v) and type(name) == "string" and name ~= "_G" then return name end
  end
end

-- adds the string keys of t (sorted, read raw) as prefix .. key
local function add_fields(add, t, prefix)
  for _, k in ipairs(M.sorted_keys(t)) do
    if type(k) == "string" then add(rawget(t, k), prefix .. k) end
  end
end

--- names.index() -> value -> list of its names, most specific first: tensor methods, ember and its
-- loaded modules, the globals, then Lua's standard libraries
function M.index()
  local idx = {}
  local function add(v, name)
    local t = type(v)
    if t == "nil" or t == "number" or t == "string" or t == "boolean" then return end
    local l = idx[v]
    if not l then l = {}; idx[v] = l end
    l[#l + 1] = name
  end
  add_fields(add, M.tensor_methods(), "Tensor:")
  add(ember, "ember")
  add_fields(add, ember, "ember.")
  local mods = {}
  for name in next, package.loaded do
    if type(name) == "string" and name:match("^ember%.") then mods[#mods + 1] = name end
  end
  table.sort(mods)
  for _, name in ipairs(mods) do
    local mod = package.loaded[name]
    add(mod, name)
    if type(mod) == "table" then add_fields(add, mod, name .. ".") end
  end
  add_fields(add, _G, "")
  for _, lib in ipairs(M.STDLIBS) do
    local t = rawget(_G, lib)
    if type(t) == "table" then add_fields(add, t, lib .. ".") end
  end
  return idx
end

--- names.params(f [, drop_self]) -> "(a, b, ...)": the parameter names of a Lua function
function M.params(f, drop_self)
  local info = debug.getinfo(f, "u")
  local ps = {}
  for i = 1, info.nparams do ps[#ps + 1] = debug.getlocal(f, i) end
  if drop_self and ps[1] == "self" then table.remove(ps, 1) end
  if info.isvararg then ps[#ps + 1] = "..." end
  return "(" .. table.concat(ps, ", ") .. ")"
end

--- names.resolve(path) -> the value a dotted path names ("ember.plot.dumb_curve"), reading fields the
-- way code would (so lazy modules load and __index runs); nil when some part is missing or fails.
-- For help, which runs as a typed line does (Ctrl-C stops it).
function M.resolve(path)
  local v = _G
  for part in path:gmatch("[^.]+") do
    if v == nil then return nil end
    local ok, r = pcall(function() return v[part] end)
    if not ok then return nil end
    v = r
  end
  return v
end

-- the field of an ember module that is a submodule not loaded yet ("ember.schedule"), loaded: ember's
-- own code, so completion may run it
local function ember_submodule(mod, key)
  local mname = M.module_name(mod)
  local full = mname and (mname == "ember" or mname:match("^ember%.")) and mname .. "." .. key
  if not full or not package.preload[full] then return nil end
  local ok, sub = pcall(require, full)
  return ok and sub or nil
end

--- names.resolve_raw(path) -> what resolve gives, read without running any user code: table fields
-- raw (then through __index tables, never __index functions), the lazy globals and ember's submodules
-- loaded by require, tensor fields through the tensor's own (C) __index; nil for anything else
function M.resolve_raw(path)
  local v = _G
  for part in path:gmatch("[^.]+") do
    if ember.is_tensor(v) then
      local ok, r = pcall(function() return v[part] end)
      v = ok and r or nil
    elseif type(v) == "table" then
      local r = M.rawfield(v, part)
      if r == nil and rawequal(v, _G) and M.LAZY[part] then r = ember_submodule(ember, part) end
      if r == nil then r = ember_submodule(v, part) end
      v = r
    else
      return nil
    end
    if v == nil then return nil end
  end
  return v
end

--- names.rawfield(t, k) -> t[k] read raw, then through the chain of __index tables (at most 8 deep);
-- an __index function is never called
function M.rawfield(t, k)
  local cur = t
  for _ = 1, 9 do
    local v = rawget(cur, k)
    if v ~= nil then return v end
    local mt = getmetatable(cur)
    local idx = type(mt) == "table" and rawget(mt, "__index")
    if type(idx) ~= "table" then return nil end
    cur = idx
  end
end

return M
