-- ember.sweep.parallel: the GNU parallel engine. The sweep writes parallel/jobs.nul, one job per run,
-- and parallel/parallel.sh, which runs GNU parallel on it; a job is the sh code of ember.sweep.job
-- (every word single-quoted) and the jobs are separated by NUL bytes (parallel --null): no argument can
-- hold a NUL, so no value, path or script argument can end a job and start another, newlines included.
-- parallel.sh runs in a process group of its own with its output read through a pipe: each job prints
-- `S i` when it starts and `E i status` when it ends. A stop request (ember.sweep.interrupt) reaches
-- parallel as SIGHUP (start no more jobs; each run on this host then gets its SIGTERM from the sweep),
-- then SIGINT (parallel sends every job SIGTERM, SIGKILL 60 s later), then SIGKILL.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"
local state = require "ember.sweep.state"
local job = require "ember.sweep.job"
local interrupt = require "ember.sweep.interrupt"

local M = {}

local P = ember._process
local function fail(fmt, ...) error(E.new("io", "ember sweep", string.format(fmt, ...)), 0) end

--- parallel.files(todo, ctx) -> jobs, script: the text of parallel/jobs.nul (one job_shell record per
-- entry of todo, index = position, each ended by a NUL byte) and of parallel/parallel.sh, which runs GNU
-- parallel on it (--null, ctx.jobs at a time, --line-buffer, --joblog parallel/joblog, one TERM then
-- 60 s before KILL when stopped, ctx.parallel_args, then the script's own arguments "$@").
function M.files(todo, ctx)
  local records = {}
  for i, e in ipairs(todo) do records[i] = job.job_shell(e, ctx, "parallel", i) .. "\0" end
  local pdir = ctx.sweepdir .. "/parallel"
  local argv = {"parallel", "--null", "--jobs", tostring(ctx.jobs), "--line-buffer", "--termseq", "TERM,60000,KILL,25",
                "--joblog", pdir .. "/joblog"}
  for _, a in ipairs(ctx.parallel_args or {}) do argv[#argv + 1] = a end
  local script = table.concat({
    "#!/bin/sh",
    "# GNU parallel command of `ember sweep` " .. (ctx.name or "") .. ": one job of jobs.nul per run, the",
    "# jobs separated by NUL bytes. Arguments go to parallel: sh parallel.sh --resume-failed, or",
    "# --sshlogin host1,host2 (ember and the sweep folder must be at the same paths there). ember sweep",
    "# decides what to rerun from meta.tsv.",
    "PARALLEL_SHELL=/bin/sh",
    "export PARALLEL_SHELL",
    "exec " .. job.command_line(argv) .. ' "$@" -a ' .. job.quote(pdir .. "/jobs.nul"),
    ""}, "\n")
  return table.concat(records), script
end

--- parallel.describe(todo, ctx, out, limit) -- appends to the list out what --dry-run shows:
-- parallel.sh and the job of each run (at most limit), one per line
function M.describe(todo, ctx, out, limit)
  local shown = #todo > limit and table.move(todo, 1, limit, 1, {}) or todo
  local jobs, script = M.files(shown, ctx)
  out[#out + 1] = "engine parallel: " .. ctx.sweepdir .. "/parallel/parallel.sh:"
  out[#out + 1] = script
  out[#out + 1] = ctx.sweepdir .. "/parallel/jobs.nul (NUL-separated):"
  out[#out + 1] = (jobs:gsub("%z", "\n"))
  if #todo > limit then out[#out + 1] = ("... and %d more run(s)"):format(#todo - limit) end
end

local function write_files(todo, ctx)
  local pdir = ctx.sweepdir .. "/parallel"
  local ok, err = util.mkdir_p(pdir)
  if not ok then fail("cannot create folder '%s': %s", pdir, err) end
  local jobs, script = M.files(todo, ctx)
  for name, text in pairs{["jobs.nul"] = jobs, ["parallel.sh"] = script} do
    ok, err = util.write_atomic(pdir .. "/" .. name, text)
    if not ok then fail("cannot write '%s/%s': %s", pdir, name, err) end
  end
  return pdir .. "/parallel.sh"
end

-- one line of parallel's output: a job's start or end, or parallel's own message
local function on_line(line, todo, running, ctx, rep, tsv)
  local i = line:match("^S (%d+)$")
  local e = i and todo[tonumber(i)]
  if e then
    e.state = "running"
    state.refresh(e, ctx)
    running[tonumber(i)] = e
    rep:started(e)
    tsv:changed()
    return
  end
  local j = line:match("^E (%d+) %-?%d+$")
  e = j and todo[tonumber(j)]
  if e then
    running[tonumber(j)] = nil
    e.state = "done"
    state.refresh(e, ctx)
    rep:ended(e)
    tsv:changed()
  elseif line ~= "" and not line:find("^parallel: trap '' INT TERM; echo \"S %d+\";") then
    rep:say(line)   -- parallel's own message (the list of running jobs it prints on SIGHUP is left out)
  end
end

local LEVEL_SIGNAL = {"HUP", "INT", "KILL"}   -- what parallel gets at each stop level

-- reads parallel's output until it has ended; passes stop requests on
local function follow(pid, fd, todo, ctx, rep, stop, tsv)
  local buf, exited, eof, waiting, running = "", false, false, 0, {}
  local function started(e) return state.started(e, ctx) ~= nil end
  local function send(e, sig)
    local p = state.started(e, ctx)
    if p then P.signal(p, sig, false) end   -- the run itself: its sh ignores the signal
  end
  while not (exited and eof) do
    local evs = P.wait(exited and {} or {pid}, waiting > 0 and 0.05 or 1, not eof and fd or nil)
    if exited and #evs == 0 then break end   -- parallel is gone and nothing more comes
    for _, ev in ipairs(evs) do
      if ev.kind == "output" then
        buf = buf .. ev.text
        for line in buf:gmatch("([^\n]*)\n") do on_line(line, todo, running, ctx, rep, tsv) end
        buf = buf:match("[^\n]*$")
      elseif ev.kind == "eof" then eof = true
      elseif ev.kind == "exit" then exited = true
      elseif ev.kind == "signal" and stop:request(ev) then
        local n, left = 0, 0
        for _ in pairs(running) do n = n + 1 end
        for _, e in ipairs(todo) do if e.state == "pending" then left = left + 1 end end
        stop:announce(n, left)
        if not exited then P.signal(pid, LEVEL_SIGNAL[stop.level], stop.level == 3) end
      end
    end
    waiting = stop:apply(running, started, send)
    rep:draw()
    tsv:tick()
  end
  if buf ~= "" then on_line(buf, todo, running, ctx, rep, tsv) end
end

--- parallel.run(todo, entries, ctx, rep) -> nil, or 130 when the sweep was asked to stop
function M.run(todo, entries, ctx, rep)
  local out, _, missing = job.capture{"parallel", "--version"}
  if missing or not out:find("GNU parallel", 1, true) then
    fail("--engine parallel needs GNU parallel (apt-get install parallel)%s", missing and "" or "; found another 'parallel'")
  end
  for _, e in ipairs(todo) do
    state.remove_exit(e, ctx)
    e.state = "pending"
    state.refresh(e, ctx)
    e.prev_pid, e.prev_dir = state.run_process(e, ctx)
  end
  local script = write_files(todo, ctx)
  state.write_tsv(entries, ctx)
  local stop, tsv = interrupt.new(rep), state.tsv_writer(entries, ctx)
  P.watch(true)
  if interrupt.pending() then   -- asked to stop before anything started
    P.watch(false)
    return 130
  end
  local pid, fd = P.spawn({"/bin/sh", script}, {pipe = true, merge = true})
  if not pid then P.watch(false); fail("cannot start GNU parallel: %s", fd) end
  local ok, err = pcall(follow, pid, fd, todo, ctx, rep, stop, tsv)
  P.close(fd)
  local _, late = P.watch(false)
  if not ok then error(err, 0) end
  -- started runs whose end line parallel did not print (it stops printing once interrupted); runs it
  -- never started stay pending
  for _, e in ipairs(todo) do
    if not e.reported and e.state == "running" then
      e.state = "done"
      state.refresh(e, ctx)
      rep:ended(e)
    end
  end
  state.write_tsv(entries, ctx)
  return (stop.level > 0 or (late or 0) > 0) and 130 or nil
end

return M
