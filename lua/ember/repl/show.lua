-- ember.repl.show: how the REPL prints values: strings as they are, tensors through their own
-- tostring, tables bounded in size, functions by their documented name or their parameters.
local ember = require "ember"
local names = require "ember.repl.names"
local shape_str = require("ember.util").shape_str

local M = {}

local is_ident, params, terminal_width = names.is_ident, names.params, names.terminal_width
local MAX_STRING = 80
local MAX_ARRAY = 200   -- items of the printed table itself
local MAX_KEYS = 100
local MAX_DEPTH = 2     -- levels shown: the printed table and the tables in it; deeper ones show as {...}
local MAX_INLINE = 12   -- a nested table with more entries shows as {...}

local function quote(s)
  if #s > MAX_STRING then s = s:sub(1, MAX_STRING - 3) .. "..." end
  return (("%q"):format(s):gsub("\\\n", "\\n"))
end

local function clip(s, width)
  s = s:match("^[^\n]*")
  if #s > width then s = s:sub(1, math.max(width - 3, 1)) .. "..." end
  return s
end

-- tostring that a failing __tostring cannot break (keys are sorted by it)
local function safe_text(v)
  local ok, s = pcall(tostring, v)
  return ok and type(s) == "string" and s or type(v)
end

-- How far a table print goes: the names of known values, the tables open on the way down (a table
-- met again among them is a cycle) and the width one item may take.
local function context(width)
  return {idx = names.index(), open = {}, width = width}
end

local inline_table

-- One value as a one-line text, for inside a table: nested tables up to MAX_DEPTH, small ones only.
local function short(v, ctx, depth)
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
      if ok and type(s) == "string" then return clip(s, ctx.width) end
    end
    local name = ctx.idx[v] and ctx.idx[v][1]
    if name and names.module_name(v) then return "module " .. name end
    if ctx.open[v] then return "<cycle>" end
    if next(v) == nil then return "{}" end
    return depth + 1 < MAX_DEPTH and inline_table(v, ctx, depth + 1) or "{...}"
  end
  if t == "function" then
    local name = ctx.idx[v] and ctx.idx[v][1]
    if debug.getinfo(v, "S").what == "Lua" then return "function" .. params(v) end
    return name and ("function " .. name) or "function"
  end
  return clip(safe_text(v), ctx.width)   -- a userdata's __tostring may fail or write lines
end

local function key_text(k, ctx, depth)
  if is_ident(k) then
    for _, kw in ipairs(names.KEYWORDS) do if kw == k then return "[" .. quote(k) .. "]" end end
    return k
  end
  return "[" .. short(k, ctx, depth) .. "]"
end

local TYPE_ORDER = {number = 1, string = 2, boolean = 3}

local function key_less(a, b)
  local ta, tb = TYPE_ORDER[type(a)] or 4, TYPE_ORDER[type(b)] or 4
  if ta ~= tb then return ta < tb end
  if ta <= 2 then return a < b end
  return safe_text(a) < safe_text(b)
end

-- The items of table t (read raw): at most max_array of its array part, then at most max_keys of the
-- other keys in order, each as text; and how many more there are.
local function items(t, ctx, depth, max_array, max_keys)
  ctx.open[t] = true
  local n = rawlen(t)
  local arr, keyed, keys = {}, {}, {}
  for i = 1, math.min(n, max_array) do arr[i] = short(rawget(t, i), ctx, depth) end
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  for i = 1, math.min(#keys, max_keys) do
    keyed[i] = key_text(keys[i], ctx, depth) .. " = " .. short(rawget(t, keys[i]), ctx, depth)
  end
  ctx.open[t] = nil
  return arr, keyed, math.max(0, n - max_array) + math.max(0, #keys - max_keys)
end

-- A nested table on one line, or {...} when it has more than MAX_INLINE entries or is wider than
-- an item may be
inline_table = function(t, ctx, depth)
  local count = 0
  for _ in next, t do
    count = count + 1
    if count > MAX_INLINE then return "{...}" end
  end
  local arr, keyed = items(t, ctx, depth, MAX_INLINE, MAX_INLINE)
  table.move(keyed, 1, #keyed, #arr + 1, arr)
  local s = "{" .. table.concat(arr, ", ") .. "}"
  return #s <= ctx.width and s or "{...}"
end

-- A table: the array part then the other keys in order, nested tables on one line each; on one line
-- when it fits in width.
local function show_table(t, width)
  local ctx = context(width - 4)
  local arr, keyed, more = items(t, ctx, 0, MAX_ARRAY, MAX_KEYS)
  if #arr + #keyed == 0 then return "{}" end
  local all = table.move(keyed, 1, #keyed, #arr + 1, table.move(arr, 1, #arr, 1, {}))
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
-- tostring, tables bounded (200 array items and 100 keys; the tables in it on one line when small,
-- deeper ones as {...}; a table inside itself as <cycle>; tensors inside as tensor[shape]), functions
-- with their name or parameters. Returns the text.
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
