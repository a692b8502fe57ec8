-- ember.fit.checkpoint: what ember.fit saves in a run directory, when, and how it puts it back. A
-- checkpoint is one table (docs/formats.md, "What ember.fit saves"): the state_dict of the model,
-- optimizer, schedule and stop rule, ember's RNG state, the epoch, batch and step reached, the history,
-- the rows of metrics.tsv and steps.tsv it knew, mid-epoch the epoch's partial sums and the RNG state of
-- the epoch's start, and once training has ended its final status; and for `ember eval` the model's
-- spec and how the data looked (ember.eval.checkpoint.entries).
--
-- When: last.ckpt at the end of an epoch when the policy says so (every `checkpoint_every` epochs, or
-- by default when `checkpoint_seconds` have passed since the last one), and always at the end of
-- training, on an interrupt and on divergence. best.ckpt holds the state after the best epoch: kept in
-- memory when the monitored value improves and written just before last.ckpt, so that on disk best.ckpt
-- is never behind what last.ckpt knows. Each write is durable (ember.save: temporary file, fsync,
-- rename); writing less often is what keeps short runs fast on a real disk.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"
local steps = require "ember.fit.steps"

local M = {}

local fail = E.raiser("ember.fit")

--- checkpoint.DEFAULT_SECONDS: the default checkpoint_seconds
M.DEFAULT_SECONDS = 5

--- checkpoint.files(run, k) -> {last = path, best = path}: the checkpoints of the k-th ember.fit call on
-- run (last.ckpt and best.ckpt for the first, last-2.ckpt and best-2.ckpt for the second, ...)
function M.files(run, k)
  local tail = (k or 1) == 1 and "" or ("-%d"):format(k)
  return {last = run:path("last" .. tail .. ".ckpt"), best = run:path("best" .. tail .. ".ckpt")}
end

local function state_of(obj)
  if obj ~= nil and type(obj.state_dict) == "function" then return obj:state_dict() end
  return nil
end

--- checkpoint.snapshot(t, epoch_done, batch_done) -> the checkpoint of trainer t now: epoch_done
-- completed epochs and batch_done batches of the next one
function M.snapshot(t, epoch_done, batch_done)
  local c = t.c
  local s = {format = "ember.fit", version = 1, epoch = epoch_done, batch = batch_done, step = t.step,
    rng = ember.get_rng_state(), history = t.history, rows = c.run.rows, elapsed = t.elapsed(),
    best = t.best, best_epoch = t.best_epoch or 0,
    model = state_of(c.model), optimizer = state_of(c.opt), schedule = state_of(c.sched), stop = state_of(c.stop)}
  if batch_done > 0 then
    s.sums = t.sums
    s.rng_epoch = t.rng_epoch
  end
  s.step_rows = steps.rows(c.run)
  if t.steps then s.step_sums = t.steps:sums() end
  for k, v in pairs(c.eval_entries or {}) do s[k] = v end
  return s
end

-- a copy of v that later training cannot change: tables copied, tensors cloned
local function frozen(v)
  if util.is_tensor(v) then return v:clone() end
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = frozen(x) end
  return c
end

--- checkpoint.save(t, snap [, status]): writes the pending best.ckpt, then snap as last.ckpt; status
-- ("finished", "stopped-early", "diverged") marks a fit whose training has ended, with its stop reason
-- or divergence message, so that a resumed script gets its result back without training again
function M.save(t, snap, status)
  if t.pending_best then
    ember.save(t.files.best, t.pending_best)
    t.pending_best = nil
  end
  if status then
    snap.status, snap.stop_reason, snap.error = status, t.stop_reason, t.history.diverged
  end
  ember.save(t.files.last, snap)
  t.last_save = ember.clock()
end

--- checkpoint.due(t, epoch) -> true when the policy wants last.ckpt after this epoch
function M.due(t, epoch)
  local c = t.c
  if c.checkpoint_every then return epoch % c.checkpoint_every == 0 end
  return ember.clock() - t.last_save >= c.checkpoint_seconds
end

--- checkpoint.epoch_end(t, epoch, improved [, status]): the checkpoints after an epoch: the best kept
-- when it improved; last.ckpt (and the kept best) written when due or when training ends here (status)
function M.epoch_end(t, epoch, improved, status)
  local write = status ~= nil or M.due(t, epoch)
  if not improved and not write then return end
  local snap = M.snapshot(t, epoch, 0)
  if improved then t.pending_best = write and snap or frozen(snap) end
  if write then M.save(t, snap, status) end
end

local function load_into(obj, s, what, path)
  if obj == nil or s == nil or type(obj.load_state_dict) ~= "function" then return end
  local ok, err = pcall(obj.load_state_dict, obj, s)
  if not ok then
    fail("cannot resume from '%s': the %s state does not fit: %s", path, what, tostring(err))
  end
end

local function count(v) return math.type(v) == "integer" and v >= 0 end
local function number(v) return type(v) == "number" end
local function text(v) return type(v) == "string" end
local function tbl(v) return type(v) == "table" end

-- the fields resume reads, with what each must be; mid-epoch ones only when batch > 0
local FIELDS = {
  {"epoch", count, "an integer >= 0"}, {"batch", count, "an integer >= 0"}, {"step", count, "an integer >= 0"},
  {"rows", count, "an integer >= 0"}, {"best_epoch", count, "an integer >= 0"}, {"rng", text, "a string"},
  {"elapsed", number, "a number"}, {"best", number, "a number"}, {"history", tbl, "a table"}}
local MID_EPOCH = {{"sums", tbl, "a table"}, {"rng_epoch", text, "a string"}}

local ENDED = {finished = true, ["stopped-early"] = true, diverged = true}

local function format_fail(path, fmt, ...)
  E.raise("format", "ember.fit", "cannot resume from '%s': " .. fmt, path, ...)
end

local function check_fields(ck, path, fields)
  for _, f in ipairs(fields) do
    local key, ok, what = f[1], f[2], f[3]
    local v = ck[key]
    if v == nil then format_fail(path, "its field %s is missing (expected %s)", key, what) end
    if not ok(v) then format_fail(path, "its field %s must be %s (got %s)", key, what, util.show(v)) end
  end
end

--- checkpoint.load(path) -> the checkpoint table at path; an error of kind format when it is not one
-- or lacks a field that resuming needs
function M.load(path)
  local ok, ck = pcall(ember.load, path)
  if not ok then E.raise("format", "ember.fit", "cannot resume: %s", E.message(ck)) end
  if type(ck) ~= "table" or ck.format ~= "ember.fit" then
    format_fail(path, "it is not a checkpoint written by ember.fit")
  end
  check_fields(ck, path, FIELDS)
  if ck.status ~= nil and not ENDED[ck.status] then
    format_fail(path, "its field status must be finished, stopped-early or diverged (got %s)", util.show(ck.status))
  end
  if ck.batch > 0 and not ck.status then
    check_fields(ck, path, MID_EPOCH)
    if not number(ck.sums.loss) or not number(ck.sums.count) or not tbl(ck.sums.metrics) then
      format_fail(path, "its field sums must hold loss, count and metrics")
    end
  end
  return ck
end

--- checkpoint.restore(t, ck, path): puts checkpoint ck (read from path) back into trainer t: the
-- objects' states, the history, step, best, the epoch to continue from, the RNG and the run's clock
function M.restore(t, ck, path)
  local c = t.c
  load_into(c.model, ck.model, "model", path)
  load_into(c.opt, ck.optimizer, "optimizer", path)
  load_into(c.sched, ck.schedule, "schedule", path)
  load_into(c.stop, ck.stop, "early-stopping", path)
  t.history = ck.history or {}
  t.step = ck.step
  t.best, t.best_epoch = ck.best, (ck.best_epoch ~= 0 and ck.best_epoch or nil)
  t.step_sums = type(ck.step_sums) == "table" and ck.step_sums or nil
  t.first_epoch = ck.epoch + 1
  if ck.batch > 0 and not ck.status then
    t.skip, t.sums = ck.batch, ck.sums
    t.rng_epoch, t.rng_resume = ck.rng_epoch, ck.rng
  else
    ember.set_rng_state(ck.rng)
  end
  c.run.elapsed_offset = ck.elapsed
  c.run.t0 = ember.clock()
end

return M
