-- ember.sweep.interrupt: what a sweep does when it is asked to stop (Ctrl-C, SIGTERM, `timeout`).
-- The runs are in process groups of their own, so a stop request reaches the sweep alone, which passes
-- it on:
--   1st request  start no more runs; each run that has started gets one SIGTERM (ember finishes its
--                step, saves last.ckpt and exits 130). A run still starting gets it once its run
--                directory is complete (its meta.tsv names its process), so a stop never leaves half a
--                run directory behind.
--   2nd request  every run gets SIGTERM now: ember stops at once (its last.ckpt is from its last save).
--   3rd request  SIGKILL.
-- In every case the sweep waits for its runs, then writes sweep.tsv with their final statuses.
-- Signals from one sender within SAME_SECONDS count once: `timeout -s INT` and `kill -INT -PGID`
-- signal the sweep and then its process group, which holds the sweep again.
local ember = require "ember"

local M = {}

M.SAME_SECONDS = 1

local Stop = {}
Stop.__index = Stop

--- interrupt.new(rep) -> a stop request tracker: s.level is 0 (no request), 1, 2 or 3
function M.new(rep)
  return setmetatable({level = 0, rep = rep, last_sender = nil, last_time = -math.huge}, Stop)
end

--- s:request(ev) -> true when the signal event ev ({name, sender}, from ember._process.wait) raised the
-- level; false when it repeats the previous request (same sending process, within SAME_SECONDS)
function Stop:request(ev)
  local now = ember.clock()
  local sender = ev and ev.sender or 0
  if sender ~= 0 and sender == self.last_sender and now - self.last_time < M.SAME_SECONDS then return false end
  self.last_sender, self.last_time = sender, now
  if self.level >= 3 then return false end
  self.level = self.level + 1
  return true
end

--- s:announce(running, left) -- the line that says what the new level does; running: runs alive,
-- left: runs not started
function Stop:announce(running, left)
  local say = function(fmt, ...) self.rep:say(("ember sweep: " .. fmt):format(...)) end
  if self.level == 1 then
    say("interrupted: %d running run(s) stop after their step and save; not starting %d more "
      .. "(Ctrl-C again stops them at once)", running, left)
  elseif self.level == 2 then
    say("interrupted again: the runs stop now (Ctrl-C once more kills them)")
  else
    say("killing the runs")
  end
end

--- s:apply(runs, started, send) -> the number of runs whose signal waits for them to start. runs: a
-- table whose values are the running entries; started(e) -> whether e's run directory is complete;
-- send(e, signal_name) signals e. Each run gets the signal of the current level once.
function Stop:apply(runs, started, send)
  local waiting = 0
  if self.level == 0 then return 0 end
  for _, e in pairs(runs) do
    local sent = e.signalled or 0
    if sent < self.level then
      if self.level == 1 and not started(e) then
        waiting = waiting + 1
      else
        send(e, self.level >= 3 and "KILL" or "TERM")
        e.signalled = self.level
      end
    end
  end
  return waiting
end

--- interrupt.pending() -> a stop request that came before the engine watched for signals (ember's own
-- handler counted it), as a signal event, or nil
function M.pending()
  if ember._interrupts() > 0 then
    ember._reset_interrupts()
    return {kind = "signal", name = "INT", sender = 0}
  end
end

return M
