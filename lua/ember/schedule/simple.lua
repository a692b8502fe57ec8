-- ember.schedule.simple: the schedules that are a closed form of the base lr and the epoch: step,
-- multistep, exponential, cosine, cosine_restarts, linear (warmup), polynomial, lambda, and wrap (any
-- Lua function epoch -> lr).
local B = require "ember.schedule.base"

local M = {}

local fail, show, copy, int_arg, num_arg, num_list = B.fail, B.show, B.copy, B.int_arg, B.num_arg, B.num_list
local class, begin, bind, check_optimizer, is_schedule = B.class, B.begin, B.bind, B.check_optimizer, B.is_schedule
local Schedule = B.Schedule
local cos, pi = math.cos, math.pi

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

return M
