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
-- With a run: checkpoints (checkpoint.lua: last.ckpt when the policy says so and at the end, best.ckpt
-- after the best epoch), `log_every` rows in steps.tsv, the optimizer's values in meta.tsv. Under
-- `ember run --resume DIR` every fit of the script resumes (resume.lua): the ones that had ended give
-- their result back, the first that had not continues from its last.ckpt, and metrics.tsv is cut back to
-- the rows that checkpoint knew. The resumed run computes the same numbers as an uninterrupted one, bit
-- for bit at the same thread count: an interrupted epoch is replayed by restoring the RNG state of the
-- epoch's start, drawing the same batch order, skipping the batches already done and then restoring the
-- RNG state of the interruption.
--
-- Ctrl-C / SIGTERM: the first signal lets the current step finish; then metrics are flushed, last.ckpt
-- written, status `interrupted`, and fit raises an error of kind "interrupted" (`ember` exits with
-- status 130); in an interactive session (the REPL) it returns the history with status "interrupted".
-- A second signal stops at once (rows already logged are on disk).
-- Divergence: a NaN or infinite training loss stops with status `diverged` and a message naming epoch,
-- step and learning rate, with a hint; a row with the bad loss is logged; rows logged before stay.
-- fit raises that message as an error of kind "diverged" (exit status 1), or returns the history with
-- diverge = "return".
local ember = require "ember"
local E = require "ember.error"
local options = require "ember.fit.options"
local loop = require "ember.fit.loop"
local resume = require "ember.fit.resume"
local steps = require "ember.fit.steps"
local record = require "ember.fit.record"

-- The folder: options.lua checks and resolves the options, loop.lua is the epoch loop, metrics.lua the
-- metrics and the validation pass, checkpoint.lua what a checkpoint holds and when it is written,
-- resume.lua what a fit does under --resume, steps.lua steps.tsv, record.lua the values in meta.tsv,
-- progress.lua the progress bar and epoch lines.
local M = {}

--- ember.fit{model, loss, optimizer, train, epochs, batch, valid = nil, schedule = nil,
--   schedule_every = "epoch" ("step" for onecycle), stop = nil, run = nil, metrics = {}, clip = nil,
--   on_epoch = nil, shuffle = true, drop_last = false, valid_batch = batch, monitor = stop's monitor or
--   "valid_loss" (train_loss without valid), mode = stop's mode or "min", quiet = false, live = false,
--   diverge = "error", log_every = nil, checkpoint_every = nil, checkpoint_seconds = 5, input = nil} -> history, a
--   list of the logged rows, with fields best_epoch, best, status ("finished", "stopped-early",
--   "diverged", "interrupted" in the REPL) and stop_reason.
-- model: callable with parameters() (and train/eval, state_dict/load_state_dict for checkpoints);
-- loss: fn(output, target) -> 0-d tensor, or a name for ember.loss; schedule: a schedule or a function
-- epoch -> lr (wrapped with ember.schedule.wrap); stop: a rule with update(value, model) or a function
-- (ember.stop.wrap); metrics: {"accuracy", "mae", "mse", name = fn(out, y) -> batch mean};
-- clip: max gradient norm (ember.optim.clip_grad_norm); on_epoch(ctx): ctx = {epoch, step, row, history,
-- model, optimizer, run}; it may add columns to ctx.row, and returning true (or a reason string) stops
-- training early. quiet and live also come from `ember run --quiet/--live`. input: how the script turned
-- the data it loaded into the model's input, {scale = k, standardize = stats | normalize = stats,
-- shape = {sizes of one sample}}, kept in the checkpoints so that `ember eval` prepares data the same way.
function M.fit(o)
  local c = options.resolve(o)
  local t = loop.trainer(c)
  local ended = resume.begin(t)
  local run = c.run
  if run then
    run:set_meta{monitor = c.monitor, mode = c.mode}
    record.used(run, c.opt)
  end
  if ended then return loop.restored(t, ended) end
  if run and not run._closed and run.status ~= "running" then run:set_status("running") end   -- a later fit
  loop.start_logging(t)
  local prev_graceful = ember._graceful(true)
  ember._reset_interrupts()
  -- restores the signal mode and records a failure when an error leaves the loop
  local guard <close> = setmetatable({}, {__close = function(_, err)
    ember._graceful(prev_graceful)
    t.out:clear_bar()
    if run then steps.close(run) end
    if err ~= nil and run and not run._closed and run.status == "running" then
      local msg = tostring(err)
      run:set_status(E.is(err, "interrupted") and "interrupted" or "failed", {error = msg:match("^[^\n]*")})
    end
  end})
  if not c.session.interactive then return loop.run(t) end
  -- the REPL: Ctrl-C ends training, not the session's work; the history so far comes back
  local ok, res = pcall(loop.run, t)
  if ok then return res end
  if not E.is(res, "interrupted") then error(res, 0) end
  if run and run.status == "running" then run:set_status("interrupted") end
  return loop.interrupted_history(t, res)
end

return setmetatable(M, {__call = function(_, o) return M.fit(o) end})
