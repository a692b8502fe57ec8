-- ember.sweep.local: the local engine. Up to ctx.jobs `ember run` processes at a time on this machine,
-- each started from its argument list (ember._process.spawn: no shell), in a process group of its own,
-- stdin from /dev/null and its output appended to logs/<run>.log under a header line; the sweep writes
-- logs/<run>.exit when it reaps the run. One ember._process.wait reports both the runs that end and
-- the signals the sweep gets, so Ctrl-C is seen at once (ember.sweep.interrupt says what it does).
local ember = require "ember"
local state = require "ember.sweep.state"
local job = require "ember.sweep.job"
local interrupt = require "ember.sweep.interrupt"

local M = {}

local P = ember._process

--- local.describe(todo, ctx, out, limit) -- appends to the list out what --dry-run shows: the pool and
-- the `ember run` command of each run (at most limit)
function M.describe(todo, ctx, out, limit)
  out[#out + 1] = ("engine local: %d at a time, %s thread(s) each; each run:"):format(ctx.jobs, ctx.threads or "default")
  for i = 1, math.min(#todo, limit) do
    local e = todo[i]
    out[#out + 1] = job.command_line(job.run_argv(e, ctx)) .. " >>" .. job.quote((state.log_paths(e, ctx)))
  end
  if #todo > limit then out[#out + 1] = ("... and %d more run(s)"):format(#todo - limit) end
end

-- starts entry e; returns its pid, or nil after reporting why it could not start
local function start(e, ctx, rep)
  state.remove_exit(e, ctx)
  e.state = "running"
  state.refresh(e, ctx)
  local argv = job.run_argv(e, ctx)
  local log = state.log_paths(e, ctx)
  local f, ferr = io.open(log, "ab")
  local pid, err
  if f then
    f:write(job.header(argv))
    f:close()
    pid, err = P.spawn(argv, {stdout = log, merge = true})
  else
    err = ("cannot write its log '%s': %s"):format(log, tostring(ferr))
  end
  if not pid then
    e.state = "done"
    state.refresh(e, ctx)
    e.status = "failed"
    rep:say(("FAILED %s: %s"):format(e.name, err))
    return nil
  end
  e.pid = pid
  rep:started(e)
  return pid
end

local function finish(e, code, ctx, rep)
  if code then state.write_exit(e, ctx, code) end
  e.state = "done"
  state.refresh(e, ctx)
  rep:ended(e)
end

-- the pool's loop: start runs while there is room, wait, react; returns when no run is left
local function loop(todo, ctx, rep, stop, tsv)
  local running, n, nextq, waiting = {}, 0, 1, 0
  local function started(e) return state.started(e, ctx, e.pid) ~= nil end
  local function send(e, sig) P.signal(e.pid, sig) end
  while true do
    while stop.level == 0 and n < ctx.jobs and nextq <= #todo do
      local e = todo[nextq]
      nextq = nextq + 1
      local pid = start(e, ctx, rep)
      if pid then running[pid], n = e, n + 1 end
      tsv:changed()
    end
    if n == 0 then return end
    local pids = {}
    for pid in pairs(running) do pids[#pids + 1] = pid end
    -- while a stop waits for runs to start, look at their run directories often
    for _, ev in ipairs(P.wait(pids, waiting > 0 and 0.05 or 1)) do
      if ev.kind == "exit" and running[ev.pid] then
        finish(running[ev.pid], ev.code, ctx, rep)
        running[ev.pid], n = nil, n - 1
        tsv:changed()
      elseif ev.kind == "signal" and stop:request(ev) then
        stop:announce(n, #todo - nextq + 1)
      end
    end
    waiting = stop:apply(running, started, send)
    rep:draw()
    tsv:tick()
  end
end

--- local.run(todo, entries, ctx, rep) -> nil, or 130 when the sweep was asked to stop. Runs the
-- entries of todo; sweep.tsv (all entries) follows, and is written in full when the last run ended.
function M.run(todo, entries, ctx, rep)
  local stop = interrupt.new(rep)
  local tsv = state.tsv_writer(entries, ctx)
  P.watch(true)
  local early = interrupt.pending()
  if early then stop:request(early); stop:announce(0, #todo) end
  local ok, err = pcall(loop, todo, ctx, rep, stop, tsv)
  local _, late = P.watch(false)
  if not ok then error(err, 0) end
  tsv.dirty = true
  tsv:flush()
  return (stop.level > 0 or (late or 0) > 0) and 130 or nil
end

return M
