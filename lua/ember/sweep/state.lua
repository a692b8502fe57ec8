-- ember.sweep.state: what the sweep folder says about each run, and what to do with it.
--   decide       from the newest run directory of a run name: new, resume, skip (done) or running
--   refresh      reread a run's status, main metric and best value from its run directory and exit file
--   sweep.tsv    its text (tsv_text) and a writer that rewrites it at most every TSV_SECONDS
--   logs/        the paths of a run's log and exit file
-- Everything here only reads run directories (params.tsv and meta.tsv are parsed as text) and writes
-- sweep.tsv and logs/<run>.exit.
local lfs = require "lfs"
local ember = require "ember"
local runs = require "ember.runs"
local values = require "ember.runs.values"
local E = require "ember.error"
local util = require "ember.util"

local M = {}

M.DONE = {finished = true, ["stopped-early"] = true}
M.RERUN = {failed = true, interrupted = true, diverged = true}
M.TSV_SECONDS = 1   -- sweep.tsv is rewritten at most this often while runs come and go
local DONE, RERUN = M.DONE, M.RERUN

local read_kv, read_file = util.read_kv, util.read_file
local function mode(p) return lfs.attributes(p, "mode") end
local function usage_fail(fmt, ...) error(E.new("usage", "ember sweep", string.format(fmt, ...)), 0) end
local function fail(fmt, ...) error(E.new("io", "ember sweep", string.format(fmt, ...)), 0) end

--- state.log_paths(e, ctx) -> logs/<run>.log, logs/<run>.exit of entry e in the sweep folder
function M.log_paths(e, ctx)
  local base = ctx.sweepdir .. "/logs/" .. e.name
  return base .. ".log", base .. ".exit"
end

--- state.remove_exit(e, ctx) -- forget the exit status of an earlier attempt
function M.remove_exit(e, ctx)
  local _, exitf = M.log_paths(e, ctx)
  os.remove(exitf)
end

--- state.write_exit(e, ctx, code) -- record the exit status of the attempt that ended
function M.write_exit(e, ctx, code)
  local _, exitf = M.log_paths(e, ctx)
  local ok, err = util.write_atomic(exitf, tostring(code) .. "\n")
  if not ok then fail("cannot write '%s': %s", exitf, err) end
end

--- state.latest_run(dir) -> the newest run directory (holding meta.tsv) directly below dir, or nil.
-- Run ids start with their start time (YYYYmmdd-HHMMSS), so the newest sorts last.
function M.latest_run(dir)
  if mode(dir) ~= "directory" then return nil end
  local best
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." and mode(dir .. "/" .. name .. "/meta.tsv") == "file" then
      if best == nil or name > best then best = name end
    end
  end
  return best and dir .. "/" .. best or nil
end

local BOOL = {["true"] = "true", yes = "true", on = "true", ["false"] = "false", no = "false", off = "false"}
local function trim(s) return (s:match("^%s*(.-)%s*$")) end

-- whether two config texts mean the same value: numbers by value, booleans by meaning, lists item-wise
local function same_value(a, b)
  a, b = trim(a), trim(b)
  if a == b then return true end
  local na, nb = tonumber(a), tonumber(b)
  if na and nb then return na == nb end
  if BOOL[a:lower()] and BOOL[a:lower()] == BOOL[b:lower()] then return true end
  if a:find(",", 1, true) or b:find(",", 1, true) then
    local la, lb = {}, {}
    for x in (a .. ","):gmatch("([^,]*),") do la[#la + 1] = x end
    for x in (b .. ","):gmatch("([^,]*),") do lb[#lb + 1] = x end
    if #la ~= #lb then return false end
    for i = 1, #la do
      if not same_value(la[i], lb[i]) then return false end
    end
    return true
  end
  return false
end
M.same_value = same_value

--- state.check_params(e, dir, set) -> nil when the run directory dir was started with the values of
-- entry e (its params and seed) and the fixed overrides set (list of {key, value}), else a message.
function M.check_params(e, dir, set)
  local params = read_kv(dir .. "/params.tsv") or {}
  local function differs(k, want)
    local got = params[k]
    if got ~= nil and not same_value(got, want) then
      return ("%s was started with %s=%s, but this sweep passes %s=%s"):format(dir, k, got, k, want)
    end
  end
  for _, s in ipairs(set or {}) do
    local why = differs(s.key, s.value)
    if why then return why end
  end
  local keys = {}
  for k in pairs(e.values) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local why = differs(k, e.values[k])
    if why then return why end
  end
  if e.seed then
    local meta = read_kv(dir .. "/meta.tsv") or {}
    if meta.seed and tonumber(meta.seed) ~= e.seed then
      return ("%s was started with seed %s, but this sweep passes --seed %d"):format(dir, meta.seed, e.seed)
    end
  end
end

-- the decision for a run directory whose meta.tsv says running
local function decide_running(meta, resumable, ctx)
  local pid = math.tointeger(tonumber(meta.pid or ""))
  local here = meta.host ~= nil and meta.host == ctx.host
  local stale
  if ctx.rerun_running then stale = "--rerun-running"
  elseif here and pid and ctx.alive and not ctx.alive(pid) then stale = ("its process %d is gone"):format(pid)
  elseif not here and ctx.queue_empty then stale = "no job of the sweep is left in the queue" end
  if not stale then
    return "running", here and ("running as process %s"):format(meta.pid or "?")
      or ("running on %s"):format(meta.host or "another host")
  end
  if resumable then return "resume", "running, but " .. stale end
  return "new", "running, but " .. stale
end

--- state.decide(e, ctx) -> action, reason: what to do with entry e ({name, values, seed}) of the sweep
-- folder ctx.sweepdir, from the newest run directory of e.name (stored in e.dir, its status in
-- e.status). action: "new", "resume" (e.dir), "skip" (done) or "running" (left alone). ctx: host (this
-- host's name), alive(pid) -> bool, rerun_running, queue_empty (true when none of the sweep's slurm
-- jobs is queued), set (the fixed overrides, checked against params.tsv). Raises a usage error when the
-- run directory was started with other params. A folder without meta.tsv (a run stopped before its
-- directory was complete) is no run directory: the run starts anew.
function M.decide(e, ctx)
  local dir = M.latest_run(ctx.sweepdir .. "/" .. e.name)
  e.dir, e.status = dir, nil
  if not dir then return "new", "no run yet" end
  local why = M.check_params(e, dir, ctx.set)
  if why then usage_fail("%s; give a different sweep another --name", why) end
  local meta = read_kv(dir .. "/meta.tsv") or {}
  local st = meta.status
  e.status = st
  local resumable = mode(dir .. "/params.tsv") == "file" and mode(dir .. "/metrics.tsv") == "file"
  if DONE[st] then return "skip", st end
  if RERUN[st] then
    if resumable then return "resume", st end
    return "new", st .. ", not resumable"
  end
  if st == "running" then return decide_running(meta, resumable, ctx) end
  -- an unknown status, or a meta.tsv without one: a run that did not get far
  if resumable then return "resume", st or "no status" end
  return "new", st or "no status"
end

--- state.run_process(e, ctx) -> pid, dir: the process that the newest run directory of entry e says is
-- running it on this host (meta.tsv: status running, host, pid), or nil. Before a run starts the
-- engines note it (e.prev_pid, e.prev_dir); state.started(e, ctx [, pid]) is then true once a new
-- process has written a complete run directory: meta.tsv goes last, after params.tsv and metrics.tsv.
function M.run_process(e, ctx)
  local dir = M.latest_run(ctx.sweepdir .. "/" .. e.name)
  if not dir then return nil end
  local meta = read_kv(dir .. "/meta.tsv") or {}
  if meta.status ~= "running" or meta.host ~= ctx.host then return nil, dir end
  return math.tointeger(tonumber(meta.pid or "")), dir
end

--- state.started(e, ctx [, pid]) -> the pid of the process running entry e, once its run directory is
-- complete (with pid: only when it is that process), else nil
function M.started(e, ctx, pid)
  local p, dir = M.run_process(e, ctx)
  if not p then return nil end
  if pid then return p == pid and p or nil end
  if dir == e.prev_dir and p == e.prev_pid then return nil end
  return p
end

-- the run's main metric, its best value and the last epoch, as `ember runs` shows them
local function summary(dir)
  local ok, run = pcall(runs.read, dir)
  if not ok then return nil end
  local m = values.main_metric(run)
  local epochs = values.last_epoch(run)
  if not m then return nil, nil, epochs end
  return m, (values.summary(run, m)), epochs
end

--- state.select(entries, o) -> the entries whose runs the filter options of o (--where, --last,
-- --match: ember.runs.filter) keep, in order; without them every entry. A run that never started has no
-- directory to judge, so a filter leaves it out.
function M.select(entries, o)
  if #(o.where or {}) == 0 and o.last == nil and #(o.match or {}) == 0 then return entries end
  local list, entry_of = {}, {}
  for _, e in ipairs(entries) do
    local ok, run = pcall(runs.read, e.dir or "")
    if e.dir and ok then
      list[#list + 1] = run
      entry_of[run] = e
    end
  end
  local out = {}
  for _, run in ipairs(require("ember.runs.filter").select(list, o, "ember sweep")) do
    out[#out + 1] = entry_of[run]
  end
  return out
end

--- state.refresh(e, ctx) -- reread entry e from disk: e.dir (newest run directory), e.meta_status,
-- e.exit (from logs/<run>.exit), e.metric, e.best, e.epochs, and e.status, the status sweep.tsv shows:
-- "pending"/"queued" for a run waiting to start in this sweep, else the run's meta.tsv status, corrected
-- by the exit status when the process ended without recording one (130: interrupted, else failed),
-- "finished" for exit 0 without a run directory, "new" for a run never started.
function M.refresh(e, ctx)
  local _, exitf = M.log_paths(e, ctx)
  e.dir = M.latest_run(ctx.sweepdir .. "/" .. e.name) or e.dir
  local meta = e.dir and read_kv(e.dir .. "/meta.tsv") or {}
  e.meta_status = meta.status
  local text = read_file(exitf)
  e.exit = text and math.tointeger(tonumber(text:match("%-?%d+") or "")) or nil
  if e.dir then e.metric, e.best, e.epochs = summary(e.dir) end
  local st = meta.status
  if e.exit ~= nil and e.exit ~= 0 and (st == nil or st == "running" or st == "finished") then
    st = e.exit == 130 and "interrupted" or "failed"
  elseif e.exit ~= nil and st == "running" then
    st = "failed"
  elseif e.exit == 0 and st == nil then
    st = "finished"
  end
  if e.state == "pending" then st = "pending"
  elseif e.state == "queued" then
    if e.exit == nil and meta.status == "running" then e.state = "running"; st = "running"
    elseif e.exit == nil then st = "queued" end
  elseif e.state == "running" and e.exit == nil then st = "running" end
  e.status = st or "new"
  return e
end

local function num_text(v)
  if v == nil then return "" end
  return util.number_text(v)
end

local function tsv_field(s) return (tostring(s or ""):gsub("%c", " ")) end

--- state.tsv_text(entries, ctx) -> the text of sweep.tsv: a header (name, the swept keys, seed under
-- --seeds, status, metric, best, epochs, exit, dir, log) and one line per entry; paths relative to
-- the sweep folder, numbers exact, tabs and newlines in fields replaced by spaces.
function M.tsv_text(entries, ctx)
  local head = {"name"}
  for _, k in ipairs(ctx.keys or {}) do head[#head + 1] = k end
  if ctx.seeds then head[#head + 1] = "seed" end
  for _, c in ipairs{"status", "metric", "best", "epochs", "exit", "dir", "log"} do head[#head + 1] = c end
  local lines = {table.concat(head, "\t")}
  local base = ctx.sweepdir .. "/"
  local function rel(p)
    if p and p:sub(1, #base) == base then return p:sub(#base + 1) end
    return p
  end
  for _, e in ipairs(entries) do
    local f = {e.name}
    for _, k in ipairs(ctx.keys or {}) do f[#f + 1] = e.values[k] end
    if ctx.seeds then f[#f + 1] = e.seed and tostring(e.seed) or "" end
    local log = M.log_paths(e, ctx)
    for _, v in ipairs{e.status or "new", e.metric or "", num_text(e.best), e.epochs and num_text(e.epochs) or "",
                       e.exit and tostring(e.exit) or "", rel(e.dir) or "", mode(log) and rel(log) or ""} do
      f[#f + 1] = v
    end
    for i, v in ipairs(f) do f[i] = tsv_field(v) end
    lines[#lines + 1] = table.concat(f, "\t")
  end
  return table.concat(lines, "\n") .. "\n"
end

--- state.write_tsv(entries, ctx) -- rewrite sweep.tsv now (temp file + rename)
function M.write_tsv(entries, ctx)
  local path = ctx.sweepdir .. "/sweep.tsv"
  local ok, err = util.write_atomic(path, M.tsv_text(entries, ctx))
  if not ok then fail("cannot write '%s': %s", path, err) end
end

--- state.tsv_writer(entries, ctx) -> w: w:changed() notes that a run changed, w:tick() rewrites sweep.tsv
-- when something changed and TSV_SECONDS have passed since the last write (so a sweep of thousands of
-- runs does not rewrite it thousands of times a second), w:flush() writes it now if anything changed.
function M.tsv_writer(entries, ctx)
  local w = {dirty = false, last = -math.huge}
  function w:changed() self.dirty = true; self:tick() end
  function w:tick()
    if self.dirty and ember.clock() - self.last >= M.TSV_SECONDS then self:flush() end
  end
  function w:flush()
    if not self.dirty then return end
    M.write_tsv(entries, ctx)
    self.dirty, self.last = false, ember.clock()
  end
  return w
end

return M
