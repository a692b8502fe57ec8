-- ember.schedule.plateau: ReduceLROnPlateau as a factor on the base lr, so it composes with the other
-- schedules.
local B = require "ember.schedule.base"

local M = {}

local fail, show, copy = B.fail, B.show, B.copy
local int_arg, num_arg, per_group, choice, num_list = B.int_arg, B.num_arg, B.per_group, B.choice, B.num_list
local class, begin, bind, check_optimizer = B.class, B.begin, B.bind, B.check_optimizer
local Schedule = B.Schedule
local huge = math.huge

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

--- plateau:_take_mode(mode): a plateau built without a mode takes the mode of the metric it is fed
-- (ember.fit's monitor); true when it did, false when its own mode was given
function Plateau:_take_mode(mode)
  if self._spec.mode ~= nil then return false end
  if self.mode ~= mode then
    self.mode = mode
    if self.best == huge or self.best == -huge then self.best = mode == "min" and huge or -huge end
  end
  return true
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

return M
