-- ember.fit: the training loop done right, as a convenience over the explicit loop (which stays a
-- first-class way to work). `ember.fit{model, loss, optimizer, train, epochs, batch, ...}` -> history.
--
-- Each epoch: model:train(); for every batch of train:batches(batch, {shuffle = true}): zero_grad,
-- forward, loss, a NaN/Inf check, backward, optional gradient clipping, optimizer step, per-step
-- schedule step. The epoch's train_loss is the loss averaged over samples (batch losses weighted by
-- batch size, so a short last batch counts for what it holds). Then validation in eval mode with
-- gradients off, one row {epoch, step, train_loss, valid_loss, train_<metric>, valid_<metric>, lr, time}
-- logged (lr is the rate the epoch trained with; time is seconds since the run started), on_epoch, the
-- epoch schedule step (plateau gets the monitored value), the early-stopping check, and the checkpoints.
--
-- With a run: last.ckpt after every epoch, best.ckpt whenever the monitored value improves (strictly),
-- both holding model, optimizer, schedule and stop state, ember's RNG state, epoch, step, the partial
-- sums of an unfinished epoch and the metrics history. `ember run --resume DIR` reloads last.ckpt and
-- continues; metrics.tsv is cut back to the rows the checkpoint knew. The resumed run computes the same
-- numbers as an uninterrupted one, bit for bit at the same thread count: an interrupted epoch is
-- replayed by restoring the RNG state of the epoch's start, drawing the same batch order, skipping the
-- batches already done and then restoring the RNG state of the interruption.
--
-- Ctrl-C / SIGTERM: the first signal lets the current step finish; then metrics are flushed, last.ckpt
-- written, status `interrupted`, and fit raises an error of kind "interrupted" (`ember` exits with
-- status 130).
-- A second signal stops at once (rows already logged are on disk).
-- Divergence: a NaN or infinite training loss stops with status `diverged` and a message naming epoch,
-- step and learning rate, with a hint; a row with the bad loss is logged; rows logged before stay.
-- fit raises that message as an error of kind "diverged" (exit status 1), or returns the history with
-- diverge = "return".
local ember = require "ember"
local E = require "ember.error"
local session = require "ember.session"
local util = require "ember.util"

local M = {}

local huge = math.huge

local show, is_finite, callable = util.show, util.is_finite, util.callable
local fail = E.raiser("ember.fit")

local function fmt_num(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.4g", v)
end

local function fmt_duration(s)
  if s ~= s or s == huge then return "?" end
  if s < 10 then return ("%.2fs"):format(s) end
  s = math.floor(s + 0.5)
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

-- metrics ------------------------------------------------------------------------------------------------------

local function class_targets(y, n)
  if y:dim() == 2 and y:shape()[2] == 1 then return y:reshape(n) end
  return y
end

-- built-in metrics: fn(out, y) -> the sum over the batch (so epochs average over samples)
local BUILTIN = {
  accuracy = function(out, y)
    if out:dim() ~= 2 then
      fail("metric accuracy needs outputs of shape (N, classes) (got %s dims)", out:dim())
    end
    local n = out:shape()[1]
    return out:argmax(2):eq(class_targets(y, n)):sum():item()
  end,
  mae = function(out, y) return (out - y):abs():sum():item() / (out:numel() / out:shape()[1]) end,
  mse = function(out, y) return ((out - y) ^ 2):sum():item() / (out:numel() / out:shape()[1]) end,
}

-- {"accuracy", name = fn} -> ordered list of {name, fn, per_sample}; a user fn returns the batch mean
local function resolve_metrics(spec)
  local out = {}
  if spec == nil then return out end
  if type(spec) ~= "table" then fail("metrics must be a list such as {\"accuracy\"} (got %s)", show(spec)) end
  for i, m in ipairs(spec) do
    if type(m) ~= "string" or not BUILTIN[m] then
      local names = {}
      for k in pairs(BUILTIN) do names[#names + 1] = k end
      table.sort(names)
      fail("metrics[%d]: unknown metric %s (built in: %s; or give name = function(out, y) -> batch mean)",
           i, show(m), table.concat(names, ", "))
    end
    out[#out + 1] = {name = m, fn = BUILTIN[m], sum = true}
  end
  local named = {}
  for k, f in pairs(spec) do
    if math.type(k) ~= "integer" then
      if type(k) ~= "string" or not callable(f) then
        fail("metrics.%s must be a function(out, y) -> number (got %s)", tostring(k), type(f))
      end
      named[#named + 1] = k
    end
  end
  table.sort(named)
  for _, k in ipairs(named) do out[#out + 1] = {name = k, fn = spec[k], sum = false} end
  return out
end

-- the batch's contribution to the epoch sum of metric m
local function metric_sum(m, out, y, n)
  local v = m.fn(out, y)
  if type(v) ~= "number" then
    local ok, x = pcall(function() return v:item() end)
    if not ok or type(x) ~= "number" then fail("metric %s returned %s (expected a number)", m.name, show(v)) end
    v = x
  end
  if m.sum then return v end
  return v * n
end

-- options --------------------------------------------------------------------------------------------------------

local KEYS = {"model", "loss", "optimizer", "schedule", "schedule_every", "stop", "train", "valid", "epochs",
  "batch", "valid_batch", "run", "metrics", "clip", "on_epoch", "shuffle", "drop_last", "monitor", "mode",
  "quiet", "live", "diverge"}

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

-- output -----------------------------------------------------------------------------------------------------------

local Out = {}
Out.__index = Out

local function new_output(quiet, live, run)
  local tty = not quiet and ember.isatty(1)
  return setmetatable({quiet = quiet, tty = tty, live = live and not quiet, run = run, last_bar = -huge,
                       bar_shown = false, curve_lines = 0}, Out)
end

function Out:bar(epoch, epochs, k, n, loss, rate, eta)
  if not self.tty then return end
  local now = ember.clock()
  if k < n and now - self.last_bar < 0.1 then return end
  self.last_bar = now
  local cols = ember.terminal_size(1)
  local text = ("epoch %d/%d %d/%d loss %s %s samples/s ETA %s"):format(epoch, epochs, k, n, fmt_num(loss),
    rate >= 100 and ("%d"):format(math.floor(rate + 0.5)) or fmt_num(rate), fmt_duration(eta))
  local width = cols - #text - 4
  if width >= 10 then
    local fill = n > 0 and math.floor(width * k / n) or width
    text = "[" .. string.rep("=", fill) .. string.rep(" ", width - fill) .. "] " .. text
  end
  io.stdout:write("\r", text:sub(1, cols - 1), "\27[K")
  io.stdout:flush()
  self.bar_shown = true
end

function Out:clear_bar()
  if self.bar_shown then
    io.stdout:write("\r\27[K")
    self.bar_shown = false
  end
end

-- one line per epoch: on the terminal and in stdout.log (quiet: only the log)
function Out:line(text)
  self:clear_bar()
  if self.quiet then
    if self.run and not self.run._closed then self.run:_log_text(text .. "\n") end
    return
  end
  if self.tty and self.curve_lines > 0 then
    io.stdout:write(("\27[%dA\27[J"):format(self.curve_lines))
    self.curve_lines = 0
  end
  print(text)   -- through print, so the run's stdout.log gets it
  io.stdout:flush()
end

function Out:curve(history, monitor)
  if not self.live or #history == 0 then return end
  local cols, rows = ember.terminal_size(1)
  -- one panel, the monitored metric, as tall as the terminal allows below the epoch lines
  local height = math.max(10, math.min(24, rows - 4))
  local metric = history[#history][monitor] ~= nil and monitor or "train_loss"
  local text, err = require("ember.plot").dumb_curve(history, metric, math.min(cols, 100), height)
  if not text then
    if not self.live_warned then
      io.stderr:write("ember: --live: no curve (" .. tostring(err):match("^[^\n]*") .. ")\n")
      self.live_warned = true
    end
    return
  end
  io.stdout:write(text)
  if text:sub(-1) ~= "\n" then io.stdout:write("\n") end
  io.stdout:flush()
  if self.tty then
    local n = 0
    for _ in text:gmatch("\n") do n = n + 1 end
    if text:sub(-1) ~= "\n" then n = n + 1 end
    self.curve_lines = n
  end
end

-- the loop ------------------------------------------------------------------------------------------------------

local function set_mode(model, train)
  local f = train and model.train or model.eval
  if type(f) == "function" then f(model) end
end

local function grad_off()
  local was = ember.is_grad_enabled()
  ember.set_grad_enabled(false)
  return was
end

-- validation: mean loss over samples and metric means, in eval mode with gradients off
local function evaluate(model, loss_fn, ds, n, metrics)
  set_mode(model, false)
  local was = grad_off()
  local ok, res = pcall(function()
    local sum, count, sums = 0, 0, {}
    for _, m in ipairs(metrics) do sums[m.name] = 0 end
    for x, y in ds:batches(n, {shuffle = false}) do
      local out = model(x)
      local b = x:shape()[1]
      sum = sum + loss_fn(out, y):item() * b
      for _, m in ipairs(metrics) do sums[m.name] = sums[m.name] + metric_sum(m, out, y, b) end
      count = count + b
    end
    local means = {}
    for _, m in ipairs(metrics) do means[m.name] = count > 0 and sums[m.name] / count or 0 / 0 end
    return {loss = count > 0 and sum / count or 0 / 0, metrics = means}
  end)
  ember.set_grad_enabled(was)
  if not ok then error(res, 0) end
  return res
end

local function state_of(obj)
  if obj ~= nil and type(obj.state_dict) == "function" then return obj:state_dict() end
  return nil
end

local function load_into(obj, s, what, path)
  if obj == nil or s == nil or type(obj.load_state_dict) ~= "function" then return end
  local ok, err = pcall(obj.load_state_dict, obj, s)
  if not ok then
    fail("cannot resume from '%s': the %s state does not fit: %s", path, what, tostring(err))
  end
end

local function better(mode, a, b)
  if a ~= a then return false end
  if mode == "max" then return a > b end
  return a < b
end

--- ember.fit{model, loss, optimizer, train, epochs, batch, valid = nil, schedule = nil,
--   schedule_every = "epoch" ("step" for onecycle), stop = nil, run = nil, metrics = {}, clip = nil,
--   on_epoch = nil, shuffle = true, drop_last = false, valid_batch = batch, monitor = stop's monitor or
--   "valid_loss" (train_loss without valid), mode = stop's mode or "min", quiet = false, live = false,
--   diverge = "error"} -> history, a list of the logged rows, with fields best_epoch, best, status
--   ("finished", "stopped-early", "diverged") and stop_reason.
-- model: callable with parameters() (and train/eval, state_dict/load_state_dict for checkpoints);
-- loss: fn(output, target) -> 0-d tensor, or a name for ember.loss; schedule: a schedule or a function
-- epoch -> lr (wrapped with ember.schedule.wrap); stop: a rule with update(value, model) or a function
-- (ember.stop.wrap); metrics: {"accuracy", "mae", "mse", name = fn(out, y) -> batch mean};
-- clip: max gradient norm (ember.optim.clip_grad_norm); on_epoch(ctx): ctx = {epoch, step, row, history,
-- model, optimizer, run}; it may add columns to ctx.row, and returning true (or a reason string) stops
-- training early. quiet and live also come from `ember run --quiet/--live`.
function M.fit(o)
  if type(o) ~= "table" then fail("expected a table of options (got %s)", show(o)) end
  local known = {}
  for _, k in ipairs(KEYS) do known[k] = true end
  for k in pairs(o) do
    if not known[k] then fail("unknown option %s (options: %s)", show(k), table.concat(KEYS, ", ")) end
  end
  local model, opt = o.model, o.optimizer
  if not callable(model) then fail("model must be callable: model(x) -> output (got %s)", type(model)) end
  if type(opt) ~= "table" or type(opt.step) ~= "function" or type(opt.zero_grad) ~= "function"
     or type(opt.param_groups) ~= "table" or #opt.param_groups == 0 then
    fail("optimizer must be an optimizer with step, zero_grad and param_groups (got %s)", type(opt))
  end
  local loss_fn = resolve_loss(o.loss)
  check_dataset(o.train, "train")
  if o.valid ~= nil then check_dataset(o.valid, "valid") end
  local epochs = check_posint(o.epochs, "epochs")
  local batch = check_posint(o.batch, "batch")
  local valid_batch = o.valid_batch ~= nil and check_posint(o.valid_batch, "valid_batch") or batch
  local metrics = resolve_metrics(o.metrics)
  if o.clip ~= nil and (type(o.clip) ~= "number" or not (o.clip > 0) or o.clip == huge) then
    fail("clip must be a positive number, the max gradient norm (got %s)", show(o.clip))
  end
  if o.on_epoch ~= nil and not callable(o.on_epoch) then fail("on_epoch must be a function(ctx) (got %s)", type(o.on_epoch)) end
  local diverge = o.diverge or "error"
  if diverge ~= "error" and diverge ~= "return" then
    fail('diverge must be "error" or "return" (got %s)', show(diverge))
  end
  local run = o.run
  if run ~= nil and (type(run) ~= "table" or type(run.log) ~= "function" or type(run.dir) ~= "string") then
    fail("run must be a run from ember.run{} (got %s)", type(run))
  end
  local sched = o.schedule
  if sched ~= nil then sched = require("ember.schedule").wrap(sched, opt) end
  local schedule_every = o.schedule_every or (sched and sched.kind == "onecycle" and "step" or "epoch")
  if schedule_every ~= "epoch" and schedule_every ~= "step" then
    fail('schedule_every must be "epoch" or "step" (got %s)', show(schedule_every))
  end
  local stop = o.stop
  if stop ~= nil then stop = require("ember.stop").wrap(stop) end
  local monitor = o.monitor or (stop and type(stop.monitor) == "string" and stop.monitor)
                  or (o.valid and "valid_loss" or "train_loss")
  local mode = o.mode or (stop and (stop.mode == "max" or stop.mode == "min") and stop.mode) or "min"
  if mode ~= "min" and mode ~= "max" then fail('mode must be "min" or "max" (got %s)', show(mode)) end
  local sess = session.current()
  local quiet = o.quiet or sess.quiet or false
  local out = new_output(quiet, o.live or sess.live, run)
  local shuffle = o.shuffle ~= false
  local drop_last = o.drop_last == true
  local params = type(model.parameters) == "function" and model:parameters() or nil
  if o.clip and not params then fail("clip needs model:parameters()") end
  local clip_norm = o.clip and (ember.optim and ember.optim.clip_grad_norm)
  if o.clip and not clip_norm then fail("clip needs ember.optim.clip_grad_norm") end
  local ntrain = batch_count(o.train, batch, drop_last)

  -- state that a checkpoint carries
  local history = {}
  local step = 0
  local first_epoch, skip = 1, 0
  local sums = {loss = 0, count = 0, metrics = {}}
  local rng_epoch, rng_resume = nil, nil
  local best, best_epoch = (mode == "max" and -huge or huge), nil
  local t_start = ember.clock()
  local elapsed_offset = 0
  local function elapsed()
    if run then return run:elapsed() end
    return elapsed_offset + ember.clock() - t_start
  end

  local last_path = run and run:path("last.ckpt")
  -- only the first fit of a resumed run continues from last.ckpt
  if run and run.resumed and sess:next_fit(run) == 1 then
    if require("lfs").attributes(last_path, "mode") == "file" then
      local ok, ck = pcall(ember.load, last_path)
      if not ok then fail("cannot resume: %s", E.message(ck)) end
      if type(ck) ~= "table" or ck.format ~= "ember.fit" then
        fail("cannot resume: '%s' is not a checkpoint written by ember.fit", last_path)
      end
      load_into(model, ck.model, "model", last_path)
      load_into(opt, ck.optimizer, "optimizer", last_path)
      load_into(sched, ck.schedule, "schedule", last_path)
      load_into(stop, ck.stop, "early-stopping", last_path)
      history = ck.history or {}
      step = ck.step
      best, best_epoch = ck.best, (ck.best_epoch ~= 0 and ck.best_epoch or nil)
      if ck.batch > 0 then
        first_epoch, skip = ck.epoch + 1, ck.batch
        sums = ck.sums
        rng_epoch, rng_resume = ck.rng_epoch, ck.rng
      else
        first_epoch = ck.epoch + 1
        ember.set_rng_state(ck.rng)
      end
      run.elapsed_offset = ck.elapsed
      run.t0 = ember.clock()
      run:_truncate(ck.rows)
    else
      run:_truncate(0)   -- stopped before its first checkpoint: start over in the same directory
    end
  end
  if run then run:set_meta{monitor = monitor, mode = mode} end

  -- checkpoint of the current state; epoch = completed epochs, batch = batches done in the next one
  local function snapshot(epoch_done, batch_done)
    local s = {format = "ember.fit", version = 1, epoch = epoch_done, batch = batch_done, step = step,
      rng = ember.get_rng_state(), history = history, rows = run.rows, elapsed = elapsed(),
      best = best, best_epoch = best_epoch or 0,
      model = state_of(model), optimizer = state_of(opt), schedule = state_of(sched), stop = state_of(stop)}
    if batch_done > 0 then
      s.sums = sums
      s.rng_epoch = rng_epoch
    end
    return s
  end

  local prev_graceful = ember._graceful(true)
  ember._reset_interrupts()
  -- restores the signal mode and records a failure when an error leaves the loop
  local guard <close> = setmetatable({}, {__close = function(_, err)
    ember._graceful(prev_graceful)
    out:clear_bar()
    if err ~= nil and run and not run._closed and run.status == "running" then
      local msg = tostring(err)
      run:set_status(E.is(err, "interrupted") and "interrupted" or "failed", {error = msg:match("^[^\n]*")})
    end
  end})

  local function interrupted(epoch, k)
    local where = ("epoch %d, step %d"):format(epoch, step)
    if run then
      ember.save(last_path, snapshot(k == 0 and epoch or epoch - 1, k))
      run:set_status("interrupted")
      local script = run.script or "SCRIPT"
      E.raise("interrupted", "ember.fit", "interrupted: training stopped at %s; state saved in %s. "
        .. "Continue with: ember run %s --resume %s", where, last_path, script, run.dir)
    end
    E.raise("interrupted", "ember.fit", "interrupted: training stopped at %s", where)
  end

  local status, stop_reason = "finished", nil
  for epoch = first_epoch, epochs do
    set_mode(model, true)
    local t_epoch = ember.clock()
    local k = 0
    if skip > 0 then
      ember.set_rng_state(rng_epoch)
    else
      rng_epoch = ember.get_rng_state()
      sums = {loss = 0, count = 0, metrics = {}}
      for _, m in ipairs(metrics) do sums.metrics[m.name] = 0 end
    end
    local iter = o.train:batches(batch, {shuffle = shuffle, drop_last = drop_last})
    if skip > 0 then
      for _ = 1, skip do
        if iter() == nil then break end
        k = k + 1
      end
      ember.set_rng_state(rng_resume)
      skip = 0
    end
    local done_in_epoch, ran = 0, 0   -- samples and batches run in this epoch by this process
    for x, y in iter do
      k = k + 1
      opt:zero_grad()
      local output = model(x)
      local l = loss_fn(output, y)
      local lv = l:item()
      if not is_finite(lv) then
        step = step + 1
        local lr = opt.param_groups[1].lr
        local msg = ("training diverged at epoch %d, step %d (batch %d/%d, lr %s): the loss is %s. "
          .. "Hint: lower the learning rate (e.g. %s), clip gradients (clip = 1), or check the data for NaN/Inf")
          :format(epoch, step, k, ntrain, fmt_num(lr), lv ~= lv and "nan" or tostring(lv), fmt_num(lr / 10))
        local row = {epoch = epoch, step = step, train_loss = lv, lr = lr}
        history[#history + 1] = row
        if run then
          row.time = math.floor(elapsed() * 1000 + 0.5) / 1000
          run:log(row)
          run:set_status("diverged", {error = msg})
        end
        out:clear_bar()
        history.status, history.diverged = "diverged", msg
        if diverge == "return" then
          io.stderr:write("ember.fit: ", msg, "\n")
          return history
        end
        E.raise("diverged", "ember.fit", "%s", msg)
      end
      l:backward()
      if clip_norm then clip_norm(params, o.clip) end
      opt:step()
      if sched and schedule_every == "step" then sched:step() end
      step = step + 1
      local n = x:shape()[1]
      sums.loss = sums.loss + lv * n
      sums.count = sums.count + n
      if #metrics > 0 then
        local was = grad_off()
        for _, m in ipairs(metrics) do
          sums.metrics[m.name] = sums.metrics[m.name] + metric_sum(m, output, y, n)
        end
        ember.set_grad_enabled(was)
      end
      done_in_epoch, ran = done_in_epoch + n, ran + 1
      if out.tty then
        local dt = ember.clock() - t_epoch
        local rate = dt > 0 and done_in_epoch / dt or 0
        out:bar(epoch, epochs, k, ntrain, sums.loss / sums.count, rate, dt / ran * (ntrain - k))
      end
      if ember._interrupts() > 0 then
        out:clear_bar()
        if k < ntrain then interrupted(epoch, k) end
        break   -- the epoch is complete: finish it, then stop at its end
      end
    end

    -- end of epoch: validation, row, hooks, schedule, stop, checkpoints
    local row = {epoch = epoch, step = step, lr = opt.param_groups[1].lr}
    row.train_loss = sums.count > 0 and sums.loss / sums.count or 0 / 0
    for _, m in ipairs(metrics) do
      row["train_" .. m.name] = sums.count > 0 and sums.metrics[m.name] / sums.count or 0 / 0
    end
    if o.valid then
      local v = evaluate(model, loss_fn, o.valid, valid_batch, metrics)
      row.valid_loss = v.loss
      for _, m in ipairs(metrics) do row["valid_" .. m.name] = v.metrics[m.name] end
    end
    local hook_stop
    if o.on_epoch then
      local ctx = {epoch = epoch, step = step, row = row, history = history, model = model, optimizer = opt,
                   run = run}
      hook_stop = o.on_epoch(ctx)
      if hook_stop == false then hook_stop = nil end
    end
    row.time = math.floor(elapsed() * 1000 + 0.5) / 1000
    history[#history + 1] = row
    if run then run:log(row) end
    local mv = row[monitor]
    if mv == nil then
      local cols = {}
      for c in pairs(row) do cols[#cols + 1] = c end
      table.sort(cols)
      fail("monitor %s is not a column of the epoch row (columns: %s)", show(monitor), table.concat(cols, ", "))
    end
    if type(mv) ~= "number" then fail("monitor %s must be a number (got %s)", show(monitor), show(mv)) end
    if sched and schedule_every == "epoch" then sched:step(mv) end
    local stopping, reason = false, nil
    if stop then
      local sm = type(stop.monitor) == "string" and row[stop.monitor] or mv
      stopping, reason = stop:update(sm, model)
    end
    if hook_stop and not stopping then
      stopping, reason = true, type(hook_stop) == "string" and hook_stop or "on_epoch"
    end
    local improved = better(mode, mv, best)
    if improved then best, best_epoch = mv, epoch end
    local parts = {("epoch %d/%d"):format(epoch, epochs)}
    local shown = {"train_loss", "valid_loss"}
    for _, m in ipairs(metrics) do
      shown[#shown + 1] = "train_" .. m.name
      shown[#shown + 1] = "valid_" .. m.name
    end
    for _, c in ipairs(shown) do
      if row[c] ~= nil then parts[#parts + 1] = c .. " " .. fmt_num(row[c]) end
    end
    parts[#parts + 1] = "lr " .. fmt_num(row.lr)
    parts[#parts + 1] = fmt_duration(ember.clock() - t_epoch)
    if improved and o.valid then parts[#parts + 1] = "*" end
    out:line(table.concat(parts, "  "))
    out:curve(history, monitor)
    if run then
      local snap = snapshot(epoch, 0)
      if improved then ember.save(run:path("best.ckpt"), snap) end
      ember.save(last_path, snap)
    end
    if stopping then
      status, stop_reason = "stopped-early", reason or "stopped"
      local b_epoch = (stop and type(stop.best_epoch) == "number") and stop.best_epoch or best_epoch
      if run then
        run:set_status("stopped-early", {best_epoch = b_epoch, stop_epoch = epoch, monitor = monitor,
                                         stop_reason = stop_reason})
      end
      out:line(("stopped early at epoch %d (%s)%s"):format(epoch, stop_reason,
        b_epoch and (", best epoch %d"):format(b_epoch) or ""))
      break
    end
    if ember._interrupts() > 0 then interrupted(epoch, 0) end
  end
  if run and status == "finished" then run:set_status("finished") end
  history.status, history.stop_reason = status, stop_reason
  history.best, history.best_epoch = best_epoch and best or nil, best_epoch
  return history
end

return setmetatable(M, {__call = function(_, o) return M.fit(o) end})
