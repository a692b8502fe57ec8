-- ember.nn.check: the argument checks the layers share, and the two ways an nn error names its origin:
-- the public function the user called ("ember.nn.Linear: ...") or the module instance as the user
-- sees it when printed ("Linear(320 -> 10): ...", a user-defined "Net:add: ...").
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local show, is_tensor = util.show, util.is_tensor
local floor, huge = math.floor, math.huge

--- check.fail(name, fmt, ...) raises an error of the public function name ("nn.Linear" ->
-- "ember.nn.Linear")
M.fail = E.module_fail("nn")

--- check.fail_at(where, fmt, ...) raises an error named where exactly as given: an instance
-- ("Linear(320 -> 10)") or one of its methods ("Net:load_state_dict")
function M.fail_at(where, fmt, ...)
  E.raise("value", where, fmt, ...)
end

--- check.instance(m) -> the module m as printed on one line: "Linear(320 -> 10)", "Net()"
function M.instance(m)
  return m.__name .. "(" .. m:extra_repr() .. ")"
end

--- check.input(m, x) -> x when it is a tensor, else an error naming the module m
function M.input(m, x)
  if not is_tensor(x) then M.fail_at(M.instance(m), "tensor expected (got %s)", show(x)) end
  return x
end

--- check.is_int(v [, min]) -> true for an integral number (float or integer) >= min
function M.is_int(v, min)
  if type(v) ~= "number" or v ~= floor(v) or v == huge or v == -huge then return false end
  return v >= (min or -huge)
end

--- check.count(name, what, v) -> v as an integer >= 1, or an error of name
function M.count(name, what, v)
  if not M.is_int(v, 1) then M.fail(name, "%s must be a positive integer (got %s)", what, show(v)) end
  return math.tointeger(v)
end

--- check.pair(name, what, v, min) -> h, w from an integer or a table {h, w} (each an integer >= min)
function M.pair(name, what, v, min)
  local h, w = v, v
  if type(v) == "table" then h, w = v[1], v[2] end
  if not (M.is_int(h, min) and M.is_int(w, min)) or (type(v) == "table" and #v ~= 2) then
    local got = show(v)
    if type(v) == "table" then
      local items = {}
      for i, x in ipairs(v) do items[i] = show(x) end
      got = "{" .. table.concat(items, ", ") .. "}"
    end
    M.fail(name, "%s must be an integer >= %d or a table of 2 (got %s)", what, min, got)
  end
  return math.tointeger(h), math.tointeger(w)
end

--- check.options(name, opts) -> opts, or {} for nil; anything but a table is an error of name
function M.options(name, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then M.fail(name, "options must be a table (got %s)", show(opts)) end
  return opts
end

--- check.pair_text(h, w) -> "3" for a square size, "3x5" otherwise (as layers print their sizes)
function M.pair_text(h, w) return h == w and tostring(h) or (h .. "x" .. w) end

return M
