-- ember.fit.options: checks ember.fit's options table and resolves it into what the loop uses (a loss
-- function from a name, metric list, schedule and stop objects from functions, the monitored column and
-- its mode, the command line's --quiet/--live), so that a bad option fails before anything is trained.
local ember = require "ember"
local E = require "ember.error"
local session = require "ember.session"
local util = require "ember.util"
local metrics = require "ember.fit.metrics"

local M = {}

local show, callable = util.show, util.callable
local fail = E.raiser("ember.fit")

M.KEYS = {"model", "loss", "optimizer", "schedule", "schedule_every", "stop", "train", "valid", "epochs",
  "batch", "valid_batch", "run", "metrics", "clip", "on_epoch", "shuffle", "drop_last", "monitor", "mode",
  "quiet", "live", "diverge", "log_every", "checkpoint_every", "checkpoint_seconds", "input"}

local function check_dataset(ds, key)
  if type(ds) ~= "table" or type(ds.batches) ~= "function" or type(ds.size) ~= "function" then
    fail("%s must be a dataset with :size() and :batches(n, opts) (got %s)", key, type(ds))
  end
end

local function check_posint(v, key)
  if math.type(v) ~= "integer" then
    local i = type(v) == "number" and math.tointeger(v) or nil
    if not i then fail("%s must be a positive integer (got %s)", key, show(v)) end
    v = i
  end
  if v < 1 then fail("%s must be a positive integer (got %s)", key, show(v)) end
  return v
end

local function resolve_loss(l)
  if type(l) == "string" then
    local losses = ember.loss
    local f = losses and (losses.get and losses.get(l) or losses[l])
    if not callable(f) then fail("unknown loss %s", show(l)) end
    return f
  end
  if not callable(l) then fail("loss must be a function(output, target) -> tensor or a loss name (got %s)", type(l)) end
  return l
end

local function batch_count(ds, n, drop_last)
  if type(ds.batch_count) == "function" then return ds:batch_count(n, {drop_last = drop_last}) end
  local size = ds:size()
  return drop_last and size // n or (size + n - 1) // n
end

local function check_keys(o)
  if type(o) ~= "table" then fail("expected a table of options (got %s)", show(o)) end
  local known = {}
  for _, k in ipairs(M.KEYS) do known[k] = true end
  for k in pairs(o) do
    if not known[k] then fail("unknown option %s (options: %s)", show(k), table.concat(M.KEYS, ", ")) end
  end
end

-- model, optimizer, loss, data and sizes
local function resolve_training(o, c)
  c.model, c.opt = o.model, o.optimizer
  if not callable(c.model) then fail("model must be callable: model(x) -> output (got %s)", type(c.model)) end
  local opt = c.opt
  if type(opt) ~= "table" or type(opt.step) ~= "function" or type(opt.zero_grad) ~= "function"
     or type(opt.param_groups) ~= "table" or #opt.param_groups == 0 then
    fail("optimizer must be an optimizer with step, zero_grad and param_groups (got %s)", type(opt))
  end
  c.loss_fn = resolve_loss(o.loss)
  check_dataset(o.train, "train")
  if o.valid ~= nil then check_dataset(o.valid, "valid") end
  c.train, c.valid = o.train, o.valid
  c.epochs = check_posint(o.epochs, "epochs")
  c.batch = check_posint(o.batch, "batch")
  c.valid_batch = o.valid_batch ~= nil and check_posint(o.valid_batch, "valid_batch") or c.batch
  c.metrics = metrics.resolve(o.metrics)
  c.shuffle = o.shuffle ~= false
  c.drop_last = o.drop_last == true
  c.ntrain = batch_count(o.train, c.batch, c.drop_last)
end

-- clipping, hooks, divergence, the run
local function resolve_extras(o, c)
  if o.clip ~= nil and (type(o.clip) ~= "number" or not (o.clip > 0) or o.clip == math.huge) then
    fail("clip must be a positive number, the max gradient norm (got %s)", show(o.clip))
  end
  c.clip = o.clip
  if o.on_epoch ~= nil and not callable(o.on_epoch) then
    fail("on_epoch must be a function(ctx) (got %s)", type(o.on_epoch))
  end
  c.on_epoch = o.on_epoch
  c.diverge = o.diverge or "error"
  if c.diverge ~= "error" and c.diverge ~= "return" then
    fail('diverge must be "error" or "return" (got %s)', show(c.diverge))
  end
  local run = o.run
  if run ~= nil and (type(run) ~= "table" or type(run.log) ~= "function" or type(run.dir) ~= "string") then
    fail("run must be a run from ember.run{} (got %s)", type(run))
  end
  c.run = run
  c.params = type(c.model.parameters) == "function" and c.model:parameters() or nil
  if c.clip and not c.params then fail("clip needs model:parameters()") end
  c.clip_norm = c.clip and (ember.optim and ember.optim.clip_grad_norm)
  if c.clip and not c.clip_norm then fail("clip needs ember.optim.clip_grad_norm") end
end

-- per-batch logging and the checkpoint policy
local function resolve_logging(o, c)
  if o.log_every ~= nil then
    c.log_every = check_posint(o.log_every, "log_every")
    if not c.run then fail("log_every needs a run: steps.tsv is written in the run directory") end
  end
  if o.checkpoint_every ~= nil and o.checkpoint_seconds ~= nil then
    fail("give checkpoint_every (epochs) or checkpoint_seconds, not both")
  end
  if o.checkpoint_every ~= nil then c.checkpoint_every = check_posint(o.checkpoint_every, "checkpoint_every") end
  local secs = o.checkpoint_seconds
  if secs ~= nil and not (util.is_finite(secs) and secs >= 0) then
    fail("checkpoint_seconds must be a finite number >= 0 (got %s)", show(secs))
  end
  c.checkpoint_seconds = secs or require("ember.fit.checkpoint").DEFAULT_SECONDS
end

-- The monitored column and its mode: fit's own options, else what the stop rule chose; a plateau's
-- mode counts too. All that were chosen must agree, and the rest take them: early stopping and
-- reduce-on-plateau watch one column in one direction.
local function one_monitor(o, c)
  local stop_mod, schedule = require "ember.stop", require "ember.schedule"
  local claims = c.stop and stop_mod.claims(c.stop) or {}
  local plateaus = c.sched and schedule.plateaus(c.sched) or {}
  local monitor, mode = o.monitor, o.mode
  if mode ~= nil and mode ~= "min" and mode ~= "max" then fail('mode must be "min" or "max" (got %s)', show(mode)) end
  local m_from, d_from = "monitor", "mode"
  for _, cl in ipairs(claims) do
    if cl.monitor and monitor and cl.monitor ~= monitor then
      fail("the stop rule monitors %s but %s is %s: early stopping and the plateau schedule share one "
           .. "monitored column", show(cl.monitor), m_from, show(monitor))
    end
    if cl.monitor then monitor, m_from = cl.monitor, "the stop rule's monitor" end
    if cl.mode and mode and cl.mode ~= mode then
      fail("the stop rule's mode is %s but %s is %s: early stopping and the plateau schedule share one mode",
           show(cl.mode), d_from, show(mode))
    end
    if cl.mode then mode, d_from = cl.mode, "the stop rule's mode" end
  end
  for _, p in ipairs(plateaus) do
    local own = p._spec.mode
    if own ~= nil and mode ~= nil and own ~= mode then
      fail("schedule.plateau has mode %s but %s is %s: early stopping and the plateau schedule share one mode",
           show(own), d_from, show(mode))
    end
    if own ~= nil then mode = own end
  end
  c.monitor = monitor or (o.valid and "valid_loss" or "train_loss")
  c.mode = mode or "min"
  if c.stop then stop_mod.share(c.stop, c.monitor, c.mode) end
  for _, p in ipairs(plateaus) do p:_take_mode(c.mode) end
end

-- schedule and stop rule
local function resolve_schedule(o, c)
  local sched = o.schedule
  if sched ~= nil then sched = require("ember.schedule").wrap(sched, c.opt) end
  c.sched = sched
  c.schedule_every = o.schedule_every or (sched and sched.kind == "onecycle" and "step" or "epoch")
  if c.schedule_every ~= "epoch" and c.schedule_every ~= "step" then
    fail('schedule_every must be "epoch" or "step" (got %s)', show(c.schedule_every))
  end
  local stop = o.stop
  if stop ~= nil then stop = require("ember.stop").wrap(stop) end
  c.stop = stop
  one_monitor(o, c)
end

--- options.resolve(o) -> c, the checked options of one ember.fit call (see ember.fit for each key)
function M.resolve(o)
  check_keys(o)
  local c = {}
  resolve_training(o, c)
  resolve_extras(o, c)
  resolve_logging(o, c)
  resolve_schedule(o, c)
  local sess = session.current()
  c.session = sess
  c.quiet = o.quiet or sess.quiet or false
  c.live = o.live or sess.live
  -- what `ember eval` needs in every checkpoint: the model's spec and how the data looked
  c.eval_entries = require("ember.eval.checkpoint").entries(o)
  return c
end

return M
