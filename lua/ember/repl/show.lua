-- ember.repl.show: how the REPL prints values: strings as they are, tensors through their own
-- tostring, tables bounded in size, functions by their documented name or their parameters.
local ember = require "ember"
local names = require "ember.repl.names"
local shape_str = require("ember.util").shape_str

local M = {}

local is_ident, params, terminal_width = names.is_ident, names.params, names.terminal_width
local MAX_STRING = 80
local MAX_ARRAY = 200
local MAX_KEYS = 100

local function quote(s)
  if #s > MAX_STRING then s = s:sub(1, MAX_STRING - 3) .. "..." end
  return (("%q"):format(s):gsub("\\\n", "\\n"))
end

-- One value as a short one-line text, for inside a table.
local function short(v, idx)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  if ember.is_tensor(v) then
    if v:dim() == 0 then return ("tensor(%s)"):format(tostring(v:item())) end
    return "tensor" .. shape_str(v)
  end
  if t == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      local ok, s = pcall(tostring, v)
      if ok and type(s) == "string" then return s:match("^[^\n]*") end
    end
    local name = idx and idx[v] and idx[v][1]
    if name and names.module_name(v) then return "module " .. name end
    return next(v) == nil and "{}" or "{...}"
  end
  if t == "function" then
    local name = idx and idx[v] and idx[v][1]
    if debug.getinfo(v, "S").what == "Lua" then return "function" .. params(v) end
    return name and ("function " .. name) or "function"
  end
  return tostring(v)
end

local function key_text(k, idx)
  if is_ident(k) then
    for _, kw in ipairs(names.KEYWORDS) do if kw == k then return "[" .. quote(k) .. "]" end end
    return k
  end
  return "[" .. short(k, idx) .. "]"
end

local TYPE_ORDER = {number = 1, string = 2, boolean = 3}

local function key_less(a, b)
  local ta, tb = TYPE_ORDER[type(a)] or 4, TYPE_ORDER[type(b)] or 4
  if ta ~= tb then return ta < tb end
  if ta <= 2 then return a < b end
  return tostring(a) < tostring(b)
end

-- A table, one level deep: the array part then the other keys in order; on one line when it fits.
local function show_table(t, width)
  local idx = names.index()
  local n = rawlen(t)
  local arr, keyed = {}, {}
  for i = 1, math.min(n, MAX_ARRAY) do arr[i] = short(rawget(t, i), idx) end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  for i = 1, math.min(#keys, MAX_KEYS) do
    keyed[i] = key_text(keys[i], idx) .. " = " .. short(rawget(t, keys[i]), idx)
  end
  local more = math.max(0, n - MAX_ARRAY) + math.max(0, #keys - MAX_KEYS)
  if #arr + #keyed == 0 then return "{}" end
  local all = {}
  for _, s in ipairs(arr) do all[#all + 1] = s end
  for _, s in ipairs(keyed) do all[#all + 1] = s end
  local one = "{" .. table.concat(all, ", ") .. (more > 0 and (", ... (%d more)"):format(more) or "") .. "}"
  if #one <= width and not one:find("\n", 1, true) then return one end
  local lines, line = {"{"}, nil
  for _, s in ipairs(arr) do   -- array items packed into lines
    if line and #line + #s + 2 > width then lines[#lines + 1] = line .. ","; line = nil end
    line = line and (line .. ", " .. s) or ("  " .. s)
  end
  if line then lines[#lines + 1] = line .. "," end
  for _, s in ipairs(keyed) do lines[#lines + 1] = "  " .. s .. "," end
  if more > 0 then lines[#lines + 1] = ("  ... (%d more)"):format(more) end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n")
end

--- show.show(value): the text the session prints for a value: strings as they are, tensors through
-- tostring, tables one level deep (nested tables as {...}, tensors as tensor[shape]), functions with
-- their name or parameters. Returns the text.
function M.show(v)
  local t = type(v)
  if t == "string" then return v end
  if ember.is_tensor(v) then return tostring(v) end
  if t == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      local ok, s = pcall(tostring, v)
      if ok and type(s) == "string" then return s end
    end
    return show_table(v, terminal_width())
  end
  if t == "function" then
    local idx = names.index()
    local name = idx[v] and idx[v][1]
    if debug.getinfo(v, "S").what == "Lua" then
      return ("function: %s%s"):format(name or tostring(v):gsub("^function: ", ""), params(v, name and name:find(":", 1, true)))
    end
    return name and ("function: " .. name) or tostring(v)
  end
  return tostring(v)
end

--- show.print(...): prints every value as show.show does; on one line separated by tabs when they
-- are all short, else one per line.
function M.print(...)
  local n = select("#", ...)
  local parts, multi, len = {}, false, 0
  for i = 1, n do
    local s = M.show((select(i, ...)))
    parts[i] = s
    len = len + #s + 1
    if s:find("\n", 1, true) then multi = true end
  end
  io.write(table.concat(parts, (multi or len > terminal_width()) and "\n" or "\t"), "\n")
  io.stdout:flush()
end

return M
