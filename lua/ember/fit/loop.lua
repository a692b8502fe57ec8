-- ember.fit.loop: the epoch loop of ember.fit over a trainer (the resolved options `c` and the state a
-- checkpoint carries). Each epoch: model:train(); for every batch: zero_grad, forward, loss, a NaN/Inf
-- check, backward, optional clipping, optimizer step, per-step schedule step. Then the epoch's end:
-- validation, the row, on_epoch, the epoch schedule step, the stop rule, the checkpoints.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"
local metrics = require "ember.fit.metrics"
local progress = require "ember.fit.progress"
local checkpoint = require "ember.fit.checkpoint"
local steps = require "ember.fit.steps"

local M = {}

local huge = math.huge
local show, is_finite = util.show, util.is_finite
local fail = E.raiser("ember.fit")

local function new_sums(list)
  local sums = {loss = 0, count = 0, metrics = {}}
  for _, m in ipairs(list) do sums.metrics[m.name] = 0 end
  return sums
end

--- loop.trainer(c) -> the state of one ember.fit call over resolved options c, before any epoch
function M.trainer(c)
  local t = {c = c, history = {}, step = 0, first_epoch = 1, skip = 0, sums = {loss = 0, count = 0, metrics = {}},
             best = c.mode == "max" and -huge or huge, best_epoch = nil,
             out = progress.new(c.quiet, c.live, c.run)}
  local t_start = ember.clock()
  function t.elapsed()
    if c.run then return c.run:elapsed() end
    return ember.clock() - t_start
  end
  if c.run then
    t.k = (c.run.session or c.session):next_fit(c.run)
    t.files = checkpoint.files(c.run, t.k)
  end
  t.last_save = t_start
  t.epoch_seconds, t.epochs_timed = 0, 0   -- whole epochs this process ran, for the run's ETA
  return t
end

--- loop.start_logging(t): with log_every, the steps.tsv logger (after a resume restored its partial sums)
function M.start_logging(t)
  if t.c.log_every then t.steps = steps.new(t.c.run, t.c.log_every, t.step_sums) end
end

local function round_time(s) return math.floor(s * 1000 + 0.5) / 1000 end

-- Ctrl-C / SIGTERM: saves last.ckpt (epoch = the epoch running, k = batches done in it; none when the
-- end of training already saved it) and raises
local function interrupted(t, epoch, k)
  local run = t.c.run
  local where = ("epoch %d, step %d"):format(epoch, t.step)
  if run then
    if not t.final_saved then checkpoint.save(t, checkpoint.snapshot(t, k == 0 and epoch or epoch - 1, k)) end
    run:set_status("interrupted")
    E.raise("interrupted", "ember.fit", "interrupted: training stopped at %s; state saved in %s. "
      .. "Continue with: ember run %s --resume %s", where, t.files.last, run.script or "SCRIPT", run.dir)
  end
  E.raise("interrupted", "ember.fit", "interrupted: training stopped at %s", where)
end

-- a NaN or infinite training loss: logs the row, marks the run, then returns the history or raises
local function diverged(t, epoch, k, lv)
  local c, run = t.c, t.c.run
  t.step = t.step + 1
  local lr = c.opt.param_groups[1].lr
  local fmt = progress.number
  local msg = ("training diverged at epoch %d, step %d (batch %d/%d, lr %s): the loss is %s. "
    .. "Hint: lower the learning rate (e.g. %s), clip gradients (clip = 1), or check the data for NaN/Inf")
    :format(epoch, t.step, k, c.ntrain, fmt(lr), lv ~= lv and "nan" or tostring(lv), fmt(lr / 10))
  local row = {epoch = epoch, step = t.step, train_loss = lv, lr = lr}
  t.history[#t.history + 1] = row
  if run then
    row.time = round_time(t.elapsed())
    run:log(row)
    run:set_status("diverged", {error = msg})
  end
  t.out:clear_bar()
  t.history.status, t.history.diverged = "diverged", msg
  if run then checkpoint.save(t, checkpoint.snapshot(t, epoch - 1, k - 1), "diverged") end
  if c.diverge == "return" then
    io.stderr:write("ember.fit: ", msg, "\n")
    return t.history
  end
  E.raise("diverged", "ember.fit", "%s", msg)
end

-- the epoch's batch iterator, positioned after the batches a resumed checkpoint had done; k = those
local function start_epoch(t)
  local c = t.c
  metrics.set_mode(c.model, true)
  if t.skip > 0 then
    ember.set_rng_state(t.rng_epoch)
  else
    t.rng_epoch = ember.get_rng_state()
    t.sums = new_sums(c.metrics)
  end
  local iter = c.train:batches(c.batch, {shuffle = c.shuffle, drop_last = c.drop_last})
  local k = 0
  if t.skip > 0 then
    for _ = 1, t.skip do
      if iter() == nil then break end
      k = k + 1
    end
    ember.set_rng_state(t.rng_resume)
    t.skip = 0
  end
  return iter, k
end

-- one optimizer step on batch (x, y) whose loss lv is finite: backward, clipping, step, the sums
local function step_on(t, epoch, output, l, lv, x, y)
  local c, sums = t.c, t.sums
  local lr = c.opt.param_groups[1].lr   -- the lr this step trains with
  l:backward()
  if c.clip_norm then c.clip_norm(c.params, c.clip) end
  c.opt:step()
  if c.sched and c.schedule_every == "step" then c.sched:step() end
  t.step = t.step + 1
  local n = x:shape()[1]
  sums.loss, sums.count = sums.loss + lv * n, sums.count + n
  if #c.metrics > 0 then
    local was = ember.is_grad_enabled()
    ember.set_grad_enabled(false)
    for _, m in ipairs(c.metrics) do
      sums.metrics[m.name] = sums.metrics[m.name] + metrics.batch_sum(m, output, y, n)
    end
    ember.set_grad_enabled(was)
  end
  if t.steps then t.steps:add(t.step, epoch, lv, n, lr, round_time(t.elapsed())) end
  return n
end

local function show_bar(t, epoch, k, done, ran, t_epoch)
  local c = t.c
  local dt = ember.clock() - t_epoch
  local eta, run_eta = progress.eta{k = k, n = c.ntrain, epoch = epoch, epochs = c.epochs, dt = dt, ran = ran,
    epoch_time = t.epochs_timed > 0 and t.epoch_seconds / t.epochs_timed or nil}
  t.out:bar{epoch = epoch, epochs = c.epochs, k = k, n = c.ntrain, loss = t.sums.loss / t.sums.count,
            rate = dt > 0 and done / dt or 0, eta = eta, run_eta = run_eta}
end

-- the training batches of one epoch; returns the history when training diverged and must end now
local function train_epoch(t, epoch, t_epoch)
  local c = t.c
  local iter, k = start_epoch(t)
  local done, ran = 0, 0   -- samples and batches run in this epoch by this process
  for x, y in iter do
    k = k + 1
    c.opt:zero_grad()
    local output = c.model(x)
    local l = c.loss_fn(output, y)
    local lv = l:item()
    if not is_finite(lv) then return diverged(t, epoch, k, lv) end
    done, ran = done + step_on(t, epoch, output, l, lv, x, y), ran + 1
    if t.out.tty then show_bar(t, epoch, k, done, ran, t_epoch) end
    if ember._interrupts() > 0 then
      t.out:clear_bar()
      if k < c.ntrain then interrupted(t, epoch, k) end
      break   -- the epoch is complete: finish it, then stop at its end
    end
  end
  if ran == c.ntrain then   -- a whole epoch: its time, validation included later, estimates the rest
    t.timing_epoch = true
  end
end

-- the epoch's row: training means, validation, on_epoch's columns; returns the row and on_epoch's verdict
local function epoch_row(t, epoch)
  local c, sums = t.c, t.sums
  local row = {epoch = epoch, step = t.step, lr = c.opt.param_groups[1].lr}
  row.train_loss = sums.count > 0 and sums.loss / sums.count or 0 / 0
  for _, m in ipairs(c.metrics) do
    row["train_" .. m.name] = sums.count > 0 and sums.metrics[m.name] / sums.count or 0 / 0
  end
  if c.valid then
    local v = metrics.evaluate(c.model, c.loss_fn, c.valid, c.valid_batch, c.metrics)
    row.valid_loss = v.loss
    for _, m in ipairs(c.metrics) do row["valid_" .. m.name] = v.metrics[m.name] end
  end
  local hook_stop
  if c.on_epoch then
    hook_stop = c.on_epoch{epoch = epoch, step = t.step, row = row, history = t.history, model = c.model,
                           optimizer = c.opt, run = c.run}
    if hook_stop == false then hook_stop = nil end
  end
  row.time = round_time(t.elapsed())
  return row, hook_stop
end

local function monitored(c, row)
  local mv = row[c.monitor]
  if mv == nil then
    local cols = {}
    for col in pairs(row) do cols[#cols + 1] = col end
    table.sort(cols)
    fail("monitor %s is not a column of the epoch row (columns: %s)", show(c.monitor), table.concat(cols, ", "))
  end
  if type(mv) ~= "number" then fail("monitor %s must be a number (got %s)", show(c.monitor), show(mv)) end
  return mv
end

local function better(mode, a, b)
  if mode == "max" then return a > b end
  return a < b
end

-- the meta.tsv keys of an early stop at epoch
local function stop_meta(t, epoch)
  local c = t.c
  local b_epoch = (c.stop and type(c.stop.best_epoch) == "number") and c.stop.best_epoch or t.best_epoch
  return {best_epoch = b_epoch, stop_epoch = epoch, monitor = c.monitor, stop_reason = t.stop_reason}
end

-- the end of an epoch; returns true when training stops here
local function end_epoch(t, epoch, t_epoch)
  local c = t.c
  local row, hook_stop = epoch_row(t, epoch)
  t.history[#t.history + 1] = row
  if c.run then c.run:log(row) end
  local mv = monitored(c, row)
  if c.sched and c.schedule_every == "epoch" then c.sched:step(mv) end
  local stopping, reason = false, nil
  if c.stop then stopping, reason = c.stop:update(mv, c.model) end
  if hook_stop and not stopping then
    stopping, reason = true, type(hook_stop) == "string" and hook_stop or "on_epoch"
  end
  -- a value the rule stopped on as diverged, or a non-finite one, is never the best
  local bad = stopping and (reason == "diverged" or reason == "not finite")
  local improved = is_finite(mv) and not bad and better(c.mode, mv, t.best)
  if improved then t.best, t.best_epoch = mv, epoch end
  if stopping then t.status, t.stop_reason = "stopped-early", reason or "stopped" end
  local seconds = ember.clock() - t_epoch
  if t.timing_epoch then
    t.epoch_seconds, t.epochs_timed, t.timing_epoch = t.epoch_seconds + seconds, t.epochs_timed + 1, false
  end
  t.out:line(progress.epoch_line(row, c.epochs, c.metrics, seconds, improved and c.valid))
  t.out:curve(t.history, c.monitor)
  local final = stopping or epoch == c.epochs
  if c.run then
    checkpoint.epoch_end(t, epoch, improved, final and t.status or nil)
    t.final_saved = final
  end
  if stopping then
    local meta = stop_meta(t, epoch)
    if c.run then c.run:set_status("stopped-early", meta) end
    t.out:line(("stopped early at epoch %d (%s)%s"):format(epoch, t.stop_reason,
      meta.best_epoch and (", best epoch %d"):format(meta.best_epoch) or ""))
    return true
  end
  if ember._interrupts() > 0 then interrupted(t, epoch, 0) end
  return false
end

--- loop.run(t) -> the history: trains trainer t from its first epoch to the last, an early stop or
-- divergence
function M.run(t)
  local c = t.c
  t.status = "finished"
  for epoch = t.first_epoch, c.epochs do
    local t_epoch = ember.clock()
    t.epoch = epoch
    local ended = train_epoch(t, epoch, t_epoch)
    if ended then return ended end
    if end_epoch(t, epoch, t_epoch) then break end
  end
  if c.run and not t.final_saved then   -- resumed after its last epoch: no epoch ended here
    checkpoint.save(t, checkpoint.snapshot(t, c.epochs, 0), t.status)
  end
  if c.run and t.status == "finished" then c.run:set_status("finished") end
  local h = t.history
  h.status, h.stop_reason = t.status, t.stop_reason
  h.best, h.best_epoch = t.best_epoch and t.best or nil, t.best_epoch
  return h
end

--- loop.interrupted_history(t, err) -> the history of a fit that Ctrl-C stopped in an interactive
-- session, with status "interrupted"; says so in one line
function M.interrupted_history(t, err)
  local h = t.history
  h.status = "interrupted"
  h.best, h.best_epoch = t.best_epoch and t.best or nil, t.best_epoch
  t.out:clear_bar()
  local text = E.message(err)
  if not text:find("^ember%.fit: ") then   -- a second Ctrl-C stopped it at once, without a checkpoint
    text = ("ember.fit: interrupted: training stopped at epoch %d, step %d"):format(t.epoch or 0, t.step)
  end
  print((text:gsub("%. Continue with: .*$", "")) .. "; the history so far is returned")
  return h
end

--- loop.restored(t, ck) -> the history of a fit that had ended before a --resume: t holds its final
-- state (resume.begin), ck its last checkpoint. The run gets that fit's status back; a fit that
-- diverged raises its error again unless diverge = "return".
function M.restored(t, ck)
  local c, h = t.c, t.history
  h.status, h.stop_reason = ck.status, ck.stop_reason
  h.best, h.best_epoch = t.best_epoch and t.best or nil, t.best_epoch
  t.out:line(("fit %d of this run had ended (%s after %d epochs): its final state is restored from %s")
    :format(t.k, ck.status, ck.epoch, t.files.last))
  if ck.status == "diverged" then
    h.diverged = ck.error
    c.run:set_status("diverged", {error = ck.error})
    if c.diverge ~= "return" then E.raise("diverged", "ember.fit", "%s", ck.error or "training diverged") end
  elseif ck.status == "stopped-early" then
    t.stop_reason = ck.stop_reason
    c.run:set_status("stopped-early", stop_meta(t, ck.epoch))
  else
    c.run:set_status("finished")
  end
  return h
end

return M
