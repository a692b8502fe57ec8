-- ember.nn.spec: models that describe themselves as plain data, and are rebuilt from it.
--
--   model:spec()       -> {kind = "Sequential", args = {{kind = "Conv2d", args = {1, 10, {5, 5}, {...}}}, ...}}
--   nn.from_spec(spec) -> a new module of the same architecture, with fresh parameters
--
-- A spec holds only tables, strings, numbers and booleans (ember.save writes it as it is): the kind of
-- a built-in module and the arguments of its constructor, with the specs of a container's children in
-- place of the children. A built-in class gives its constructor's arguments with cls:spec_args(); a
-- module defined in Lua (Module:extend) has none, and describing it is an error naming it.
local E = require "ember.error"
local check = require "ember.nn.check"
local module = require "ember.nn.module"
local util = require "ember.util"

local M = {}

-- the tensors a built-in layer registers itself; anything else registered was added after construction
local OWN_TENSORS = {weight = true, bias = true, running_mean = true, running_var = true,
                     num_batches_tracked = true}

-- kind -> class of every built-in module that can describe itself (loaded on first use: ember.nn
-- requires this file's users)
local function kinds()
  local nn, out = require "ember.nn", {}
  for name, v in pairs(nn) do
    if type(v) == "table" and rawget(v, "spec_args") and rawget(v, "__name") == name then out[name] = v end
  end
  return out
end

local function where(path) return path == "" and "the model" or ("module " .. path) end

-- an error of model:spec() (st.fn: "Net:spec") for the module at path
local function refuse(st, path, fmt, ...)
  E.raise("value", st.fn, "%s: " .. fmt, where(path), ...)
end

-- every registered field of m is one the constructor of its kind registers
local function check_fields(st, m, path, container)
  for _, c in ipairs(m:named_children()) do
    if not (container and math.type(c[1]) == "integer") then
      refuse(st, path, "%s holds the module %s in field %s, added after construction: its spec cannot describe it",
             check.instance(m), check.instance(c[2]), tostring(c[1]))
    end
  end
  for _, kind in ipairs{"param", "buffer"} do
    for _, p in ipairs(module.own(m, kind)) do
      if not OWN_TENSORS[p[1]] then
        refuse(st, path, "%s holds the tensor %s, added after construction: its spec cannot describe it",
               check.instance(m), tostring(p[1]))
      end
    end
  end
end

local function describe(st, m, path)
  local cls = getmetatable(m)
  local name = rawget(cls, "__name")
  if st.classes[name] ~= cls then
    refuse(st, path, "%s has no spec: only ember.nn's built-in layers and containers can describe themselves "
           .. "(a module defined with Module:extend cannot be rebuilt from plain data)", tostring(name))
  end
  if st.open[m] then refuse(st, path, "%s contains itself: a cycle has no spec", check.instance(m)) end
  if st.seen[m] then
    refuse(st, path, "%s is the same module as %s: a spec cannot describe a module used twice", check.instance(m),
           where(st.seen[m]))
  end
  st.open[m], st.seen[m] = true, path
  check_fields(st, m, path, rawget(cls, "spec_children") == true)
  local args = m:spec_args(function(child, key)
    return describe(st, child, path == "" and tostring(key) or (path .. "." .. tostring(key)))
  end)
  st.open[m] = nil
  return {kind = name, args = args}
end

--- spec.describe(m) -> the spec of module m (Module:spec)
function M.describe(m)
  return describe({fn = m.__name .. ":spec", open = {}, seen = {}, classes = kinds()}, m, "")
end

local function is_spec(v) return type(v) == "table" and v.kind ~= nil end

-- as deep as ember.save nests tables: a spec read from a checkpoint is never deeper
local MAX_DEPTH = 200

-- the values of a spec's args, nil and why when args is not a list without holes
local function arg_values(args)
  if type(args) ~= "table" then return nil, ("args must be a list (got %s)"):format(util.show(args)) end
  local n, count = 0, 0
  for k in pairs(args) do
    if math.type(k) ~= "integer" or k < 1 then
      return nil, ("args must be a list (got the key %s)"):format(util.show(k))
    end
    n, count = math.max(n, k), count + 1
  end
  -- a hole would hand the constructor nil in its place, a different call than the one described
  if count ~= n then
    local hole = 1
    while args[hole] ~= nil do hole = hole + 1 end
    return nil, ("args must be a list without holes (args[%d] is nil, args[%d] is not)"):format(hole, n)
  end
  return args, n
end

-- st: classes (kind -> class), open (the specs being built: a spec inside itself is a cycle)
local function build(st, s, path, depth)
  local fail = function(fmt, ...) E.raise("value", "ember.nn.from_spec", "%s: " .. fmt, where(path), ...) end
  if type(s) ~= "table" then fail("a spec table {kind = ..., args = {...}} expected (got %s)", util.show(s)) end
  if st.open[s] then fail("the spec contains itself (a cycle)") end
  if depth > MAX_DEPTH then fail("specs nested deeper than %d modules", MAX_DEPTH) end
  local cls = st.classes[s.kind]
  if not cls then
    local names = {}
    for k in pairs(st.classes) do names[#names + 1] = k end
    table.sort(names)
    fail("unknown kind %s (known: %s)", util.show(s.kind), table.concat(names, ", "))
  end
  local args, n = arg_values(s.args or {})
  if not args then fail("%s", n) end
  st.open[s] = true
  local values = {}
  for i = 1, n do
    local a = args[i]
    values[i] = is_spec(a) and build(st, a, path == "" and tostring(i) or (path .. "." .. i), depth + 1) or a
  end
  st.open[s] = nil
  local ok, m = pcall(function() return cls(table.unpack(values, 1, n)) end)
  if not ok then fail("%s", E.message(m)) end
  return m
end

--- nn.from_spec(spec) -> a new module built from a spec that model:spec() gave, with fresh parameters
-- (load the trained ones with load_state_dict). An error names the part of the spec that is wrong.
function M.from_spec(s)
  return build({classes = kinds(), open = {}}, s, "", 1)
end

return M
