-- ember.repl.describe: the help texts of each kind of value: a function (its doc comment, or docs.lua
-- for what is written in C), a class or an object (its doc and methods), a module (its line and its
-- functions) and tensors. For ember's own names only text written for users shows, with the section of
-- docs/api.md that says more; a user's own functions and modules show their comments as they are.
local E = require "ember.error"
local names = require "ember.repl.names"
local sources = require "ember.repl.sources"
local docs = require "ember.repl.docs"
local shape_str = require("ember.util").shape_str

local M = {}

local is_ident, callable, params, module_name = names.is_ident, names.callable, names.params, names.module_name
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

-- modules that hold ember's machinery, not its API: a function they define is not listed elsewhere
local INTERNAL = {"ember.util", "ember.error", "ember.session", "ember.cli", "ember.repl"}

local function defined_in(f)
  local src = debug.getinfo(f, "S").source
  local rel = src:match("^=%[ember%]/(.+)%.lua$") or src:match("/ember/([^@]+)%.lua$")
  return rel and ("ember." .. rel:gsub("/init$", ""):gsub("/", ".")) or nil
end

local function is_internal(f, listing)
  local mod = type(f) == "function" and defined_in(f)
  if not mod or mod == listing then return false end
  for _, m in ipairs(INTERNAL) do
    if mod == m or mod:sub(1, #m + 1) == m .. "." then return listing ~= m end
  end
  return false
end

-- the name as ember's docs spell it: "nn.Linear" typed at the prompt is ember.nn.Linear
local function public(name)
  local head = name:match("^([%a_][%w_]*)[.:]") or name
  if names.LAZY[head] then return "ember." .. name end
  return name
end

--- describe.more(known) -> "More: docs/api.md, section "..."." for the first of the names that
-- docs/api.md has a section about, or nil
function M.more(known)
  for _, n in ipairs(known) do
    local section = docs.section_of(public(n))
    if section then return ('More: %s, section "%s".'):format(docs.API, (section:gsub("`", ""))) end
  end
end

local function with_more(text, known)
  local more = M.more(known)
  return more and (text .. "\n" .. more) or text
end

local function is_own(f)
  return E._is_own(debug.getinfo(f, "S").source)
end

-- The doc as users call the function: a doc that does not open with a call ("ember.run{name, ...}",
-- "x:sum(...)") gets the call first.
local function with_call(name, f, doc)
  if doc:match("^[%a_][%w_.:]*[%({]") then return doc end
  return name .. params(f, name:find(":", 1, true)) .. "\n" .. doc
end

-- The doc comment of a Lua function (of ember's own only what users may read), or where a module
-- mentions one of its names; nil when there is none.
local function lua_doc_of(f, known)
  local clean = is_own(f) and sources.user_text or function(d) return d end
  local doc = clean(sources.lua_doc(f))
  for _, n in ipairs(known) do
    if doc then break end
    doc = clean(sources.mention_doc(public(n)))
  end
  return doc
end

-- A doc that opens with the call of a helper ember's machinery re-exports ("util.read_kv(path)" asked
-- for as ember.run.read_kv) opens with the name asked for instead.
local function renamed(doc, name)
  local lead, short = doc:match("^([%a_][%w_.]*)%.([%a_][%w_]*)[%({]")
  if not lead or short ~= name:match("[^.:]+$") then return doc end
  for _, m in ipairs(INTERNAL) do
    if "ember." .. lead == m then return name .. doc:sub(#lead + #short + 2) end
  end
  return doc
end

local function lua_function_doc(f, known)
  local doc, own = lua_doc_of(f, known), is_own(f)
  local name = known[1] or "function"
  local call = name .. params(f, name:find(":", 1, true))
  if not doc and own then return call .. ": no documentation" end
  if not doc then return call .. "\n(no doc comment; defined at " .. sources.where_defined(f) .. ")" end
  return own and with_call(public(name), f, renamed(doc, public(name))) or doc
end

--- describe.function_doc(f, known) -> the documentation of function f, known by the names in the list
-- known (the one typed first; may be empty)
function M.function_doc(f, known)
  known = known or {}
  if debug.getinfo(f, "S").what == "Lua" then return lua_function_doc(f, known) end
  for _, n in ipairs(known) do
    if docs.text[public(n)] then return docs.text[public(n)] end
  end
  for _, n in ipairs(known) do
    if is_std_name(n) then return n .. ": a Lua standard function; see " .. MANUAL .. n end
  end
  if known[1] then return known[1] .. ": a built-in function (no documentation)" end
  return "a built-in function (no documentation)"
end

-- A class (a callable table, as nn.Linear) is documented by docs.lua, else above its constructor (init
-- or new) when that names the class, else where its module mentions it (name: "ember.nn.ReLU"), else
-- above its constructor, __call or forward whatever they say.
local function class_doc(cls, name)
  if name and docs.text[public(name)] then return docs.text[public(name)] end
  local short = name and name:match("[^.:]+$")
  local ctor = sources.lua_doc(rawget(cls, "init")) or sources.lua_doc(rawget(cls, "new"))
  if ctor and short and ctor:find(short, 1, true) then return ctor end
  local d = name and sources.mention_doc(public(name))
  if d then return d end
  local mt = getmetatable(cls)
  return ctor or sources.lua_doc(type(mt) == "table" and rawget(mt, "__call") or nil) or sources.lua_doc(rawget(cls, "forward"))
end

local function own_class_doc(cls, name)
  local d = class_doc(cls, name)
  if d and name and name:match("^ember%.") then d = sources.user_text(d) end
  return d
end

-- Classes set Cls.__index = Cls; their instances have the class as metatable.
function M.is_class(v)
  return type(v) == "table" and rawget(v, "__index") == v
end

-- The first line of a doc, prefixed by the name when the doc does not start with it.
local function summary(name, doc)
  local first = doc:match("^[^\n]*")
  local short = name:match("[^.:]+$"):gsub("%p", "%%%0")
  if not first:match("^[%w_.:]*%f[%w_]" .. short .. "%f[^%w_]") then first = name .. ": " .. first end
  return first
end

local CONSTRUCTORS = {init = true, new = true, extend = true, super = true}

-- The public functions of t and of its class (through __index tables): name -> value. With classes,
-- callable tables (the classes of a module) count too; constructors stay out of a class's methods.
local function public_functions(t, sep, classes)
  local found = {}
  local cur, depth = t, 0
  while type(cur) == "table" and depth < 8 do
    for k, v in next, cur do
      if is_ident(k) and not k:match("^_") and found[k] == nil and not (sep == ":" and CONSTRUCTORS[k])
         and (type(v) == "function" or (classes and callable(v) and not module_name(v))) then
        found[k] = v
      end
    end
    local mt = getmetatable(cur)
    cur = type(mt) == "table" and rawget(mt, "__index") or nil
    depth = depth + 1
  end
  return found
end

-- The summary line of one entry of a listing, or nil when an ember module's entry has no documentation
-- for users or belongs to ember's machinery.
local function entry(v, full, sep, idx, listing)
  local own = listing and listing:match("^ember") ~= nil
  if own and is_internal(v, listing) then return nil end
  local known = {full}
  for _, m in ipairs(idx[v] or {}) do known[#known + 1] = m end
  local doc
  if type(v) ~= "function" then
    doc = own_class_doc(v, full)
  elseif debug.getinfo(v, "S").what == "Lua" then
    doc = lua_doc_of(v, known)
  else
    doc = docs.text[public(full)]
    for i = 2, #known do doc = doc or docs.text[public(known[i])] end
  end
  if not doc and own and (sep == "." or type(v) ~= "function") then return nil end
  if not doc then doc = type(v) == "function" and full .. params(v, sep == ":") or full end
  return "  " .. summary(full, doc)
end

--- describe.function_list(t, prefix, sep [, classes [, listing]]) -> the summary lines of the public
-- functions of t, named prefix .. sep .. key; listing: the module listed ("ember.nn"), whose entries
-- without documentation for users stay out
function M.function_list(t, prefix, sep, classes, listing)
  local found = public_functions(t, sep, classes)
  local keys = names.sorted_keys(found)
  local idx = names.index()
  local out = {}
  for _, k in ipairs(keys) do
    out[#out + 1] = entry(found[k], prefix .. sep .. k, sep, idx, listing)
  end
  return out
end

local function clip_lines(lines, width)
  for i, l in ipairs(lines) do
    if #l > width then lines[i] = l:sub(1, width - 3) .. "..." end
  end
  return lines
end

local function add_list(lines, title, list)
  if #list == 0 then return end
  lines[#lines + 1] = title
  for _, l in ipairs(clip_lines(list, names.terminal_width() - 1)) do lines[#lines + 1] = l end
end

--- describe.tensor(x) -> the help of tensors: x's shape when given, then what a tensor is, its methods
function M.tensor(x)
  local lines = {}
  if x ~= nil then
    lines[1] = ("tensor of shape %s%s"):format(shape_str(x), x:grad_required() and ", requires grad" or "")
  end
  lines[#lines + 1] = docs.text.Tensor
  lines[#lines + 1] = "methods (?x:NAME for one):"
  local width, line = names.terminal_width() - 2, " "
  for _, m in ipairs(names.sorted_keys(names.tensor_methods())) do
    if type(m) == "string" and not m:match("^_") then
      if #line + #m + 1 > width then lines[#lines + 1] = line; line = " " end
      line = line .. " " .. m
    end
  end
  if line ~= " " then lines[#lines + 1] = line end
  lines[#lines + 1] = ('More: %s, sections "Tensors" and "Autograd".'):format(docs.API)
  return table.concat(lines, "\n")
end

-- The line that describes module name: docs.lua's for ember's public modules, else the first
-- paragraph of the comment that opens its source ("nn.lua - " and developers' remarks left out).
local function module_line(name)
  if docs.text[name] then return docs.text[name] end
  if docs.MODULES[name] then return docs.MODULES[name][2] end
  if STD[name] then return ("%s: a Lua standard library; see https://www.lua.org/manual/5.4/manual.html#6"):format(name) end
  local src = sources.module(name)
  local doc = src and sources.leading_comment(src)
  if not doc then return "module " .. name end
  doc = doc:gsub("^[%w_./-]+%.lua %- ", "")
  if not name:match("^ember") then return doc end
  return sources.user_text(doc:match("^(.-)\n\n") or doc) or ("module " .. name)
end

local function public_modules()
  local out = {}
  for name in pairs(docs.MODULES) do
    if package.preload[name] or package.loaded[name] then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end

--- describe.module(name, mod) -> the help of a module: its line, its public functions and classes
function M.module(name, mod)
  local lines = {module_line(name)}
  if name == "ember" then lines[#lines + 1] = "modules: " .. table.concat(public_modules(), ", ") end
  add_list(lines, "functions:", M.function_list(mod, name, ".", true, name))
  return with_more(table.concat(lines, "\n"), {name})
end

--- describe.table(v, known, idx) -> the help of a class (its doc and methods), an object (its class's
-- doc and methods) or another table (its functions)
function M.table(v, known, idx)
  local lines = {}
  local mt = getmetatable(v)
  local cls = not M.is_class(v) and type(mt) == "table" and type(rawget(mt, "__index")) == "table" and mt or nil
  local prefix, more_names = "obj", known
  if M.is_class(v) or (callable(v) and not cls) then
    lines[1] = own_class_doc(v, known[1]) or known[1]
    prefix = known[1] and known[1]:match("[^.]+$") or "cls"
  elseif cls then
    local cname = idx[cls] and idx[cls][1]
    local d = own_class_doc(cls, cname)
    lines[1] = (cname and ("an object of class " .. cname) or "an object") .. (d and ":\n" .. d or "")
    more_names = idx[cls] or {}
  elseif known[1] then
    lines[1] = known[1]
  end
  add_list(lines, "methods:", M.function_list(v, prefix, ":"))
  if #lines == 0 then lines[1] = "a table with no functions (no documentation)" end
  return with_more(table.concat(lines, "\n"), more_names)
end

--- describe.value(v, known) -> the help of a function, with the section of docs/api.md about it
function M.value(v, known)
  return with_more(M.function_doc(v, known), known)
end

return M
