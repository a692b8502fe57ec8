-- ember.schedule.base: what every schedule shares: the option checks, the base class (stepping, hand
-- edits of the lr, state_dict) and the registry of kinds that spec tables such as {"cosine", t_max = 10}
-- are built from. The kinds live in simple.lua, onecycle.lua, plateau.lua and compose.lua.
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local floor = math.floor
local show, is_finite = util.show, util.is_finite
local fail = E.module_fail("schedule")
M.fail, M.show, M.is_finite = fail, show, is_finite

-- helpers -------------------------------------------------------------------------------------------

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function int_arg(where, key, v, min)
  if not is_finite(v) or v ~= floor(v) or v < min then
    fail(where, "%s must be %s integer (got %s)", key, min >= 1 and "a positive" or "a non-negative", show(v))
  end
  return math.tointeger(v)
end

-- a finite number with v > lo (open) or v >= lo; `default` when nil
local function num_arg(where, key, v, default, lo, open)
  if v == nil then v = default end
  if not is_finite(v) or (open and v <= lo) or (not open and v < lo) then
    fail(where, "%s must be a finite number %s %s (got %s)", key, open and ">" or ">=", show(lo), show(v))
  end
  return v
end

-- a number or a list with one number per group (each checked like num_arg)
local function per_group(where, key, v, default, ngroups, lo, open)
  if type(v) ~= "table" then
    local x = num_arg(where, key, v, default, lo, open)
    local t = {}
    for i = 1, ngroups do t[i] = x end
    return t
  end
  if #v ~= ngroups then
    fail(where, "%s has %d values but the optimizer has %d param groups", key, #v, ngroups)
  end
  local t = {}
  for i = 1, ngroups do t[i] = num_arg(where, key .. "[" .. i .. "]", v[i], nil, lo, open) end
  return t
end

local function choice(where, key, v, default, options)
  if v == nil then v = default end
  for _, o in ipairs(options) do
    if v == o then return v end
  end
  fail(where, "%s must be %s (got %s)", key, '"' .. table.concat(options, '" or "') .. '"', show(v))
end

local function to_metric(where, m)
  if m == nil or type(m) == "number" then return m end
  local ok, v = pcall(function() return m:item() end)  -- a 0-d tensor
  if ok and type(v) == "number" then return v end
  fail(where, "metric must be a number (got %s)", show(m))
end

-- the base class ------------------------------------------------------------------------------------

local Schedule = {}
Schedule.__index = Schedule

local function class()
  local C = setmetatable({}, {__index = Schedule})
  C.__index = C
  return C
end

local function is_schedule(x)
  if type(x) ~= "table" then return false end
  local mt = getmetatable(x)
  return mt ~= nil and getmetatable(mt) ~= nil and getmetatable(mt).__index == Schedule
end
local constructors = {}  -- kind -> constructor, for spec tables and preview

local function spec_kind(t)
  if type(t) ~= "table" or is_schedule(t) then return nil end
  local k = t.kind
  if k == nil and type(t[1]) == "string" then k = t[1] end
  return k
end

local function check_optimizer(where, opt)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" or #opt.param_groups == 0 then
    fail(where, "optimizer must be an optimizer with a non-empty param_groups list (got %s)",
         type(opt) == "table" and "a table without param_groups" or show(opt))
  end
  for i, g in ipairs(opt.param_groups) do
    if type(g) ~= "table" or not is_finite(g.lr) then
      fail(where, "param group %d of the optimizer has no finite lr (got %s)", i,
           type(g) == "table" and show(g.lr) or show(g))
    end
    if g.initial_lr ~= nil and not is_finite(g.initial_lr) then
      fail(where, "param group %d has a non-finite initial_lr (got %s)", i, show(g.initial_lr))
    end
  end
  return opt
end

-- Checks the options table against `keys`, then makes the object; `array` allows list items (composites).
local function begin(kind, C, args, keys, array)
  local where = "schedule." .. kind
  if type(args) ~= "table" or is_schedule(args) or args.param_groups ~= nil then
    fail(where, "expected a table of options such as {optimizer = opt, ...} (got %s)",
         type(args) == "table" and (is_schedule(args) and "a schedule" or "an optimizer") or show(args))
  end
  local known = {optimizer = true, kind = true}
  for _, k in ipairs(keys) do known[k] = true end
  local n = #args
  for k in pairs(args) do
    local listed = math.type(k) == "integer" and k >= 1 and k <= n
    if not known[k] and not (listed and (array or (k == 1 and type(args[1]) == "string"))) then
      fail(where, "unknown option %s (options: optimizer, %s)", show(k), table.concat(keys, ", "))
    end
  end
  return setmetatable({kind = kind, last_epoch = 0, base_lrs = {}, _last = {}, _spec = copy(args)}, C), where
end

-- Binds the schedule to its optimizer and records the base lrs (PyTorch's initial_lr).
local function bind(self, opt)
  self.optimizer = opt
  self._spec.optimizer = nil
  for i, g in ipairs(opt.param_groups) do
    if g.initial_lr == nil then g.initial_lr = g.lr end
    self.base_lrs[i] = g.initial_lr
  end
  return self
end

function Schedule:_where(method)
  return "schedule." .. self.kind .. ":" .. method
end

function Schedule:_groups(method)
  local groups = self.optimizer.param_groups
  if #groups ~= #self.base_lrs then
    fail(self:_where(method), "the optimizer has %d param groups but the schedule was built for %d",
         #groups, #self.base_lrs)
  end
  return groups
end

-- Writes lr = f(base) into every group and remembers it, to notice hand edits at the next step.
function Schedule:_write()
  local groups = self:_groups("step")
  for i, g in ipairs(groups) do
    local lr = self:_lr(self.base_lrs[i], i)
    if not is_finite(lr) or lr < 0 then
      fail(self:_where("step"), "computed lr %s for param group %d at epoch %d (expected a finite lr >= 0)",
           show(lr), i, self.last_epoch)
    end
    g.lr = lr
    self._last[i] = lr
  end
  return self
end

-- default counter behaviour; kinds with more state override these
function Schedule:_advance() self.last_epoch = self.last_epoch + 1 end
function Schedule:_reset() self.last_epoch = 0 end
function Schedule:_save(s) s.last_epoch = self.last_epoch; return s end
function Schedule:_load(s, where) self.last_epoch = int_arg(where, "last_epoch", s.last_epoch, 0) end

-- Rebuilds the same schedule on another optimizer (used by preview).
function Schedule:_clone(opt)
  local args = copy(self._spec)
  args.optimizer = opt
  return constructors[self.kind](args)
end

--- sched:step([metric]) -- advance one epoch (or step) and write the new lr into every param group.
-- metric: the monitored value (a number or a 0-d tensor); needed by plateau, ignored by the others.
-- Call it after opt:step(). Returns the schedule.
function Schedule:step(metric)
  if self._parent then
    fail(self:_where("step"), "this schedule is part of a %s; step the %s instead", self._parent.kind,
         self._parent.kind)
  end
  return self:_step(to_metric(self:_where("step"), metric), false)
end

function Schedule:_step(metric, lenient)
  local groups = self:_groups("step")
  for i, g in ipairs(groups) do
    local last = self._last[i]
    if g.lr ~= last then  -- edited by hand since the last write: keep the edit
      if not is_finite(g.lr) then
        fail(self:_where("step"), "param group %d has a non-finite lr (got %s)", i, show(g.lr))
      end
      if last ~= 0 then self.base_lrs[i] = self.base_lrs[i] * (g.lr / last) else self.base_lrs[i] = g.lr end
    end
  end
  self:_advance(metric, lenient)
  return self:_write()
end

--- sched:get_lr() -- the lrs written last, one per param group (a new table).
function Schedule:get_lr()
  return copy(self._last)
end
Schedule.get_last_lr = Schedule.get_lr

--- sched:state_dict() -- a plain table of numbers (and lists of numbers) from which load_state_dict
-- restores the exact same lr sequence: the counter, the base lrs, the lrs written last and in the
-- groups now (a pending hand edit survives), and plateau or composite state.
function Schedule:state_dict()
  local groups = self:_groups("state_dict")
  local lrs = {}
  for i, g in ipairs(groups) do lrs[i] = g.lr end
  local s = self:_save({})
  s.base_lrs, s.last_lrs, s.lrs = copy(self.base_lrs), copy(self._last), lrs
  return s
end

local function num_list(where, key, t, n)
  if type(t) ~= "table" or #t ~= n then
    fail(where, "%s must be a list of %d numbers (got %s)", key, n, type(t) == "table" and #t .. " values" or show(t))
  end
  for i = 1, n do
    if type(t[i]) ~= "number" then fail(where, "%s[%d] must be a number (got %s)", key, i, show(t[i])) end
  end
  return copy(t)
end

--- sched:load_state_dict(s) -- restore a state from state_dict, on a schedule built with the same
-- options; also writes the saved lrs back into the param groups. Returns the schedule.
function Schedule:load_state_dict(s)
  local where = self:_where("load_state_dict")
  if type(s) ~= "table" then fail(where, "expected a state table (got %s)", show(s)) end
  local n = #self:_groups("load_state_dict")
  local base = num_list(where, "base_lrs", s.base_lrs, n)
  local last = num_list(where, "last_lrs", s.last_lrs, n)
  local lrs = s.lrs ~= nil and num_list(where, "lrs", s.lrs, n) or last
  self:_load(s, where)
  self.base_lrs, self._last = base, last
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = lrs[i] end
  return self
end

M.copy, M.int_arg, M.num_arg, M.per_group, M.choice, M.to_metric, M.num_list = copy, int_arg, num_arg,
  per_group, choice, to_metric, num_list
M.Schedule, M.class, M.is_schedule, M.constructors, M.spec_kind = Schedule, class, is_schedule, constructors,
  spec_kind
M.check_optimizer, M.begin, M.bind = check_optimizer, begin, bind

return M
