-- ember.repl.help: help(value), help("name") and ?NAME at the prompt: the documentation of a function
-- (its doc comment, or repl/docs.lua for what is written in C), a module (its functions), a class or
-- an object (its methods) and of tensors.
local ember = require "ember"
local names = require "ember.repl.names"
local sources = require "ember.repl.sources"

local M = {}

M.docs = require "ember.repl.docs"

local is_ident, callable, params = names.is_ident, names.callable, names.params
local tensor_methods, module_name, terminal_width = names.tensor_methods, names.module_name, names.terminal_width
local lua_doc, mention_doc = sources.lua_doc, sources.mention_doc
local shape_str = require("ember.util").shape_str
local MANUAL = "https://www.lua.org/manual/5.4/manual.html#pdf-"

local STD, BASE = {}, {}
for _, lib in ipairs(names.STDLIBS) do STD[lib] = true end
for _, f in ipairs{"assert", "collectgarbage", "dofile", "error", "getmetatable", "ipairs", "load", "loadfile",
                   "next", "pairs", "pcall", "print", "rawequal", "rawget", "rawlen", "rawset", "require",
                   "select", "setmetatable", "tonumber", "tostring", "type", "xpcall", "warn"} do
  BASE[f] = true
end

local function is_std_name(name)
  local lib = name:match("^(%a+)%.")
  if lib then return STD[lib] == true end
  return BASE[name] == true
end


-- Doc text of function f, known by names (a list, may be empty).
local function function_doc(f, known)
  known = known or {}
  if debug.getinfo(f, "S").what == "Lua" then
    local doc = lua_doc(f)
    if doc then return doc end
    for _, n in ipairs(known) do
      doc = mention_doc(n)
      if doc then return doc end
    end
    local name = known[1] or "function"
    return name .. params(f, name:find(":", 1, true)) .. "\n(no doc comment; defined at " .. sources.where_defined(f) .. ")"
  end
  for _, n in ipairs(known) do
    if M.docs[n] then return M.docs[n] end
  end
  for _, n in ipairs(known) do
    if is_std_name(n) then return n .. ": a Lua standard function; see " .. MANUAL .. n end
  end
  if known[1] then return known[1] .. ": a built-in function (no documentation)" end
  return "a built-in function (no documentation)"
end

-- A class (a callable table, as nn.Linear) is documented above its constructor (init, new or
-- __call), else above its forward, else where its module mentions it (name: "ember.nn.ReLU").
local function class_doc(cls, name)
  for _, k in ipairs{"init", "new"} do
    local d = lua_doc(rawget(cls, k))
    if d then return d end
  end
  local mt = getmetatable(cls)
  local d = lua_doc(type(mt) == "table" and rawget(mt, "__call") or nil) or lua_doc(rawget(cls, "forward"))
  if d then return d end
  return name and mention_doc(name) or nil
end

-- Classes set Cls.__index = Cls; their instances have the class as metatable.
local function is_class(v)
  return type(v) == "table" and rawget(v, "__index") == v
end

-- The first line of a doc, prefixed by the name when the doc does not start with it.
local function summary(name, doc)
  local first = doc:match("^[^\n]*")
  local short = name:match("[^.:]+$")
  if not first:find(short, 1, true) then first = name .. ": " .. first end
  return first
end

local CONSTRUCTORS = {init = true, new = true, extend = true, super = true}

-- Public functions of a table (and of its class, through __index tables), with their summaries;
-- with classes, callable tables (classes of a module) count too. Constructors of a class stay out
-- when listing methods (sep ":").
local function function_list(t, prefix, sep, classes)
  local seen, keys = {}, {}
  local cur, depth = t, 0
  while type(cur) == "table" and depth < 8 do
    for k, v in next, cur do
      if is_ident(k) and not k:match("^_") and not seen[k] and not (sep == ":" and CONSTRUCTORS[k])
         and (type(v) == "function" or (classes and callable(v) and not module_name(v))) then
        seen[k] = v
        keys[#keys + 1] = k
      end
    end
    local mt = getmetatable(cur)
    cur = type(mt) == "table" and rawget(mt, "__index") or nil
    depth = depth + 1
  end
  table.sort(keys)
  local idx = names.index()
  local out = {}
  for _, k in ipairs(keys) do
    local v, full = seen[k], prefix .. sep .. k
    local doc
    if type(v) == "function" then
      local n = {full}
      for _, m in ipairs(idx[v] or {}) do n[#n + 1] = m end
      doc = function_doc(v, n)
      if doc:find("^[^\n]*%(no doc comment") or doc:find("\n%(no doc comment") then doc = full .. params(v, sep == ":") end
    else
      doc = class_doc(v, full) or full
    end
    out[#out + 1] = "  " .. summary(full, doc)
  end
  return out
end

local function clip_lines(lines, width)
  for i, l in ipairs(lines) do
    if #l > width then lines[i] = l:sub(1, width - 3) .. "..." end
  end
  return lines
end

local function tensor_help(x)
  local methods = names.sorted_keys(tensor_methods())
  local lines = {}
  if x ~= nil then
    lines[1] = ("tensor of shape %s%s"):format(shape_str(x), x.requires_grad and ", requires grad" or "")
  end
  lines[#lines + 1] = M.docs.Tensor
  lines[#lines + 1] = "methods (?x:NAME for one):"
  local width, line = terminal_width() - 2, " "
  for _, m in ipairs(methods) do
    if #line + #m + 1 > width then lines[#lines + 1] = line; line = " " end
    line = line .. " " .. m
  end
  if line ~= " " then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

local function module_help(name, mod)
  local lines = {}
  local doc = M.docs[name]
  if not doc then
    local src = sources.module(name)
    doc = src and sources.leading_comment(src)
  end
  if STD[name] then doc = ("%s: a Lua standard library; see https://www.lua.org/manual/5.4/manual.html#6"):format(name) end
  lines[1] = doc or ("module " .. name)
  local fns = function_list(mod, name, ".", true)
  if name == "ember" then
    local subs = {}
    for k in pairs(package.preload) do
      local s = k:match("^ember%.([%a_][%w_]*)$")
      if s and s ~= "repl" then subs[#subs + 1] = "ember." .. s end
    end
    table.sort(subs)
    if #subs > 0 then lines[#lines + 1] = "modules: " .. table.concat(subs, ", ") end
  end
  if #fns > 0 then
    lines[#lines + 1] = "functions:"
    for _, l in ipairs(clip_lines(fns, terminal_width() - 1)) do lines[#lines + 1] = l end
  end
  return table.concat(lines, "\n")
end

local GENERAL = [[
ember interactive session (Lua 5.4)
  EXPR              prints its value; a statement runs; an unfinished block continues (>> prompt)
  ?NAME             documentation: ?ember.zeros  ?x:reshape  ?nn  ?plot   (help(value) does the same)
  :time EXPR        runs EXPR and reports how long it took (time(function() ... end) also does)
  plot(run)         a loss curve in the terminal: run directory, ember.run object, list of numbers,
                    {train_loss = {...}, ...} or rows {{epoch = 1, loss = 0.5}, ...}
  Tab               completes globals, fields, methods (x:resh<Tab>) and file names in strings
  Ctrl-C            interrupts a running computation; Ctrl-D (or :quit) leaves
Globals: ember, nn, optim, loss, help, plot, time. Variables declared `local` last one line only;
assign globals (x = ...) to keep them. History: ~/.ember_history (EMBER_HISTORY overrides).]]

--- help.doc(value [, name]): the documentation text of a value: a function (its doc comment, or the
-- table of C function docs), a module, a tensor (its methods), an object (its methods). name, when
-- given, is the name it was looked up by. Returns the text.
function M.doc(v, name)
  local idx = names.index()
  local known = {}
  if name then known[1] = name end
  for _, n in ipairs(idx[v] or {}) do if n ~= name then known[#known + 1] = n end end
  if name and M.docs[name] and type(v) ~= "table" and type(v) ~= "function" then return M.docs[name] end
  if name == "Tensor" then return tensor_help(nil) end
  if ember.is_tensor(v) then return tensor_help(v) end
  if type(v) == "function" then return function_doc(v, known) end
  if type(v) == "table" then
    local mname = module_name(v)
    if mname then return module_help(mname, v) end
    if v == _G then return "_G: the table of global variables" end
    local lines = {}
    local mt = getmetatable(v)
    local cls = not is_class(v) and type(mt) == "table" and type(rawget(mt, "__index")) == "table" and mt or nil
    local prefix = "obj"
    if is_class(v) or (callable(v) and not cls) then
      -- a class: the doc of its constructor, then its methods
      lines[1] = class_doc(v, known[1]) or known[1]
      prefix = known[1] and known[1]:match("[^.]+$") or "cls"
    elseif cls then
      -- an object: its class's doc, then the methods it inherits
      local cname = idx[cls] and idx[cls][1]
      local d = class_doc(cls, cname)
      lines[1] = (cname and ("an object of class " .. cname) or "an object") .. (d and ":\n" .. d or "")
    elseif known[1] then
      lines[1] = known[1]
    end
    local fns = function_list(v, prefix, ":")
    if #fns > 0 then
      lines[#lines + 1] = "methods:"
      for _, l in ipairs(clip_lines(fns, terminal_width() - 1)) do lines[#lines + 1] = l end
    end
    if #lines == 0 then lines[1] = "a table with no functions (no documentation)" end
    return table.concat(lines, "\n")
  end
  if name then return ("%s: a %s (no documentation)"):format(name, type(v)) end
  return ("a %s value (no documentation)"):format(type(v))
end

local function method_of(obj, m)
  if ember.is_tensor(obj) then return rawget(tensor_methods(), m), "Tensor:" .. m end
  local ok, r = pcall(function() return obj[m] end)
  if ok then return r end
end

--- help.lookup(name): the value a name refers to and its documented name: a path ("ember.zeros",
-- "x:reshape", "Tensor:sum") or a bare name searched among tensor methods, ember's functions and
-- modules, and Lua's libraries ("reshape", "cosine"). Returns value, name; nil when nothing matches.
function M.lookup(name)
  name = name:match("^%s*(.-)%s*$")
  local obj, m = name:match("^([%a_][%w_.]*):([%a_][%w_]*)$")
  if obj then
    if obj == "Tensor" then return rawget(tensor_methods(), m), "Tensor:" .. m end
    local o = names.resolve(obj)
    if o == nil then return nil end
    local v, n = method_of(o, m)
    return v, n or name
  end
  local tm = name:match("^Tensor%.([%a_][%w_]*)$")
  if tm then return rawget(tensor_methods(), tm), "Tensor:" .. tm end
  if name == "Tensor" then return ember.zeros(0), "Tensor" end
  if not name:match("^[%a_][%w_]*[%w_.]*$") then return nil end
  local v = names.resolve(name)
  if v ~= nil then return v, name end
  if name:find(".", 1, true) then
    -- names as the docs spell them: "plot.series" for ember.plot.series
    v = names.resolve("ember." .. name)
    if v ~= nil then return v, "ember." .. name end
    return nil
  end
  local tv = rawget(tensor_methods(), name)
  if tv then return tv, "Tensor:" .. name end
  v = rawget(ember, name)
  if v ~= nil then return v, "ember." .. name end
  -- load every ember module (a name may live in any of them) and search their fields
  local mods = {}
  for k in pairs(package.preload) do if k:match("^ember%.") then mods[#mods + 1] = k end end
  table.sort(mods)
  for _, mname in ipairs(mods) do
    local ok, mod = pcall(require, mname)
    if ok and type(mod) == "table" and rawget(mod, name) ~= nil then return rawget(mod, name), mname .. "." .. name end
  end
  for _, lib in ipairs(names.STDLIBS) do
    local t = rawget(_G, lib)
    if type(t) == "table" and rawget(t, name) ~= nil then return rawget(t, name), lib .. "." .. name end
  end
  return nil
end

--- help.help_text([value]): the text help(value) prints; a string is looked up as a name (see
-- help.lookup); with no argument, the overview of the session.
function M.help_text(...)
  if select("#", ...) == 0 then return GENERAL end
  local v = ...
  if type(v) == "string" then
    local found, name = M.lookup(v)
    if found == nil then
      if M.docs[v] then return M.docs[v] end
      return ("help: nothing named '%s' (try ?ember for the list of functions)"):format(v)
    end
    return M.doc(found, name)
  end
  if v == nil then return "help: the value is nil (an undefined name? try help(\"name\") or ?name)" end
  return M.doc(v)
end

--- help([value]): prints the documentation of a function, module, tensor or object; help("name")
-- looks a name up (help("reshape"), help("ember.zeros")); help() gives an overview. ?NAME at the
-- prompt is the same as help("NAME").
function M.help(...)
  io.write(M.help_text(...), "\n")
end

return M
