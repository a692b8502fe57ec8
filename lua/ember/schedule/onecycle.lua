-- ember.schedule.onecycle: PyTorch's OneCycleLR (lr only), usually stepped per batch.
local B = require "ember.schedule.base"

local M = {}

local fail, show, int_arg, num_arg, per_group, choice = B.fail, B.show, B.int_arg, B.num_arg, B.per_group,
  B.choice
local class, begin, bind, check_optimizer = B.class, B.begin, B.bind, B.check_optimizer
local cos, pi = math.cos, math.pi

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

return M
