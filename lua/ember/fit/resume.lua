-- ember.fit.resume: what an ember.fit call does under `ember run --resume DIR`. The first fit of the
-- resumed run reloads last.ckpt and continues where it stopped; metrics.tsv is cut back to the rows the
-- checkpoint knew. A fit that stopped before its first checkpoint starts over in the same directory.
local lfs = require "lfs"
local checkpoint = require "ember.fit.checkpoint"

local M = {}

--- resume.begin(t): before trainer t trains, continues its run's checkpoint when there is one to continue
function M.begin(t)
  local run, sess = t.c.run, t.c.session
  if not (run and run.resumed and sess:next_fit(run) == 1) then return end
  local path = t.files.last
  if lfs.attributes(path, "mode") == "file" then
    local ck = checkpoint.load(path)
    checkpoint.restore(t, ck, path)
    run:_truncate(ck.rows)
  else
    run:_truncate(0)   -- stopped before its first checkpoint: start over in the same directory
  end
end

return M
