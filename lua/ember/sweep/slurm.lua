-- ember.sweep.slurm: the Slurm engine. slurm/sweep.sbatch holds one `case` branch per run (the sh code
-- of ember.sweep.job, every word single-quoted; no user text in #SBATCH lines: options are sbatch
-- arguments), submitted as job arrays of at most MaxArraySize tasks, recorded in slurm/jobs.tsv. With
-- --wait the sweep follows the queue (squeue) and the run directories until the arrays end; a stop
-- request only stops the following: the arrays keep running.
local ember = require "ember"
local lfs = require "lfs"
local E = require "ember.error"
local util = require "ember.util"
local state = require "ember.sweep.state"
local job = require "ember.sweep.job"
local report = require "ember.sweep.report"
local interrupt = require "ember.sweep.interrupt"

local M = {}

M.POLL_SECONDS = 1     -- how often --wait looks at the queue and the run directories
local P = ember._process
local function fail(fmt, ...) error(E.new("io", "ember sweep", string.format(fmt, ...)), 0) end

--- slurm.max_array_size() -> Slurm's MaxArraySize (`scontrol show config`), 1001 when unknown: array
-- task ids must stay below it.
function M.max_array_size()
  local out = job.capture{"scontrol", "show", "config"}
  return math.tointeger(tonumber(out:match("MaxArraySize%s*=%s*(%d+)") or "")) or 1001
end

--- slurm.sbatch_script(todo, ctx [, limit]) -> the text of slurm/sweep.sbatch: a #!/bin/sh script in
-- which array task SLURM_ARRAY_TASK_ID + $1 runs entry number (that + 1) of todo (job_shell "slurm").
-- The shell ignores SIGINT and SIGTERM so that, at a time limit or scancel, it waits for the run to save
-- its checkpoint and records the exit status. limit (for --dry-run): the cases written.
function M.sbatch_script(todo, ctx, limit)
  local out = {
    "#!/bin/sh",
    "# `ember sweep` " .. (ctx.name or "") .. ": one array task per run. Submitted as",
    "#   sbatch --array=0-(N-1) ... sweep.sbatch OFFSET   (task T runs case OFFSET + T below)",
    "trap '' INT TERM   # the run itself handles the signal: finishes its step and saves last.ckpt",
    'i=$(( ${SLURM_ARRAY_TASK_ID:?is not set: submit with sbatch --array} + ${1:-0} ))',
    'case "$i" in'}
  for i = 1, math.min(#todo, limit or #todo) do
    out[#out + 1] = ("%d) # %s"):format(i - 1, todo[i].name)
    out[#out + 1] = "  " .. job.job_shell(todo[i], ctx, "slurm")
    out[#out + 1] = "  ;;"
  end
  if limit and #todo > limit then out[#out + 1] = ("# ... and %d more run(s)"):format(#todo - limit) end
  out[#out + 1] = '*) echo "ember sweep: no run number $i in this script" >&2; exit 2 ;;'
  out[#out + 1] = "esac"
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

--- slurm.sbatch_argv(ctx, count, offset) -> the argument list of sbatch submitting tasks offset ..
-- offset + count - 1 of slurm/sweep.sbatch: --parsable, --job-name, --array=0-(count-1)[%jobs],
-- --output into the slurm folder ('%' of the path doubled), --cpus-per-task, then --partition, --time,
-- --mem when given, the --slurm-arg words, the script and the offset.
function M.sbatch_argv(ctx, count, offset)
  local sdir = ctx.sweepdir .. "/slurm"
  local array = ("0-%d"):format(count - 1)
  if ctx.jobs then array = array .. "%" .. ctx.jobs end
  local argv = {"sbatch", "--parsable", "--job-name=ember-sweep-" .. (ctx.name or "sweep"), "--array=" .. array,
                "--output=" .. sdir:gsub("%%", "%%%%") .. "/%A_%a.out", "--cpus-per-task=" .. ctx.cpus}
  if ctx.partition then argv[#argv + 1] = "--partition=" .. ctx.partition end
  if ctx.time then argv[#argv + 1] = "--time=" .. ctx.time end
  if ctx.mem then argv[#argv + 1] = "--mem=" .. ctx.mem end
  for _, a in ipairs(ctx.slurm_args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = sdir .. "/sweep.sbatch"
  argv[#argv + 1] = tostring(offset)
  return argv
end

--- slurm.describe(todo, ctx, out, limit) -- appends to the list out what --dry-run shows: the sbatch
-- commands and the script (at most limit cases)
function M.describe(todo, ctx, out, limit)
  local max = ctx.max_array or 1001
  out[#out + 1] = "engine slurm:"
  for offset = 0, #todo - 1, max do
    out[#out + 1] = job.command_line(M.sbatch_argv(ctx, math.min(max, #todo - offset), offset))
  end
  out[#out + 1] = ctx.sweepdir .. "/slurm/sweep.sbatch:"
  out[#out + 1] = M.sbatch_script(todo, ctx, limit)
end

--- slurm.read_jobs(sweepdir) -> the ids of the array jobs in slurm/jobs.tsv
function M.read_jobs(sweepdir)
  local ids = {}
  local text = util.read_file(sweepdir .. "/slurm/jobs.tsv") or ""
  for line in text:gmatch("[^\n]+") do
    local id = line:match("^(%d+)\t")
    if id then ids[#ids + 1] = id end
  end
  return ids
end

--- slurm.active(ids) -> the job ids of ids still in the queue: a list, or nil and a message when
-- squeue fails (or is not there)
function M.active(ids)
  if #ids == 0 then return {} end
  local out, ok, missing = job.capture{"squeue", "-h", "-o", "%i", "-j", table.concat(ids, ",")}
  if missing then return nil, "squeue is not installed" end
  if not ok then
    if out:find("Invalid job id", 1, true) then return {} end   -- purged from the controller: ended
    return nil, (out:gsub("%s+$", ""))
  end
  local active, seen = {}, {}
  for line in out:gmatch("[^\n]+") do
    local id = line:match("^%s*(%d+)")
    if id and not seen[id] then seen[id] = true; active[#active + 1] = id end
  end
  return active
end

-- submits todo as array jobs of at most MaxArraySize tasks; returns their ids
local function submit(todo, entries, ctx)
  local max = M.max_array_size()
  local ids, offset = {}, 0
  while offset < #todo do
    local count = math.min(max, #todo - offset)
    local out, ok = job.capture(M.sbatch_argv(ctx, count, offset))
    local id = ok and out:match("^%s*(%d+)")
    if not id then
      for k = offset + 1, #todo do todo[k].state = nil; state.refresh(todo[k], ctx) end
      state.write_tsv(entries, ctx)
      fail("sbatch failed%s: %s", #ids > 0 and (" (array jobs %s were submitted)"):format(table.concat(ids, ",")) or "",
           (out:gsub("%s+$", "")))
    end
    ids[#ids + 1] = id
    local f = io.open(ctx.sweepdir .. "/slurm/jobs.tsv", "ab")
    if f then f:write(("%s\t%d\t%d\t%s\n"):format(id, offset, count, os.date("%Y-%m-%dT%H:%M:%S"))); f:close() end
    offset = offset + count
  end
  return ids
end

-- cheap per poll: a stat of each exit file, and meta.tsv only for runs not yet started; a run is read
-- in full once, when its exit status appears
local function scan(todo, ctx, rep)
  for _, e in ipairs(todo) do
    if not e.reported then
      local _, exitf = state.log_paths(e, ctx)
      if lfs.attributes(exitf, "mode") then
        e.state = "done"
        state.refresh(e, ctx)
        rep:ended(e)
      elseif e.state == "queued" then
        local dir = state.latest_run(ctx.sweepdir .. "/" .. e.name)
        local meta = dir and util.read_kv(dir .. "/meta.tsv") or {}
        if meta.status == "running" then
          e.state, e.status, e.dir = "running", "running", dir
          rep:started(e)
        end
      end
    end
  end
end

-- follows the arrays until none is queued; returns true, or false when asked to stop first
local function follow(ids, todo, entries, ctx, rep)
  -- a poll a second, slower for big sweeps (every poll stats each run's files on a shared file system)
  local every = math.max(M.POLL_SECONDS, math.min(30, #todo // 100))
  local errors = 0
  while true do
    local active, why = M.active(ids)
    scan(todo, ctx, rep)
    state.write_tsv(entries, ctx)
    rep:draw()
    if active and #active == 0 then return true end
    if not active then
      errors = errors + 1
      if errors == 1 or errors % 30 == 0 then rep:say("ember sweep: squeue failed (retrying): " .. tostring(why)) end
    else
      errors = 0
    end
    for _, ev in ipairs(P.wait({}, every)) do
      if ev.kind == "signal" then return false end
    end
  end
end

--- slurm.run(todo, entries, ctx, rep) -> "submitted" without --wait; else nil, or 130 when a stop
-- request ended the following
function M.run(todo, entries, ctx, rep)
  local _, _, missing = job.capture{"sbatch", "--version"}
  if missing then fail("--engine slurm needs sbatch (Slurm's client commands) on this machine") end
  local sdir = ctx.sweepdir .. "/slurm"
  local ok, err = util.mkdir_p(sdir)
  if not ok then fail("cannot create folder '%s': %s", sdir, err) end
  ok, err = util.write_atomic(sdir .. "/sweep.sbatch", M.sbatch_script(todo, ctx))
  if not ok then fail("cannot write '%s/sweep.sbatch': %s", sdir, err) end
  for _, e in ipairs(todo) do state.remove_exit(e, ctx); e.state = "queued"; state.refresh(e, ctx) end
  local ids = submit(todo, entries, ctx)
  state.write_tsv(entries, ctx)
  local list = table.concat(ids, ",")
  rep:say(("submitted %d run(s) as array job%s %s; watch: squeue -j %s; cancel: scancel %s")
    :format(#todo, #ids > 1 and "s" or "", list, list, list))
  if not ctx.wait then
    rep:say(("sweep.tsv: %s (refresh it with the same command and --status)")
      :format(report.shown(ctx.sweepdir .. "/sweep.tsv", ctx.cwd)))
    return "submitted"
  end
  P.watch(true)
  local followed, res = true, false
  if not interrupt.pending() then followed, res = pcall(follow, ids, todo, entries, ctx, rep) end
  P.watch(false)
  if not followed then error(res, 0) end
  if not res then
    rep:say(("ember sweep: stopped following; the array keeps running (squeue -j %s; scancel %s to stop it)")
      :format(list, list))
    return 130
  end
  -- tasks that ended without writing their exit status (killed, or never started)
  for _, e in ipairs(todo) do
    if not e.reported then
      e.state = "done"
      state.refresh(e, ctx)
      if not state.RERUN[e.status] and not state.DONE[e.status] then e.status = "failed" end
      rep:ended(e)
    end
  end
  state.write_tsv(entries, ctx)
end

return M
