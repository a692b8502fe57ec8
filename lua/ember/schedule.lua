-- ember.schedule: learning-rate schedules (PyTorch's lr_scheduler family) as closed forms of a base lr and
-- the schedule's own epoch counter, so schedules compose (plateau after warmup) and resume exactly.
--
-- How a schedule works
--   * Construction records each param group's `initial_lr` (set from `lr` if absent, as PyTorch does),
--     takes it as that group's base lr, and writes the lr for epoch 0 into every group.
--   * `sched:step([metric])` is called after `opt:step()`, once per epoch (or per batch, for per-step
--     schedules): it advances the counter t and writes lr = f(base, t) into every group's `lr`.
--     Every formula below is PyTorch's documented closed form, so the same lr comes out whatever happened
--     before: a resumed run (state_dict / load_state_dict) continues bit for bit.
--   * A hand edit of `g.lr` between steps is kept: the next step sees that `g.lr` differs from what the
--     schedule wrote, scales the group's base lr by new/old and continues from there (for the
--     multiplicative schedules this is exactly PyTorch's chainable behaviour).
--   * `sched:get_lr()` returns the lrs written last (one per group); `get_last_lr` is an alias.
--
-- Formulas (t = the schedule's epoch counter, base = the group's base lr)
--   step          base * gamma ^ floor(t / step_size)
--   multistep     base * gamma ^ (number of milestones <= t)
--   exponential   base * gamma ^ t
--   cosine        eta_min + (base - eta_min) * (1 + cos(pi * t / t_max)) / 2     (not clamped past t_max)
--   cosine_restarts  as cosine with t -> t_cur, t_max -> t_i: the i-th cycle lasts t_0 * t_mult^i epochs
--   linear        base * (start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters)
--   warmup        alias of linear (start_factor = 1/3, end_factor = 1, total_iters = 5 by default)
--   polynomial    base * (1 - min(t, total_iters) / total_iters) ^ power
--   lambda        base * fn(t)                         (fn may be a list, one function per group)
--   onecycle      PyTorch OneCycleLR (lr only): initial_lr = max_lr / div_factor, rises to max_lr over
--                 pct_start * total_steps - 1 steps, then anneals ("cos" or "linear") to
--                 initial_lr / final_div_factor at step total_steps - 1; sets each group's initial_lr
--   plateau       base * s, where s starts at 1 and is multiplied by `factor` when the metric has not
--                 improved for more than `patience` steps (PyTorch ReduceLROnPlateau rules: threshold,
--                 threshold_mode, cooldown, eps), never below min(base, min_lr)
--   wrap(fn, opt) fn(t, group_index) -> lr, any plain Lua function
--
-- Composition: every schedule is a function of an input base lr, which is what makes plateau composable.
--   sequence{s1, s2, ..., milestones = {m1, ...}}   s_k runs while m_(k-1) <= t < m_k, restarted at its
--       own epoch 0 when it takes over (SequentialLR); each gets the group's base lr; steps only reach the
--       active schedule (metric included), the step that enters a schedule restarts it and is not counted.
--   chain{s1, s2, ...}   every schedule steps every time and the lr flows through them in order:
--       lr = s_n(... s_2(s_1(base))) (ChainedScheduler); for multiplicative schedules this is the
--       product of their factors, so chain{warmup, plateau} is warmup times the plateau's reductions.
--   Items of sequence/chain may be schedules built on the same optimizer, plain functions epoch -> lr, or
--   spec tables such as {"cosine", t_max = 95}. Step only the outer schedule.
--   Example, warmup for 5 epochs then plateau:
--     local sched = schedule.sequence{optimizer = opt, milestones = {5},
--       {"linear", start_factor = 0.1, total_iters = 5}, {"plateau", patience = 3}}
--     ... each epoch: opt steps, then sched:step(valid_loss)
--
-- preview(spec, n [, {lr =, metrics =}]) returns the lr curve of n epochs (group 1, then all groups)
-- computed on a throwaway optimizer, for plotting before training.
local M = {}

local huge, floor, cos, pi = math.huge, math.floor, math.cos, math.pi

-- helpers -------------------------------------------------------------------------------------------

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "number" then return tostring(v) end
  return type(v)
end

local fail = require("ember.error").module_fail("schedule")
local is_finite = require("ember.util").is_finite

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
M.is_schedule = is_schedule

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

-- simple schedules ----------------------------------------------------------------------------------

local Step = class()

--- schedule.step{optimizer, step_size, gamma = 0.1} -- StepLR: base * gamma ^ floor(t / step_size).
function M.step(args)
  local self, where = begin("step", Step, args, {"step_size", "gamma"})
  local opt = check_optimizer(where, args.optimizer)
  self.step_size = int_arg(where, "step_size", args.step_size, 1)
  self.gamma = num_arg(where, "gamma", args.gamma, 0.1, 0, true)
  return bind(self, opt):_write()
end

function Step:_lr(base)
  return base * self.gamma ^ (self.last_epoch // self.step_size)
end

local MultiStep = class()

--- schedule.multistep{optimizer, milestones, gamma = 0.1} -- MultiStepLR: base * gamma ^ (number of
-- milestones <= t); milestones is a list of positive integers (a repeated milestone counts twice).
function M.multistep(args)
  local self, where = begin("multistep", MultiStep, args, {"milestones", "gamma"})
  local opt = check_optimizer(where, args.optimizer)
  if type(args.milestones) ~= "table" then
    fail(where, "milestones must be a list of positive integers (got %s)", show(args.milestones))
  end
  self.milestones = {}
  for i, m in ipairs(args.milestones) do self.milestones[i] = int_arg(where, "milestones[" .. i .. "]", m, 1) end
  table.sort(self.milestones)
  self.gamma = num_arg(where, "gamma", args.gamma, 0.1, 0, true)
  return bind(self, opt):_write()
end

function MultiStep:_lr(base)
  local k = 0
  for _, m in ipairs(self.milestones) do
    if m <= self.last_epoch then k = k + 1 end
  end
  return base * self.gamma ^ k
end

local Exponential = class()

--- schedule.exponential{optimizer, gamma} -- ExponentialLR: base * gamma ^ t.
function M.exponential(args)
  local self, where = begin("exponential", Exponential, args, {"gamma"})
  local opt = check_optimizer(where, args.optimizer)
  if args.gamma == nil then fail(where, "gamma is required (e.g. gamma = 0.95)") end
  self.gamma = num_arg(where, "gamma", args.gamma, nil, 0, true)
  return bind(self, opt):_write()
end

function Exponential:_lr(base)
  return base * self.gamma ^ self.last_epoch
end

local Cosine = class()

--- schedule.cosine{optimizer, t_max, eta_min = 0} -- CosineAnnealingLR closed form:
-- eta_min + (base - eta_min) * (1 + cos(pi * t / t_max)) / 2 (past t_max it follows the cosine back up).
function M.cosine(args)
  local self, where = begin("cosine", Cosine, args, {"t_max", "eta_min"})
  local opt = check_optimizer(where, args.optimizer)
  self.t_max = int_arg(where, "t_max", args.t_max, 1)
  self.eta_min = num_arg(where, "eta_min", args.eta_min, 0, 0)
  return bind(self, opt):_write()
end

local function cosine_lr(base, eta_min, t, period)
  return eta_min + (base - eta_min) * (1 + cos(pi * t / period)) / 2
end

function Cosine:_lr(base)
  return cosine_lr(base, self.eta_min, self.last_epoch, self.t_max)
end

local Restarts = class()

--- schedule.cosine_restarts{optimizer, t_0, t_mult = 1, eta_min = 0} -- CosineAnnealingWarmRestarts:
-- cycles of t_0, t_0 * t_mult, t_0 * t_mult^2, ... epochs, each a cosine from base down to eta_min.
function M.cosine_restarts(args)
  local self, where = begin("cosine_restarts", Restarts, args, {"t_0", "t_mult", "eta_min"})
  local opt = check_optimizer(where, args.optimizer)
  self.t_0 = int_arg(where, "t_0", args.t_0, 1)
  self.t_mult = int_arg(where, "t_mult", args.t_mult == nil and 1 or args.t_mult, 1)
  self.eta_min = num_arg(where, "eta_min", args.eta_min, 0, 0)
  return bind(self, opt):_write()
end

function Restarts:_lr(base)
  local t_cur, t_i = self.last_epoch, self.t_0
  if self.t_mult == 1 then
    t_cur = t_cur % t_i
  else
    while t_cur >= t_i do t_cur, t_i = t_cur - t_i, t_i * self.t_mult end  -- integers: exact
  end
  return cosine_lr(base, self.eta_min, t_cur, t_i)
end

local Linear = class()

local function linear_like(kind, args)
  local self, where = begin(kind, Linear, args, {"start_factor", "end_factor", "total_iters"})
  local opt = check_optimizer(where, args.optimizer)
  self.start_factor = num_arg(where, "start_factor", args.start_factor, 1 / 3, 0)
  self.end_factor = num_arg(where, "end_factor", args.end_factor, 1, 0)
  self.total_iters = int_arg(where, "total_iters", args.total_iters == nil and 5 or args.total_iters, 1)
  return bind(self, opt):_write()
end

--- schedule.linear{optimizer, start_factor = 1/3, end_factor = 1, total_iters = 5} -- LinearLR:
-- base * (start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters); the usual warmup.
function M.linear(args) return linear_like("linear", args) end

--- schedule.warmup{...} -- the same as schedule.linear (same options and defaults).
function M.warmup(args) return linear_like("warmup", args) end

function Linear:_lr(base)
  local n = self.total_iters
  local t = math.min(self.last_epoch, n)
  return base * (self.start_factor + (self.end_factor - self.start_factor) * t / n)
end

local Polynomial = class()

--- schedule.polynomial{optimizer, total_iters = 5, power = 1} -- PolynomialLR:
-- base * (1 - min(t, total_iters) / total_iters) ^ power.
function M.polynomial(args)
  local self, where = begin("polynomial", Polynomial, args, {"total_iters", "power"})
  local opt = check_optimizer(where, args.optimizer)
  self.total_iters = int_arg(where, "total_iters", args.total_iters == nil and 5 or args.total_iters, 1)
  self.power = num_arg(where, "power", args.power, 1, 0)
  return bind(self, opt):_write()
end

function Polynomial:_lr(base)
  local n = self.total_iters
  return base * (1 - math.min(self.last_epoch, n) / n) ^ self.power
end

local Lambda = class()

--- schedule.lambda{optimizer, fn} -- LambdaLR: base * fn(t); fn is a function of the epoch returning a
-- multiplicative factor, or a list of such functions, one per param group.
function M.lambda(args)
  local self, where = begin("lambda", Lambda, args, {"fn"})
  local opt = check_optimizer(where, args.optimizer)
  local fn, n = args.fn, #opt.param_groups
  if type(fn) == "function" then
    self.fns = {}
    for i = 1, n do self.fns[i] = fn end
  elseif type(fn) == "table" and #fn == n then
    self.fns = {}
    for i = 1, n do
      if type(fn[i]) ~= "function" then fail(where, "fn[%d] must be a function (got %s)", i, show(fn[i])) end
      self.fns[i] = fn[i]
    end
  else
    fail(where, "fn must be a function epoch -> factor or a list of %d such functions (got %s)", n,
         type(fn) == "table" and #fn .. " values" or show(fn))
  end
  return bind(self, opt):_write()
end

function Lambda:_lr(base, i)
  local f = self.fns[i](self.last_epoch)
  if type(f) ~= "number" then
    fail("schedule.lambda", "fn returned %s at epoch %d (expected a number)", show(f), self.last_epoch)
  end
  return base * f
end

local Wrap = class()

--- schedule.wrap(fn, optimizer) -- turn a plain Lua function fn(epoch, group_index) -> lr into a schedule
-- (epochs count from 0). A schedule passed as fn is returned unchanged. A hand edit of the lr scales fn's
-- values by new/old from then on.
function M.wrap(fn, opt)
  if is_schedule(fn) then
    if opt ~= nil and fn.optimizer ~= opt then
      fail("schedule.wrap", "the schedule is bound to a different optimizer")
    end
    return fn
  end
  if type(fn) ~= "function" then
    fail("schedule.wrap", "expected a function epoch -> lr or a schedule (got %s)", show(fn))
  end
  local self, where = begin("wrap", Wrap, {}, {})
  bind(self, check_optimizer(where, opt))
  self.fn, self.refs = fn, copy(self.base_lrs)
  return self:_write()
end

function Wrap:_lr(base, i)
  local v = self.fn(self.last_epoch, i)
  if type(v) ~= "number" then
    fail("schedule.wrap", "the function returned %s at epoch %d (expected an lr)", show(v), self.last_epoch)
  end
  local ref = self.refs[i]
  if base == ref or ref == 0 then return v end
  return v * (base / ref)
end

function Wrap:_clone(opt) return M.wrap(self.fn, opt) end

function Wrap:_save(s)
  s.last_epoch, s.refs = self.last_epoch, copy(self.refs)
  return s
end

function Wrap:_load(s, where)
  Schedule._load(self, s, where)
  if s.refs ~= nil then self.refs = num_list(where, "refs", s.refs, #self.refs) end
end

-- onecycle ------------------------------------------------------------------------------------------

local OneCycle = class()

--- schedule.onecycle{optimizer, max_lr, total_steps, pct_start = 0.3, anneal = "cos", div_factor = 25,
-- final_div_factor = 1e4, three_phase = false} -- PyTorch OneCycleLR, lr only, usually stepped per batch.
-- max_lr: a number or one per group; total_steps may be given as epochs and steps_per_epoch instead.
-- Sets each group's initial_lr to max_lr / div_factor. Step total_steps may be reached (it holds the
-- final lr, where PyTorch extrapolates); stepping beyond it is an error, as in PyTorch.
function M.onecycle(args)
  local self, where = begin("onecycle", OneCycle, args, {"max_lr", "total_steps", "epochs", "steps_per_epoch",
    "pct_start", "anneal", "div_factor", "final_div_factor", "three_phase"})
  local opt = check_optimizer(where, args.optimizer)
  local n = #opt.param_groups
  if args.max_lr == nil then fail(where, "max_lr is required") end
  self.max_lrs = per_group(where, "max_lr", args.max_lr, nil, n, 0, true)
  if args.total_steps ~= nil then
    self.total_steps = int_arg(where, "total_steps", args.total_steps, 1)
  elseif args.epochs ~= nil or args.steps_per_epoch ~= nil then
    self.total_steps = int_arg(where, "epochs", args.epochs, 1) * int_arg(where, "steps_per_epoch", args.steps_per_epoch, 1)
  else
    fail(where, "total_steps (or epochs and steps_per_epoch) is required")
  end
  local pct = num_arg(where, "pct_start", args.pct_start, 0.3, 0, true)
  if pct > 1 then fail(where, "pct_start must be in (0, 1] (got %s)", show(pct)) end
  self.anneal = choice(where, "anneal", args.anneal, "cos", {"cos", "linear"})
  local div = num_arg(where, "div_factor", args.div_factor, 25, 0, true)
  local final = num_arg(where, "final_div_factor", args.final_div_factor, 1e4, 0, true)
  if args.three_phase ~= nil and type(args.three_phase) ~= "boolean" then
    fail(where, "three_phase must be a boolean (got %s)", show(args.three_phase))
  end
  local T = self.total_steps
  -- phases as in PyTorch: end steps are floats, lrs are in units of the group's initial lr
  if args.three_phase then
    self.phases = {{pct * T - 1, "initial", "max"}, {2 * pct * T - 2, "max", "initial"}, {T - 1, "initial", "min"}}
  else
    self.phases = {{pct * T - 1, "initial", "max"}, {T - 1, "max", "min"}}
  end
  local start = 0
  for k, ph in ipairs(self.phases) do  -- a phase of length 0 would divide by zero
    if ph[1] == start then
      fail(where, "pct_start = %s with total_steps = %d leaves phase %d empty", show(pct), T, k)
    end
    start = ph[1]
  end
  self.initial, self.min = {}, {}
  for i, g in ipairs(opt.param_groups) do
    self.initial[i] = self.max_lrs[i] / div
    self.min[i] = self.initial[i] / final
    g.initial_lr = self.initial[i]  -- as PyTorch: the cycle owns the base lr
  end
  return bind(self, opt):_write()
end

function OneCycle:_advance()
  if self.last_epoch + 1 > self.total_steps then
    fail(self:_where("step"), "stepped %d times but total_steps is %d", self.last_epoch + 1, self.total_steps)
  end
  self.last_epoch = self.last_epoch + 1
end

function OneCycle:_lr(base, i)
  local t, start = self.last_epoch, 0
  local at = {initial = self.initial[i], max = self.max_lrs[i], min = self.min[i]}
  local lr
  for k, ph in ipairs(self.phases) do
    if t <= ph[1] or k == #self.phases then
      -- PyTorch allows one step past the cycle (the loop's last call) but extrapolates; hold the end
      local pct = math.min((t - start) / (ph[1] - start), 1)
      local a, b = at[ph[2]], at[ph[3]]
      if self.anneal == "cos" then
        lr = b + (a - b) / 2 * (cos(pi * pct) + 1)
      else
        lr = (b - a) * pct + a
      end
      break
    end
    start = ph[1]
  end
  local ref = self.initial[i]
  if base == ref then return lr end
  return lr * (base / ref)
end

-- plateau -------------------------------------------------------------------------------------------

local Plateau = class()

--- schedule.plateau{optimizer, mode = "min", factor = 0.1, patience = 10, threshold = 1e-4,
-- threshold_mode = "rel", cooldown = 0, min_lr = 0, eps = 1e-8} -- ReduceLROnPlateau as a factor:
-- step(metric) counts bad epochs (metric not better than best by the threshold); after more than
-- `patience` of them the factor is multiplied by `factor`, then `cooldown` epochs are ignored.
-- The lr is base * factor_so_far, never below min(base, min_lr) (min_lr: a number or one per group); a
-- reduction smaller than eps is skipped. Composes with the other schedules (see the module comment).
function M.plateau(args)
  local self, where = begin("plateau", Plateau, args, {"mode", "factor", "patience", "threshold",
    "threshold_mode", "cooldown", "min_lr", "eps"})
  local opt = check_optimizer(where, args.optimizer)
  self.mode = choice(where, "mode", args.mode, "min", {"min", "max"})
  self.factor = num_arg(where, "factor", args.factor, 0.1, 0, true)
  if self.factor >= 1 then fail(where, "factor must be < 1 (got %s)", show(self.factor)) end
  self.patience = int_arg(where, "patience", args.patience == nil and 10 or args.patience, 0)
  self.threshold = num_arg(where, "threshold", args.threshold, 1e-4, 0)
  self.threshold_mode = choice(where, "threshold_mode", args.threshold_mode, "rel", {"rel", "abs"})
  self.cooldown = int_arg(where, "cooldown", args.cooldown == nil and 0 or args.cooldown, 0)
  self.min_lrs = per_group(where, "min_lr", args.min_lr, 0, #opt.param_groups, 0)
  self.eps = num_arg(where, "eps", args.eps, 1e-8, 0)
  self._in = {}
  self:_reset()
  return bind(self, opt):_write()
end

function Plateau:_reset()
  self.last_epoch = 0
  self.best = self.mode == "min" and huge or -huge
  self.num_bad_epochs, self.cooldown_counter = 0, 0
  self.scales = {}
  for i = 1, #self.min_lrs do self.scales[i] = 1 end
end

function Plateau:_better(a)
  local best, thr = self.best, self.threshold
  if self.mode == "min" then
    if self.threshold_mode == "rel" then return a < best * (1 - thr) end
    return a < best - thr
  end
  if self.threshold_mode == "rel" then return a > best * (thr + 1) end
  return a > best + thr
end

function Plateau:_out(base, scale, i)
  local lr, lo = base * scale, math.min(base, self.min_lrs[i])
  if lr < lo then return lo end
  return lr
end

function Plateau:_lr(base, i)
  self._in[i] = base  -- the input seen last, for the eps test of the next reduction
  return self:_out(base, self.scales[i], i)
end

function Plateau:_advance(metric, lenient)
  self.last_epoch = self.last_epoch + 1
  if metric == nil then
    if lenient then return end
    fail("schedule.plateau:step", "needs the monitored metric, e.g. sched:step(valid_loss) (got nil)")
  end
  if self:_better(metric) then
    self.best, self.num_bad_epochs = metric, 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0
  end
  if self.num_bad_epochs > self.patience then
    for i, s in ipairs(self.scales) do
      local new, base = s * self.factor, self._in[i]
      if base == nil or self:_out(base, s, i) - self:_out(base, new, i) > self.eps then self.scales[i] = new end
    end
    self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
  end
end

function Plateau:_save(s)
  s.last_epoch, s.best, s.num_bad_epochs, s.cooldown_counter = self.last_epoch, self.best, self.num_bad_epochs,
    self.cooldown_counter
  s.scales, s.inputs = copy(self.scales), copy(self._in)
  return s
end

function Plateau:_load(s, where)
  Schedule._load(self, s, where)
  if type(s.best) ~= "number" then fail(where, "best must be a number (got %s)", show(s.best)) end
  self.best = s.best
  self.num_bad_epochs = int_arg(where, "num_bad_epochs", s.num_bad_epochs, 0)
  self.cooldown_counter = int_arg(where, "cooldown_counter", s.cooldown_counter, 0)
  self.scales = num_list(where, "scales", s.scales, #self.min_lrs)
  self._in = {}
  if type(s.inputs) == "table" then
    for i = 1, #self.min_lrs do self._in[i] = tonumber(s.inputs[i]) end
  end
end

-- composition ---------------------------------------------------------------------------------------

local function build_spec(where, spec, opt)
  local kind = spec_kind(spec)
  if type(kind) ~= "string" or not constructors[kind] then
    fail(where, "unknown schedule kind %s", show(kind))
  end
  local args = copy(spec)
  args.optimizer, args.lr = opt, nil
  return constructors[kind](args)
end

-- The items of a composite: schedules on one optimizer, functions or spec tables, built on that optimizer.
local function build_children(self, where, args)
  local first = type(args[1]) == "string" and 2 or 1
  local opt = args.optimizer
  if opt == nil then
    for j = first, #args do
      if is_schedule(args[j]) then opt = args[j].optimizer; break end
    end
  end
  if opt == nil then
    fail(where, "needs optimizer = ... (or at least one schedule built on the optimizer)")
  end
  check_optimizer(where, opt)
  local children = {}
  for j = first, #args do
    local c = args[j]
    if is_schedule(c) then
      if c.optimizer ~= opt then fail(where, "item %d is bound to a different optimizer", j - first + 1) end
      if c._parent then fail(where, "item %d is already part of a %s", j - first + 1, c._parent.kind) end
    elseif type(c) == "function" then
      c = M.wrap(c, opt)
    elseif spec_kind(c) then
      c = build_spec(where, c, opt)
    else
      fail(where, "item %d must be a schedule, a function epoch -> lr or a spec table such as " ..
           '{"cosine", t_max = 10} (got %s)', j - first + 1, show(c))
    end
    for _, d in ipairs(children) do
      if d == c then fail(where, "item %d appears twice", j - first + 1) end
    end
    children[#children + 1] = c
  end
  if #children == 0 then fail(where, "needs at least one schedule") end
  self.children = children
  return opt
end

-- Marks the items as owned once the composite is valid, so that stepping one of them alone is an error.
local function adopt(self)
  for _, c in ipairs(self.children) do c._parent = self end
  return self
end

local function save_children(self, s)
  s.last_epoch, s.children = self.last_epoch, {}
  for k, c in ipairs(self.children) do s.children[k] = c:_save({}) end
  return s
end

local function load_children(self, s, where)
  Schedule._load(self, s, where)
  if type(s.children) ~= "table" or #s.children ~= #self.children then
    fail(where, "children must hold %d states (got %s)", #self.children,
         type(s.children) == "table" and #s.children .. " states" or show(s.children))
  end
  for k, c in ipairs(self.children) do
    if type(s.children[k]) ~= "table" then fail(where, "children[%d] must be a table", k) end
    c:_load(s.children[k], where)
  end
end

local Sequence = class()

--- schedule.sequence{s1, s2, ..., milestones = {m1, ...}, optimizer = opt} -- SequentialLR: s_k is active
-- for m_(k-1) <= t < m_k and starts at its own epoch 0; #milestones = #schedules - 1, strictly increasing.
-- Items: schedules on opt, functions epoch -> lr, or spec tables {"kind", options...}.
function M.sequence(args)
  local self, where = begin("sequence", Sequence, args, {"milestones"}, true)
  local opt = build_children(self, where, args)
  local ms = args.milestones
  if type(ms) ~= "table" or #ms ~= #self.children - 1 then
    fail(where, "milestones must be a list of %d increasing positive integers, one per switch (got %s)",
         #self.children - 1, type(ms) == "table" and #ms .. " values" or show(ms))
  end
  self.milestones = {}
  for k, m in ipairs(ms) do
    self.milestones[k] = int_arg(where, "milestones[" .. k .. "]", m, 1)
    if k > 1 and self.milestones[k] <= self.milestones[k - 1] then
      fail(where, "milestones must be strictly increasing (got %s after %s)", show(m), show(ms[k - 1]))
    end
  end
  self.active = 1
  self._spec = {milestones = self.milestones}
  return adopt(bind(self, opt):_write())
end

function Sequence:_lr(base, i)
  return self.children[self.active]:_lr(base, i)
end

function Sequence:_advance(metric, lenient)
  self.last_epoch = self.last_epoch + 1
  local k = 1
  for j, m in ipairs(self.milestones) do
    if self.last_epoch >= m then k = j + 1 end
  end
  if k ~= self.active then
    self.active = k
    self.children[k]:_reset()
  else
    self.children[k]:_advance(metric, lenient)
  end
end

function Sequence:_reset()
  self.last_epoch, self.active = 0, 1
  for _, c in ipairs(self.children) do c:_reset() end
end

function Sequence:_save(s)
  save_children(self, s)
  s.active = self.active
  return s
end

function Sequence:_load(s, where)
  load_children(self, s, where)
  local a = int_arg(where, "active", s.active, 1)
  if a > #self.children then fail(where, "active must be at most %d (got %d)", #self.children, a) end
  self.active = a
end

function Sequence:_clone(opt)
  local args = {optimizer = opt, milestones = self.milestones}
  for k, c in ipairs(self.children) do args[k] = c:_clone(opt) end
  return M.sequence(args)
end

local Chain = class()

--- schedule.chain{s1, s2, ..., optimizer = opt} -- ChainedScheduler: all items step together and the lr
-- flows through them in order, lr = s_n(...s_1(base)); multiplicative schedules multiply.
function M.chain(args)
  local self, where = begin("chain", Chain, args, {}, true)
  local opt = build_children(self, where, args)
  self._spec = {}
  return adopt(bind(self, opt):_write())
end

function Chain:_lr(base, i)
  for _, c in ipairs(self.children) do base = c:_lr(base, i) end
  return base
end

function Chain:_advance(metric, lenient)
  self.last_epoch = self.last_epoch + 1
  for _, c in ipairs(self.children) do c:_advance(metric, lenient) end
end

function Chain:_reset()
  self.last_epoch = 0
  for _, c in ipairs(self.children) do c:_reset() end
end

Chain._save = save_children
Chain._load = load_children

function Chain:_clone(opt)
  local args = {optimizer = opt}
  for k, c in ipairs(self.children) do args[k] = c:_clone(opt) end
  return M.chain(args)
end

constructors.step, constructors.multistep, constructors.exponential = M.step, M.multistep, M.exponential
constructors.cosine, constructors.cosine_restarts, constructors.linear = M.cosine, M.cosine_restarts, M.linear
constructors.warmup, constructors.polynomial, constructors.lambda = M.warmup, M.polynomial, M.lambda
constructors.onecycle, constructors.plateau = M.onecycle, M.plateau
constructors.sequence, constructors.chain = M.sequence, M.chain

-- preview -------------------------------------------------------------------------------------------

--- schedule.preview(spec, n [, opts]) -- the lr at epochs 0 .. n-1 without touching a real optimizer.
-- spec: a schedule (rebuilt from epoch 0 on a throwaway optimizer with the same base lrs), a function
-- epoch -> lr, or a spec table such as {"cosine", t_max = 10} (optionally with optimizer = opt or lr = x).
-- opts.lr: base lr (number, or one per group; default: the spec's optimizer's lrs, else 1).
-- opts.metrics: values passed to successive steps (a list, or a function of the epoch); without them a
-- plateau never reduces. Returns the curve of group 1 and a list of curves, one per group.
function M.preview(spec, n, opts)
  local where = "schedule.preview"
  n = int_arg(where, "n", n, 1)
  if opts ~= nil and type(opts) ~= "table" then fail(where, "opts must be a table (got %s)", show(opts)) end
  opts = opts or {}
  local lrs, build = {1}, nil
  if is_schedule(spec) then
    lrs = copy(spec.base_lrs)
    build = function(o) return spec:_clone(o) end
  elseif type(spec) == "function" then
    build = function(o) return M.wrap(spec, o) end
  elseif spec_kind(spec) then
    if spec.optimizer ~= nil then
      check_optimizer(where, spec.optimizer)
      for i, g in ipairs(spec.optimizer.param_groups) do lrs[i] = g.initial_lr or g.lr end
    end
    if spec.lr ~= nil then lrs = spec.lr end
    build = function(o) return build_spec(where, spec, o) end
  else
    fail(where, "expected a schedule, a function epoch -> lr or a spec table such as " ..
         '{"cosine", t_max = 10} (got %s)', show(spec))
  end
  if opts.lr ~= nil then lrs = opts.lr end
  if type(lrs) ~= "table" then lrs = {lrs} end
  local fake = {param_groups = {}}
  for i, lr in ipairs(lrs) do fake.param_groups[i] = {lr = num_arg(where, "lr", lr, nil, 0)} end
  local s = build(fake)
  local metrics = opts.metrics
  if metrics ~= nil and type(metrics) ~= "table" and type(metrics) ~= "function" then
    fail(where, "metrics must be a list or a function of the epoch (got %s)", show(metrics))
  end
  local curves = {}
  for i = 1, #fake.param_groups do curves[i] = {} end
  for e = 1, n do
    for i, g in ipairs(fake.param_groups) do curves[i][e] = g.lr end
    if e < n then
      local m
      if type(metrics) == "function" then m = metrics(e - 1) elseif metrics then m = metrics[e] end
      s:_step(to_metric(where, m), true)
    end
  end
  return curves[1], curves
end

return M
