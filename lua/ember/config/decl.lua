-- ember.config.decl: declared config values. `ember.choice{...}` and `ember.number{...}` stand in the
-- defaults of ember.config for a default together with the values a --set may give it:
--
--   local cfg = ember.config{
--     sched  = ember.choice{"cosine", "step", "none"},           -- one of these; default the first
--     opts   = ember.choice{"sgd", "adam", "rmsprop", list = true}, -- some of these; default all
--     lr     = ember.number{1e-3, above = 0},                      -- a number > 0; default 1e-3
--     drop   = ember.number{0.1, min = 0, max = 1},                -- 0 <= drop <= 1
--     layers = ember.number{2, min = 1, integer = true},           -- an integer >= 1
--   }
--
-- ember.config returns the plain values (cfg.sched == "cosine") and params.tsv holds them as text.
local E = require "ember.error"
local util = require "ember.util"
local show, is_finite = util.show, util.is_finite

local M = {}

local Decl = {}
Decl.__index = Decl
Decl.__name = "ember.config.decl"

--- decl.is(v) -> true for a value made by ember.choice or ember.number
function M.is(v) return getmetatable(v) == Decl end

local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for i, x in ipairs(v) do c[i] = x end
  return c
end

--- decl.default(v) -> the default value of a declared value, else v itself; a list as a fresh copy
function M.default(v)
  if M.is(v) then return copy(v.default) end
  return copy(v)
end

local function check_keys(t, fn, allowed, n)
  for k in pairs(t) do
    local positional = math.type(k) == "integer" and k >= 1 and k <= n
    if not positional and not allowed[k] then
      E.raise("value", fn, "unknown option %s (options: %s)", show(k), allowed._list)
    end
  end
end

local CHOICE_KEYS = {default = true, list = true, _list = "default, list"}

local function index_of(items, v)
  for i, x in ipairs(items) do if x == v then return i end end
  return nil
end

local function choice_list(items) return table.concat(items, ", ") end

-- the choices of ember.choice{...}: strings or finite numbers, all of one type, each once
local function check_choices(t, fn)
  local items = {}
  for i, v in ipairs(t) do
    local tv = type(v)
    if tv ~= "string" and not is_finite(v) then
      E.raise("type", fn, "choice %d must be a string or a finite number (got %s)", i, show(v))
    end
    if i > 1 and tv ~= type(items[1]) then
      E.raise("type", fn, "the choices must all be strings or all numbers (choice 1 is %s, choice %d %s)",
        show(items[1]), i, show(v))
    end
    if tv == "string" and (v == "" or v:find("[,%c]")) then
      E.raise("value", fn, "choice %s must be non-empty, without commas or control characters", show(v))
    end
    if index_of(items, v) then E.raise("value", fn, "choice %s is listed twice", show(v)) end
    items[i] = v
  end
  if #items == 0 then E.raise("value", fn, "give the choices, as in ember.choice{\"cosine\", \"step\"}") end
  return items
end

--- ember.choice{a, b, c [, default = x] [, list = true]} -> a declared value: one of the choices
-- (strings, or numbers), by default the first. With list = true the value is a list of choices (each at
-- most once, in any order; `--set k=a,c`), by default all of them in the order given.
function M.choice(t)
  local fn = "ember.choice"
  if type(t) ~= "table" then E.raise("type", fn, "expected a list of choices such as {\"cosine\", \"step\"} (got %s)", show(t)) end
  local n = #t
  check_keys(t, fn, CHOICE_KEYS, n)
  local items = check_choices(t, fn)
  local d = {kind = "choice", choices = items, list = t.list == true}
  if d.list then
    d.default = t.default ~= nil and t.default or copy(items)
    local ok, why = M.check(d, d.default)
    if not ok then
      local text = type(t.default) == "table" and table.concat(t.default, ",") or show(t.default)
      E.raise("value", fn, "the default %s is not %s", text, why)
    end
  else
    d.default = t.default
    if d.default == nil then d.default = items[1] end
    if not index_of(items, d.default) then
      E.raise("value", fn, "the default %s is not one of %s", show(d.default), choice_list(items))
    end
  end
  return setmetatable(d, Decl)
end

local NUMBER_KEYS = {min = true, max = true, above = true, below = true, integer = true,
  _list = "above, below, integer, max, min"}

-- "from 0 to 1", "above 0", "at least 1 and below 10": the bounds of a number declaration in words
local function bounds_text(d)
  local low = d.min ~= nil and ("at least %s"):format(util.number_text(d.min))
    or d.above ~= nil and ("above %s"):format(util.number_text(d.above))
  local high = d.max ~= nil and ("at most %s"):format(util.number_text(d.max))
    or d.below ~= nil and ("below %s"):format(util.number_text(d.below))
  if d.min ~= nil and d.max ~= nil then
    return ("from %s to %s"):format(util.number_text(d.min), util.number_text(d.max))
  end
  if low and high then return low .. " and " .. high end
  return low or high or nil
end

local function check_bound(t, key, fn)
  local v = t[key]
  if v ~= nil and not is_finite(v) then E.raise("type", fn, "%s must be a finite number (got %s)", key, show(v)) end
  return v
end

--- ember.number{default [, min =] [, max =] [, above =] [, below =] [, integer = true]} -> a declared
-- value: a finite number within the bounds (min and max inclusive, above and below exclusive), an
-- integer with integer = true.
function M.number(t)
  local fn = "ember.number"
  if type(t) ~= "table" then E.raise("type", fn, "expected a table such as {0.01, min = 0} (got %s)", show(t)) end
  check_keys(t, fn, NUMBER_KEYS, 1)
  local d = {kind = "number", integer = t.integer == true}
  for _, k in ipairs{"min", "max", "above", "below"} do d[k] = check_bound(t, k, fn) end
  if d.min ~= nil and d.above ~= nil then E.raise("value", fn, "give min or above, not both") end
  if d.max ~= nil and d.below ~= nil then E.raise("value", fn, "give max or below, not both") end
  if not is_finite(t[1]) then
    E.raise("type", fn, "the first item must be the default, a finite number (got %s)", show(t[1]))
  end
  d.default = t[1]
  setmetatable(d, Decl)
  local ok, why = M.check(d, d.default)
  if not ok then E.raise("value", fn, "the default %s is not %s", util.number_text(t[1]), why) end
  if d.integer then d.default = math.tointeger(d.default) end
  return d
end

--- decl:describe() -> what a value must be, in words: "one of cosine, step", "a number from 0 to 1"
function Decl:describe()
  if self.kind == "choice" then
    if self.list then return "a comma-separated list of " .. choice_list(self.choices) end
    return "one of " .. choice_list(self.choices)
  end
  local what = self.integer and "an integer" or "a number"
  local b = bounds_text(self)
  return b and (what .. " " .. b) or what
end

local function in_bounds(d, v)
  return (d.min == nil or v >= d.min) and (d.max == nil or v <= d.max)
    and (d.above == nil or v > d.above) and (d.below == nil or v < d.below)
end

--- decl.check(d, v) -> true, or false and d:describe() when v is not a value d allows
function M.check(d, v)
  if d.kind == "number" then
    local ok = is_finite(v) and (not d.integer or math.tointeger(v) ~= nil) and in_bounds(d, v)
    if ok then return true end
    return false, d:describe()
  end
  if not d.list then
    if index_of(d.choices, v) then return true end
    return false, d:describe()
  end
  if type(v) ~= "table" then return false, d:describe() end
  local seen = {}
  for _, x in ipairs(v) do
    if not index_of(d.choices, x) or seen[x] then return false, d:describe() end
    seen[x] = true
  end
  return true
end

return M
