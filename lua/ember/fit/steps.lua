-- ember.fit.steps: per-batch logging. With `ember.fit{log_every = N, run = run}` every N-th optimizer
-- step appends a row to steps.tsv in the run directory: the header `step epoch batch_loss lr time`, then
-- per row the step reached, its epoch, the sample-weighted mean training loss of the batches since the
-- previous row, the lr the last of them trained with, and the seconds since the run started (as in
-- metrics.tsv). Each row is flushed. The fits of one run append to the same file; a checkpoint records
-- its row count, and --resume cuts the file back to it.
local lfs = require "lfs"
local E = require "ember.error"
local util = require "ember.util"

local M = {}

M.COLUMNS = {"step", "epoch", "batch_loss", "lr", "time"}
local HEADER = table.concat(M.COLUMNS, "\t") .. "\n"

-- per run: {rows = data rows in steps.tsv, f = the append handle once a fit has written}
local open_files = setmetatable({}, {__mode = "k"})

local function io_fail(path, err)
  E.raise("io", "ember.fit", "cannot write '%s': %s", path, tostring(err))
end

local function count_rows(path)
  local text = util.read_file(path)
  if not text then return 0 end
  local n = -1   -- the header
  for _ in text:gmatch("[^\n]*\n") do n = n + 1 end
  return math.max(n, 0)
end

local function entry(run)
  local e = open_files[run]
  if not e then
    e = {rows = count_rows(run:path("steps.tsv"))}
    open_files[run] = e
  end
  return e
end

--- steps.rows(run) -> the data rows steps.tsv holds now (0 when there is no file)
function M.rows(run)
  return entry(run).rows
end

--- steps.truncate(run, rows): keeps the header and the first `rows` rows of steps.tsv (nothing to do
-- when rows is nil or the file has no more)
function M.truncate(run, rows)
  local path = run:path("steps.tsv")
  local e = entry(run)
  if rows == nil or e.rows <= rows or lfs.attributes(path, "mode") ~= "file" then return end
  local keep, n = {HEADER}, -1
  for line in (util.read_file(path) or ""):gmatch("[^\n]*\n") do
    n = n + 1
    if n >= 1 and n <= rows then keep[#keep + 1] = line end
  end
  if e.f then e.f:close(); e.f = nil end
  local ok, err = util.write_atomic(path, table.concat(keep))
  if not ok then io_fail(path, err) end
  e.rows = rows
end

local Log = {}
Log.__index = Log

--- steps.new(run, every [, sums]) -> a logger of every `every` steps into run's steps.tsv; sums: the
-- partial sums {loss, count} a checkpoint kept (the batches since the last row)
function M.new(run, every, sums)
  local log = setmetatable({run = run, every = every, e = entry(run), loss = sums and sums.loss or 0,
                            count = sums and sums.count or 0}, Log)
  log:_file()   -- the file and its header exist from the start of training
  return log
end

--- log:sums() -> {loss, count}: the batches since the last row, for a checkpoint
function Log:sums()
  return {loss = self.loss, count = self.count}
end

function Log:_file()
  local e = self.e
  if e.f then return e.f end
  local path = self.run:path("steps.tsv")
  local fresh = lfs.attributes(path, "size") or 0
  local f, err = io.open(path, "ab")
  if not f then io_fail(path, err) end
  if fresh == 0 then
    local ok, werr = f:write(HEADER)
    if not ok then f:close(); io_fail(path, werr) end
  end
  e.f = f
  return f
end

--- log:add(step, epoch, loss, n, lr, time): one optimizer step (its batch loss over n samples); writes a
-- row when step is a multiple of every
function Log:add(step, epoch, loss, n, lr, time)
  self.loss, self.count = self.loss + loss * n, self.count + n
  if step % self.every ~= 0 then return end
  local f = self:_file()
  local num = util.number_text
  local ok, err = f:write(("%d\t%d\t%s\t%s\t%s\n"):format(step, epoch, num(self.loss / self.count), num(lr), num(time)))
  if ok then ok, err = f:flush() end
  if not ok then io_fail(self.run:path("steps.tsv"), err) end
  self.e.rows = self.e.rows + 1
  self.loss, self.count = 0, 0
end

--- steps.close(run): closes run's steps.tsv handle (ember.fit calls it when it returns)
function M.close(run)
  local e = open_files[run]
  if e and e.f then e.f:close(); e.f = nil end
end

return M
