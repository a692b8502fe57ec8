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
local B = require "ember.schedule.base"
local compose = require "ember.schedule.compose"

-- The folder: base.lua (option checks, the base class, the registry of kinds), simple.lua (the closed
-- forms and wrap), onecycle.lua, plateau.lua, compose.lua (sequence, chain, spec tables); preview here.
local M = {}

local fail, show, copy, int_arg, num_arg, to_metric = B.fail, B.show, B.copy, B.int_arg, B.num_arg, B.to_metric
local is_schedule, spec_kind, check_optimizer = B.is_schedule, B.spec_kind, B.check_optimizer
local build_spec = compose.build_spec

M.is_schedule = is_schedule
for _, part in ipairs{"simple", "onecycle", "plateau", "compose"} do
  for k, f in pairs(require("ember.schedule." .. part)) do
    if k ~= "build_spec" then M[k] = f end
  end
end
for _, kind in ipairs{"step", "multistep", "exponential", "cosine", "cosine_restarts", "linear", "warmup",
                      "polynomial", "lambda", "onecycle", "plateau", "sequence", "chain"} do
  B.constructors[kind] = M[kind]
end

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

--- schedule.plateaus(sched) -> the plateau schedules in sched (itself, or inside a sequence or chain)
function M.plateaus(sched, out)
  out = out or {}
  if is_schedule(sched) then
    if sched.kind == "plateau" then out[#out + 1] = sched end
    for _, c in ipairs(sched.children or {}) do M.plateaus(c, out) end
  end
  return out
end

return M
