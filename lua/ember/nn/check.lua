-- ember.nn.check: the argument checks the layers share, and the two ways an nn error names its origin:
-- the public function the user called ("ember.nn.Linear: ...") or the module instance as the user
-- sees it when printed ("Linear(320 -> 10): ...", a user-defined "Net:add: ...").
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local show, is_tensor = util.show, util.is_tensor
local floor, huge = math.floor, math.huge

--- check.fail(name, fmt, ...) raises an error of the public function name ("nn.Linear" ->
-- "ember.nn.Linear"); check.fail_type(name, fmt, ...) the same for an argument of the wrong type
M.fail = E.module_fail("nn")
M.fail_type = E.module_fail("nn", "type")

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
  if not is_tensor(x) then E.raise("type", M.instance(m), "tensor expected (got %s)", show(x)) end
  return x
end

--- check.shape_error(m, fmt, ...) raises an error of kind shape naming the module m: its input does not fit
function M.shape_error(m, fmt, ...)
  E.raise("shape", M.instance(m), fmt, ...)
end

--- check.dim(m, x, what, d) -> d as a positive dim of x (negative ones count from the end; a 0-d
-- tensor has dim 1 = -1, as for the tensor methods), else an error naming the module m
function M.dim(m, x, what, d)
  local n = math.max(x:dim(), 1)
  local k = d < 0 and n + 1 + d or d
  if k < 1 or k > n then
    M.shape_error(m, "%s %d is out of range for input %s (1..%d or -%d..-1)", what, d, util.shape_str(x), n, n)
  end
  return k
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

-- the largest kernel size, stride, padding or dilation the kernels take (lua/bind/nn.c)
local MAX_SIZE = 1000000

--- check.pair(name, what, v, min) -> h, w from an integer or a table {h, w} (each an integer in
-- min..1000000)
function M.pair(name, what, v, min)
  local h, w = v, v
  if type(v) == "table" then h, w = v[1], v[2] end
  if M.is_int(h, min) and M.is_int(w, min) and (h > MAX_SIZE or w > MAX_SIZE) then
    M.fail(name, "%s must be at most %d (got %s)", what, MAX_SIZE, show(math.max(h, w)))
  end
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

--- check.options(name, opts, known) -> opts, or {} for nil, checked against the options known (as
-- util.option_problem takes them); anything but a table is an error of name
function M.options(name, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then M.fail_type(name, "options must be a table (got %s)", show(opts)) end
  local kind, problem = util.option_problem(opts, known)
  if kind then E.raise(kind, E.public_name("nn", name), "%s", problem) end
  return opts
end

--- check.new_tensor(name, make, ...) -> make(...) (ember.empty, ember.ones, ...), its error (a shape too
-- large to allocate) reported as one of the public function name
function M.new_tensor(name, make, ...)
  local ok, t = pcall(make, ...)
  if not ok then E.reraise_as(t, E.public_name("nn", name)) end
  return t
end

--- check.nonzero_dim(name, what, d) -> d, or -1 for nil: a dim (1-based, negative from the end)
function M.nonzero_dim(name, what, d)
  if d == nil then return -1 end
  if not M.is_int(d) or d == 0 then
    M.fail(name, "%s must be a nonzero integer (1 is the first dim, -1 the last; got %s)", what, show(d))
  end
  return math.tointeger(d)
end

--- check.pair_text(h, w) -> "3" for a square size, "3x5" otherwise (as layers print their sizes)
function M.pair_text(h, w) return h == w and tostring(h) or (h .. "x" .. w) end

return M
