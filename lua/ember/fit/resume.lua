-- ember.fit.resume: what each ember.fit call of a script does under `ember run --resume DIR`. The k-th
-- fit on the run (session:next_fit) owns its checkpoints (last.ckpt, last-2.ckpt, ...). Going through
-- the script again from the top, the fits that had ended put their final state back and return their
-- history without training; the first one that had not continues from its last.ckpt (or starts over
-- when it had none), and metrics.tsv and steps.tsv are cut back to the rows that checkpoint knew. From
-- there on the script runs as new: later fits train from scratch.
local lfs = require "lfs"
local checkpoint = require "ember.fit.checkpoint"
local steps = require "ember.fit.steps"

local M = {}

-- per resumed run: the rows the fits restored so far knew, and whether a fit has trained since
local by_run = setmetatable({}, {__mode = "k"})

local function state(run)
  local s = by_run[run]
  if not s then
    s = {rows = 0, step_rows = 0, live = false}
    by_run[run] = s
  end
  return s
end

local function cut(run, rows, step_rows)
  run:_truncate(rows)
  steps.truncate(run, step_rows)
end

--- resume.begin(t) -> the checkpoint of a fit that had ended (t holds its final state now: the caller
-- returns its result as it was), or nil when t is to train: from its checkpoint, restored into t, when
-- it has one to continue
function M.begin(t)
  local run = t.c.run
  if not (run and run.resumed) then return nil end
  local st = state(run)
  if st.live then return nil end
  local path = t.files.last
  if lfs.attributes(path, "mode") ~= "file" then
    st.live = true
    cut(run, st.rows, st.step_rows)   -- stopped before its first checkpoint: start over after the fits before
    return nil
  end
  local ck = checkpoint.load(path)
  checkpoint.restore(t, ck, path)
  if ck.status then
    st.rows, st.step_rows = ck.rows, ck.step_rows or 0
    return ck
  end
  st.live = true
  cut(run, ck.rows, ck.step_rows or 0)
  return nil
end

return M
