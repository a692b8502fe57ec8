-- ember.sweep.report: what a sweep prints.
--   Reporter     events as plain lines (start, done, FAILED with the log's last error) and, on a
--                terminal, a live summary line below them: "[sweep s] 3/8 done, 2 running, ..."
--   closing      the summary line and the list of runs that did not finish
--   status       the table of `--status`
--   dry_run      the plan of `--dry-run`: counts, at most SHOWN runs and the engine's commands for them
local ember = require "ember"
local lfs = require "lfs"
local util = require "ember.util"
local state = require "ember.sweep.state"

local M = {}

M.SHOWN = 50   -- runs (and their commands) that --dry-run lists; the rest are counted
local DONE, RERUN = state.DONE, state.RERUN

--- report.shown(p, cwd) -> p for messages: relative to the working directory when below it
function M.shown(p, cwd)
  cwd = cwd or lfs.currentdir()
  if cwd and p:sub(1, #cwd + 1) == cwd .. "/" then return p:sub(#cwd + 2) end
  return p
end
local shown = M.shown

local Reporter = {}
Reporter.__index = Reporter

--- report.new(entries, ctx) -> a reporter writing to ctx.stdout (default io.stdout); live line when
-- ctx.tty (default: whether stdout is a terminal)
function M.new(entries, ctx)
  local out = ctx.stdout or io.stdout
  local tty = ctx.tty
  if tty == nil then tty = out == io.stdout and ember.isatty(1) or false end
  return setmetatable({out = out, entries = entries, name = ctx.name, tty = tty, t0 = ember.clock(),
                       drawn = false, cwd = ctx.cwd, ctx = ctx}, Reporter)
end

function Reporter:counts()
  local c = {done = 0, running = 0, failed = 0, interrupted = 0, pending = 0}
  for _, e in ipairs(self.entries) do
    local st = e.status
    if DONE[st] then c.done = c.done + 1
    elseif st == "running" then c.running = c.running + 1
    elseif st == "interrupted" then c.interrupted = c.interrupted + 1
    elseif RERUN[st] then c.failed = c.failed + 1
    else c.pending = c.pending + 1 end
  end
  return c
end

--- the counts as text: "3/8 done, 2 running, 1 failed[, 1 interrupted], 2 pending"
function Reporter:counts_text()
  local c = self:counts()
  return ("%d/%d done, %d running, %d failed%s, %d pending"):format(c.done, #self.entries, c.running, c.failed,
    c.interrupted > 0 and (", %d interrupted"):format(c.interrupted) or "", c.pending)
end

-- the live line, cut to the terminal's width so that "\r" redraws it in place
function Reporter:line()
  local secs = math.floor(ember.clock() - self.t0)
  local t = secs < 60 and ("%ds"):format(secs) or ("%dm%02ds"):format(secs // 60, secs % 60)
  local text = ("[sweep %s] %s  %s"):format(self.name, self:counts_text(), t)
  local cols = ember.terminal_size and ember.terminal_size(1) or 80
  if #text > cols - 1 then text = text:sub(1, math.max(cols - 1, 10)) end
  return text
end

-- a line of its own (above the live line on a terminal)
function Reporter:say(text)
  if self.tty then self.out:write("\r\27[K") end
  self.out:write(text, "\n")
  if self.tty then self.out:write(self:line()); self.drawn = true end
  self.out:flush()
end

function Reporter:draw()
  if not self.tty then return end
  self.out:write("\r\27[K", self:line())
  self.out:flush()
  self.drawn = true
end

function Reporter:close()
  if self.tty and self.drawn then self.out:write("\r\27[K"); self.out:flush() end
  self.drawn = false
end

-- the error message at the end of a run's log: the last "ember: ..." line, else the last line
local function last_error(log)
  local text = util.read_file(log)
  if not text then return nil end
  local last, ember_line
  for line in text:gmatch("[^\n]+") do
    if not line:match("^== ") then
      last = line
      if line:match("^ember") then ember_line = line end
    end
  end
  local msg = ember_line or last
  if msg and #msg > 300 then msg = msg:sub(1, 300) .. "..." end
  return msg
end

function Reporter:started(e)
  if not self.tty then
    self:say(("start  %s%s"):format(e.name, e.action == "resume" and " (resume)" or ""))
  else
    self:draw()
  end
end

-- reports an entry that ended (refreshed before)
function Reporter:ended(e)
  e.reported = true
  local st = e.status
  if DONE[st] then
    local best = e.best and (", best %s %.4g"):format(e.metric, e.best) or ""
    if self.tty then self:draw() else self:say(("done   %s: %s%s"):format(e.name, st, best)) end
  else
    local log = state.log_paths(e, self.ctx)
    local exit = e.exit and (" (exit %d)"):format(e.exit) or ""
    local msg = last_error(log)
    self:say(("%s %s: %s%s%s\n       log: %s"):format(st == "interrupted" and "STOPPED" or "FAILED", e.name, st, exit,
      msg and ": " .. msg or "", shown(log, self.cwd)))
  end
end

--- report.closing(rep, todo, ctx) -> the text printed when a sweep ends: "sweep NAME: <counts>;
-- <sweep.tsv>", then a line per run of todo that is not done (with its log), and whether any is not
function M.closing(rep, todo, ctx)
  local out = {("sweep %s: %s; %s"):format(ctx.name, rep:counts_text(), shown(ctx.sweepdir .. "/sweep.tsv", ctx.cwd))}
  for _, e in ipairs(todo) do
    if e.status == "new" then
      out[#out + 1] = ("  not started: %s"):format(e.name)
    elseif not DONE[e.status] then
      out[#out + 1] = ("  %s %s: log %s"):format(e.status, e.name, shown((state.log_paths(e, ctx)), ctx.cwd))
    end
  end
  return table.concat(out, "\n") .. "\n", #out > 1
end

--- report.status_table(entries, ctx) -> the table `--status` prints: name, status, best, epochs, dir
function M.status_table(entries, ctx)
  local rows = {{"name", "status", "best", "epochs", "dir"}}
  for _, e in ipairs(entries) do
    rows[#rows + 1] = {e.name, e.status or "new", e.best and ("%s %.4g"):format(e.metric, e.best) or "",
                       e.epochs and tostring(e.epochs) or "",
                       e.dir and e.dir:sub(#ctx.sweepdir + 2) or ""}
  end
  local w = {}
  for _, r in ipairs(rows) do
    for i, v in ipairs(r) do w[i] = math.max(w[i] or 0, utf8.len(v) or #v) end
  end
  local out = {}
  for _, r in ipairs(rows) do
    local cells = {}
    for i, v in ipairs(r) do cells[i] = v .. string.rep(" ", w[i] - (utf8.len(v) or #v)) end
    out[#out + 1] = (table.concat(cells, "  "):gsub("%s+$", ""))
  end
  return table.concat(out, "\n") .. "\n"
end

--- report.todo(entries) -> the entries that run: new ones and those to resume
function M.todo(entries)
  local todo = {}
  for _, e in ipairs(entries) do
    if e.action == "new" or e.action == "resume" then todo[#todo + 1] = e end
  end
  return todo
end

--- report.dry_run_text(entries, ctx) -> what `--dry-run` prints: a header line with the counts, one
-- line per run (its decision, name and why; at most SHOWN, then how many more), then the engine's
-- commands (engine.describe, which also lists at most SHOWN runs).
function M.dry_run_text(entries, ctx)
  local todo = M.todo(entries)
  local out, count = {}, {}
  for _, e in ipairs(entries) do count[e.action] = (count[e.action] or 0) + 1 end
  out[1] = ("sweep %s: %d run(s) in %s: %d new, %d to resume, %d done, %d running%s"):format(ctx.name,
    #entries, shown(ctx.sweepdir, ctx.cwd), count.new or 0, count.resume or 0, count.skip or 0, count.running or 0,
    (ctx.dropped or 0) > 0 and (" (%d repeated draw(s) dropped)"):format(ctx.dropped) or "")
  for i = 1, math.min(#entries, M.SHOWN) do
    local e = entries[i]
    out[#out + 1] = ("  %-7s %s  (%s)"):format(e.action, e.name, e.reason or "")
  end
  if #entries > M.SHOWN then out[#out + 1] = ("  ... and %d more run(s)"):format(#entries - M.SHOWN) end
  if #todo == 0 then
    out[#out + 1] = "nothing to run"
  else
    require("ember.sweep." .. ctx.engine).describe(todo, ctx, out, M.SHOWN)
  end
  return table.concat(out, "\n") .. "\n"
end

return M
