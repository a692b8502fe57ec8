-- ember.config.parse: the text of a --set (or of a params.tsv line) as a value typed like its default:
--   number    any Lua numeral, finite (`1e999` and `nan` are refused); an integer default takes
--             integers only (`--set epochs=2.5` is refused, `2.0` and `1e3` are integers)
--   boolean   true/false, yes/no, on/off, 1/0 (any case)
--   string    the text as given
--   list      comma-separated items typed like the default's items (integers when every item is one)
--   ember.choice / ember.number (ember.config.decl): the declared type, checked against its choices
--             or bounds
-- The text is data, never executed, and one line of printable text: a control character (a byte below
-- 0x20, or 0x7f: newline, tab, escape ...) is refused, as params.tsv could not hold it.
local decl = require "ember.config.decl"
local util = require "ember.util"

local M = {}

local TRUE = {["true"] = true, yes = true, on = true, ["1"] = true}
local FALSE = {["false"] = true, no = true, off = true, ["0"] = true}

-- a number from text: nil and what was expected when it is not a finite number (an integer, when
-- integer is true: a float with an integer value becomes that integer)
local function parse_number(text, integer)
  local n = tonumber(text)
  local word = text:lower():match("^%s*[+-]?(%a+)%s*$")
  if n == nil and word ~= "nan" and word ~= "inf" and word ~= "infinity" then
    return nil, integer and "an integer" or "a number"
  end
  if n == nil or n ~= n or n == math.huge or n == -math.huge then
    return nil, integer and "an integer" or "a finite number"
  end
  if integer then
    local i = math.tointeger(n)
    if i == nil then return nil, "an integer" end
    return i
  end
  return n
end

-- Parses text by the type of the plain default `like`; returns the value or nil and what was expected.
local function parse_scalar(text, like)
  local t = type(like)
  if t == "number" then return parse_number(text, math.type(like) == "integer") end
  if t == "boolean" then
    local s = text:lower()
    if TRUE[s] then return true end
    if FALSE[s] then return false end
    return nil, "a boolean (true or false)"
  end
  if t == "string" then return text end
  return nil, "a " .. t
end

local trim = util.trim

-- comma-separated fields, trimmed; none for an empty text
local function fields(text)
  local out = {}
  if text == "" then return out end
  for field in (text .. ","):gmatch("([^,]*),") do out[#out + 1] = trim(field) end
  return out
end

-- what a list default's items are like: an integer when every item is one, any number when the first
-- item is a number, else the first item
local function item_like(list)
  if #list == 0 then return nil end
  if type(list[1]) ~= "number" then return list[1] end
  for _, v in ipairs(list) do
    if math.type(v) ~= "integer" then return 0.0 end
  end
  return 0
end

local function parse_list(text, like)
  local out = {}
  local item = item_like(like)
  for i, field in ipairs(fields(text)) do
    local v, want
    if item == nil then
      v = tonumber(field) or field
    else
      v, want = parse_scalar(field, item)
      if v == nil then return nil, "a comma-separated list of " .. want:gsub("^an? ", "") .. "s" end
    end
    out[i] = v
  end
  return out
end

-- one choice from its text: the declared choice itself (so "0.10" gives the 0.1 the script wrote)
local function parse_choice(text, d)
  local want = d:describe()
  local v = text
  if type(d.choices[1]) == "number" then
    v = parse_number(text)
    if v == nil then return nil, want end
  end
  for _, c in ipairs(d.choices) do
    if c == v then return c end
  end
  return nil, want
end

local function parse_decl(text, d)
  if d.kind == "number" then
    local v = parse_number(text, d.integer)
    if v == nil or not decl.check(d, v) then return nil, d:describe() end
    return v
  end
  if not d.list then return parse_choice(text, d) end
  local out = {}
  for i, field in ipairs(fields(text)) do
    local v = parse_choice(field, d)
    if v == nil then return nil, d:describe() end
    out[i] = v
  end
  if not decl.check(d, out) then return nil, d:describe() .. ", each at most once" end
  return out
end

--- parse.control_problem(key, text [, what]) -> nil, or why text cannot be the value of key: it holds a
-- control character, which params.tsv (one line per key, tab-separated) cannot keep. what names the
-- value in the message (default "the value of KEY").
function M.control_problem(key, text, what)
  local at, name = util.control_char(text)
  if not at then return nil end
  return ("%s holds a control character (%s at byte %d); a config value is one line of printable text")
    :format(what or ("the value of " .. key), name, at)
end

--- parse.value(text, default) -> the value of text typed like default (a plain default or a declared
-- one), or nil and what was expected ("a number", "one of cosine, step")
function M.value(text, default)
  if decl.is(default) then return parse_decl(text, default) end
  if type(default) == "table" then return parse_list(text, default) end
  return parse_scalar(text, default)
end

return M
