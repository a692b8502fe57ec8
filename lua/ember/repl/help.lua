-- ember.repl.help: help(value), help("name") and ?NAME at the prompt: finds what a name refers to and
-- which kind of help it gets (describe.lua writes the texts).
local ember = require "ember"
local names = require "ember.repl.names"

local M = {}

local docs = require "ember.repl.docs"
local describe = require "ember.repl.describe"
M.docs = docs.text

local tensor_methods = names.tensor_methods

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

-- ember._mse, Tensor:_x, ember.run._capture
local function is_internal_name(name)
  return name:match("^ember[%w_.:]*[.:]_") ~= nil or name:match("^Tensor[.:]_") ~= nil
end

--- help.doc(value [, name]): the documentation text of a value: a function (its doc comment, or the
-- table of C function docs), a module, a tensor (its methods), an object (its methods). name, when
-- given, is the name it was looked up by. Returns the text.
function M.doc(v, name)
  local idx = names.index()
  local known = {}
  if name then known[1] = name end
  for _, n in ipairs(idx[v] or {}) do if n ~= name then known[#known + 1] = n end end
  if name and is_internal_name(name) then
    return ("%s is internal to ember: names that start with _ may change without notice"):format(name)
  end
  if name == "Tensor" then return describe.tensor(nil) end
  if name and M.docs[name] and type(v) ~= "table" and type(v) ~= "function" then return M.docs[name] end
  if ember.is_tensor(v) then return describe.tensor(v) end
  if type(v) == "function" then return describe.value(v, known) end
  if type(v) == "table" then
    local mname = names.module_name(v)
    if mname then return describe.module(mname, v) end
    if v == _G then return "_G: the table of global variables" end
    return describe.table(v, known, idx)
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
