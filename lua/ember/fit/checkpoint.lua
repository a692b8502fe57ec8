-- ember.fit.checkpoint: what ember.fit saves in a run directory and how it puts it back. A checkpoint is
-- one table (docs/formats.md, "What ember.fit saves"): the state_dict of the model, optimizer, schedule
-- and stop rule, ember's RNG state, the epoch, batch and step reached, the history, the rows of
-- metrics.tsv it knew, and mid-epoch the epoch's partial sums and the RNG state of the epoch's start.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local fail = E.raiser("ember.fit")

--- checkpoint.files(run) -> {last = path, best = path} of the run's checkpoints
function M.files(run)
  return {last = run:path("last.ckpt"), best = run:path("best.ckpt")}
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
  return s
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
  if ck.batch > 0 then
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
  t.first_epoch = ck.epoch + 1
  if ck.batch > 0 then
    t.skip, t.sums = ck.batch, ck.sums
    t.rng_epoch, t.rng_resume = ck.rng_epoch, ck.rng
  else
    ember.set_rng_state(ck.rng)
  end
  c.run.elapsed_offset = ck.elapsed
  c.run.t0 = ember.clock()
end

return M
