-- ember.sweep: `ember sweep SCRIPT --grid k=v1,v2 ...` runs one experiment script over a grid and/or seeded
-- random draws of its config. Each run is an independent `ember run` process writing its own run
-- directory, started by a local process pool, by GNU parallel, or as one task of a Slurm job array.
--
-- The sweep folder <runs>/<sweep>/ (sweep name: --name, default the script's file name without .lua):
--   sweep.tsv                   one line per run: its name, the swept params, status, main metric, its best
--                               value, epochs, exit status, run directory and log (paths relative to the
--                               folder); rewritten (temp file + rename) as runs start and finish
--   <run>/<YYYYmmdd-HHMMSS>-<id>/  the run directory: `ember run SCRIPT --runs <sweep folder> --name <run>`
--   logs/<run>.log, <run>.exit  what `ember run` printed (stdout and stderr, appended attempt after
--                               attempt, each under a `== date host: command` line) and its exit status
--   parallel/                   jobs.txt, parallel.sh and GNU parallel's joblog (--engine parallel)
--   slurm/                      sweep.sbatch, jobs.tsv (submitted array jobs) and <job>_<task>.out
-- <run> names a run by the params that vary, in command-line order: `lr=0.1,opt=adam`, with `seed=N`
-- last under --seeds (a single run is `run`). A value's '/', '%' and control characters are written
-- %XX; a name longer than 200 bytes is cut and ends with a hash. So `ember runs <sweep folder>` lists
-- the runs and `ember plot <sweep folder> --by lr` compares them.
--
-- Resume: running the same sweep again (same script, --name and --runs) looks at the newest run
-- directory of each run name and decides from its meta.tsv:
--   no run directory                  a new run
--   finished, stopped-early           skipped: done
--   failed, interrupted, diverged     rerun in its own directory with `ember run --resume DIR` (from its
--                                     last.ckpt, with the params it started with)
--   running                           skipped while it may still run; rerun (--resume) when it ran on
--                                     this host and its pid is gone, with --engine slurm when none of
--                                     the sweep's array jobs is left in the queue, or with --rerun-running
-- A run directory whose params.tsv (or seed) disagrees with what the sweep would pass stops the sweep
-- (exit status 2): a different sweep needs another --name.
--
-- Every command line is built from argument lists, each argument quoted for sh ('...', with ' written
-- '\''), so no user text is ever parsed by a shell. Exit status: 0 when every run is done, 1 when a run
-- failed, diverged or was interrupted (or the engine could not start), 2 bad usage, 130 interrupted.
local ember = require "ember"
local lfs = require "lfs"

local M = {}


local DONE = {finished = true, ["stopped-early"] = true}
local RERUN = {failed = true, interrupted = true, diverged = true}
local MAX_NAME = 200   -- bytes of a run name; file names stop at 255
M.POLL_SECONDS = 1     -- how often the slurm engine looks at the queue and the run directories

-- errors ---------------------------------------------------------------------------------------------------

-- Bad usage (exit 2) and other failures (exit 1) are ember errors, so a bug's traceback stays distinct.
local E = require "ember.error"
local function usage_fail(fmt, ...) error(E.new("usage", "ember sweep", string.format(fmt, ...)), 0) end
local function fail(fmt, ...) error(E.new("io", "ember sweep", string.format(fmt, ...)), 0) end

-- text and files ---------------------------------------------------------------------------------------------

--- sweep.quote(s) -> s quoted as one word for sh: inside single quotes, where only ' is special and
-- becomes '\''. Raises an error for a NUL byte (no sh word can hold one).
function M.quote(s)
  s = tostring(s)
  if s:find("\0", 1, true) then fail("an argument holds a NUL byte") end
  return require("ember.util").shell_quote(s)
end
local quote = M.quote

--- sweep.command_line(argv) -> the sh command line running the list argv, every word quoted.
function M.command_line(argv)
  local out = {}
  for i, a in ipairs(argv) do out[i] = quote(a) end
  return table.concat(out, " ")
end

local function mode(p) return lfs.attributes(p, "mode") end

local util = require "ember.util"
local read_file = util.read_file

local function write_atomic(path, text)
  local ok, err = util.write_atomic(path, text)
  if not ok then fail("cannot write '%s': %s", path, err) end
end

local function mkdirs(dir)
  local ok, err = util.mkdir_p(dir)
  if not ok then fail("cannot create folder '%s': %s", dir, err) end
end

local read_kv = util.read_kv

local function absolute(p, cwd)
  if p:sub(1, 1) == "/" then return p end
  cwd = cwd or lfs.currentdir()
  p = p:gsub("^%./", "")
  if p == "." then return cwd end
  return cwd .. "/" .. p
end

-- a path for messages: relative to the working directory when below it
local function shown(p, cwd)
  cwd = cwd or lfs.currentdir()
  if cwd and p:sub(1, #cwd + 1) == cwd .. "/" then return p:sub(#cwd + 2) end
  return p
end

-- runs a command line; returns its output (stdout and stderr) and whether it exited with status 0
local function capture(cmd)
  local p = io.popen(cmd .. " 2>&1", "r")
  if not p then return "", false end
  local out = p:read("a") or ""
  local ok = p:close()
  return out, ok == true
end

local function have(cmd)
  local _, ok = capture("command -v " .. quote(cmd) .. " >/dev/null")
  return ok
end

local function cores()
  local out = capture("nproc")
  local n = math.tointeger(tonumber(out:match("%d+") or ""))
  return (n and n > 0) and n or 1
end

--- sweep.executable() -> the absolute path of the running ember executable (/proc/self/exe), else
-- "ember" (found on PATH by the shell).
function M.executable()
  local target = lfs.symlinkattributes("/proc/self/exe", "target")
  if type(target) == "string" and target:sub(1, 1) == "/" then return target end
  return "ember"
end

-- parsing ------------------------------------------------------------------------------------------------------

local function trim(s) return (s:match("^%s*(.-)%s*$")) end

local function check_key(key, arg)
  if not key:match("^[%a_][%w_.-]*$") then
    return nil, ("%s: the key must be a config name (letters, digits, _ . -; got '%s')"):format(arg, key)
  end
  return key
end

local function parse_grid(text)
  local k, rest = text:match("^([^=]*)=(.*)$")
  if not k then return nil, ("needs KEY=V1,V2,... (got '%s')"):format(text) end
  local key, why = check_key(trim(k), text)
  if not key then return nil, why end
  local sep = rest:find(";", 1, true) and ";" or ","
  local values, seen = {}, {}
  for field in (rest .. sep):gmatch("([^" .. sep .. "]*)" .. sep) do
    local v = trim(field)
    if v == "" then return nil, ("%s: empty value (values are separated by '%s')"):format(text, sep) end
    if seen[v] then return nil, ("%s: value '%s' is given twice"):format(text, v) end
    seen[v] = true
    values[#values + 1] = v
  end
  return {key = key, kind = "grid", values = values}
end

local INT_TEXT = "^[+-]?%d+$"

local function parse_random(text)
  local k, rest = text:match("^([^=]*)=(.*)$")
  if not k then return nil, ("needs KEY=LO:HI[:log] (got '%s')"):format(text) end
  local key, why = check_key(trim(k), text)
  if not key then return nil, why end
  local lo_t, hi_t, scale = rest:match("^%s*([^:]-)%s*:%s*([^:]-)%s*$")
  if not lo_t then lo_t, hi_t, scale = rest:match("^%s*([^:]-)%s*:%s*([^:]-)%s*:%s*([^:]-)%s*$") end
  if not lo_t then return nil, ("needs KEY=LO:HI[:log] (got '%s')"):format(text) end
  if scale ~= nil and scale ~= "log" and scale ~= "lin" then
    return nil, ("%s: the scale must be log or lin (got '%s')"):format(text, scale)
  end
  local lo, hi = tonumber(lo_t), tonumber(hi_t)
  if lo == nil or hi == nil or lo ~= lo or hi ~= hi or math.abs(lo) == math.huge or math.abs(hi) == math.huge then
    return nil, ("%s: LO and HI must be finite numbers"):format(text)
  end
  if not (lo < hi) then return nil, ("%s: LO must be below HI (got %s and %s)"):format(text, lo_t, hi_t) end
  local log = scale == "log"
  if log and lo <= 0 then return nil, ("%s: a log range needs LO > 0 (got %s)"):format(text, lo_t) end
  local int = lo_t:match(INT_TEXT) ~= nil and hi_t:match(INT_TEXT) ~= nil
  return {key = key, kind = "random", lo = lo, hi = hi, log = log, int = int}
end

local function parse_set(text)
  local k, v = text:match("^([^=]*)=(.*)$")
  if not k then return nil, ("needs KEY=VALUE (got '%s')"):format(text) end
  local key, why = check_key(trim(k), text)
  if not key then return nil, why end
  return {key = key, value = v}
end

M.spec = {
  command = "ember sweep",
  usage = {"SCRIPT [options] [-- script args...]"},
  about = "Runs SCRIPT once per combination of config values, each run an `ember run` process with its own "
    .. "run directory in the sweep folder RUNS/NAME/, which also holds sweep.tsv (every run: params, status, "
    .. "best metric, run directory, log) and logs/RUN.log. Runs are named by the params that vary "
    .. "(lr=0.1,opt=adam); compare them with `ember runs RUNS/NAME` and `ember plot RUNS/NAME --by lr`.",
  positional = {name = "script", metavar = "SCRIPT", max = 1, extra = "script arguments go after '--'",
                min = 1, missing = "give the experiment script"},
  rest = "script_args",
  options = {
    {"--grid", "K=V1,V2,...", many = true, dest = "keys", check = parse_grid, help = "values of config key K "
      .. "(repeatable: the cartesian product); values holding a comma (lists) are separated by ';' instead: "
      .. "--grid 'betas=0.9,0.99;0.5,0.9'"},
    {"--random", "K=LO:HI[:log]", many = true, dest = "keys", check = parse_random, help = "a value drawn "
      .. "uniformly (log: log-uniformly) from [LO, HI] per trial; integers when LO and HI are written as "
      .. "integers (repeatable; needs --trials)"},
    {"--trials", "N", type = "integer", min = 1, help = "number of random draws (times the grid when both are given)"},
    {"--random-seed", "S", type = "integer", default = 0,
      help = "seed of the random draws (default 0: the same command draws the same values)"},
    {"--seeds", "N", type = "integer", min = 1, help = "repeat every combination with ember run --seed 1..N"},
    {"--set", "K=V", many = true, check = parse_set, help = "a fixed override passed to every run (repeatable)"},
    {"--engine", "E", choices = {"local", "parallel", "slurm"}, default = "local", help = "local (default): "
      .. "a pool of --jobs processes on this machine; parallel: GNU parallel (parallel/parallel.sh in the "
      .. "sweep folder); slurm: one sbatch job array, one task per run"},
    {"--jobs", "N", type = "integer", min = 1, help = "runs at a time (default: cores / threads; slurm: the array's %N throttle)"},
    {"--threads", "T", type = "integer", min = 1, help = "threads of each run (default 1 when several run at "
      .. "once; slurm: --cpus-per-task, else 1)"},
    {"--runs", "DIR", default = "runs", help = "root folder of run directories (default runs)"},
    {"--name", "N", help = "sweep name (default the script's file name without .lua)"},
    {"--dry-run", help = "print what would run and the commands, start nothing, write nothing"},
    {"--status", help = "refresh sweep.tsv from the run directories and print it; start nothing"},
    {"--rerun-running", help = "also rerun runs whose meta.tsv still says running (their process is gone)"},
    {"--wait", help = "slurm: follow the array until it ends (the other engines always wait)"},
    {"--partition", "P", help = "passed to sbatch"},
    {"--time", "T", help = "passed to sbatch"},
    {"--cpus-per-task", "C", type = "integer", min = 1, dest = "cpus", help = "passed to sbatch"},
    {"--mem", "M", help = "passed to sbatch"},
    {"--slurm-arg", "ARG", many = true, dest = "slurm_args",
      help = "any other sbatch argument (repeatable), e.g. --slurm-arg=--qos=low"},
    {"--parallel-arg", "ARG", many = true, dest = "parallel_args",
      help = "any other GNU parallel argument (repeatable), e.g. --parallel-arg=--sshlogin=h1,h2"},
  },
  footer = "Resume: run the same command again. Finished and stopped-early runs are skipped; failed, "
    .. "interrupted and diverged ones continue in their own directory (ember run --resume); new combinations "
    .. "start. Exit status: 0 all runs done, 1 a run failed or the engine failed, 2 bad usage, 130 interrupted.",
}

-- the checks that involve several options; returns o, or nil and a usage message
local function validate(o)
  local owner = {}   -- key -> the option that named it first
  local function claim(key, where)
    if owner[key] then return nil, ("key '%s' is given twice (%s and %s)"):format(key, owner[key], where) end
    owner[key] = where
    return true
  end
  for _, k in ipairs(o.keys) do
    local ok, why = claim(k.key, "--" .. k.kind)
    if not ok then return nil, why end
  end
  for _, kv in ipairs(o.set) do
    local ok, why = claim(kv.key, "--set")
    if not ok then return nil, why end
  end
  local has_random = false
  for _, k in ipairs(o.keys) do if k.kind == "random" then has_random = true end end
  if has_random and not o.trials then return nil, "--random needs --trials N (the number of draws)" end
  if o.trials and not has_random then return nil, "--trials needs at least one --random KEY=LO:HI" end
  if #o.keys == 0 and not o.seeds then return nil, "nothing to sweep: give --grid, --random or --seeds" end
  if o.seeds and owner.seed then
    return nil, ("--seeds gives each run its seed; 'seed' cannot also be in %s"):format(owner.seed)
  end
  if o.engine ~= "slurm" then
    for _, name in ipairs{"partition", "time", "cpus", "mem"} do
      if o[name] ~= nil then
        return nil, ("--%s is an sbatch option: only with --engine slurm"):format(name == "cpus" and "cpus-per-task" or name)
      end
    end
    if #o.slurm_args > 0 then return nil, "--slurm-arg is an sbatch option: only with --engine slurm" end
  end
  if o.engine ~= "parallel" and #o.parallel_args > 0 then
    return nil, "--parallel-arg is only for --engine parallel"
  end
  if o.name then
    if o.name:find("/", 1, true) or o.name == "." or o.name == ".." or o.name:find("%c") then
      return nil, ("--name must be a folder name without '/' or control characters (got '%s')"):format(o.name)
    end
  end
  return o
end

--- sweep.parse(args) -> options table, or nil and a usage message. args: the words after `ember sweep`.
-- Options (see M.spec): script, script_args, keys (list of {key, kind = "grid", values} / {key, kind =
-- "random", lo, hi, log, int} in command-line order), set (list of {key, value}), trials, seeds,
-- random_seed, jobs, threads, engine, runs, name, dry_run, status, wait, rerun_running, partition, time,
-- cpus, mem, slurm_args, parallel_args, help.
function M.parse(argv)
  local ok, o = pcall(require("ember.cli.args").parse, M.spec, argv)
  if not ok then
    if E.is(o, "usage") then return nil, o.message end
    error(o, 0)
  end
  if o.help then return o end
  return validate(o)
end

-- the points of a sweep ------------------------------------------------------------------------------------------

-- splitmix64 (Steele, Lea and Flood 2014, "Fast splittable pseudorandom number generators"): a stream of
-- 64-bit integers from one integer state; Lua integers wrap like uint64_t and >> is a logical shift.
local function splitmix(state)
  state = state + 0x9E3779B97F4A7C15
  local z = state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return state, z ~ (z >> 31)
end

--- sweep.format_draw(v, int) -> the text passed to --set for a drawn value: an integer, or 4 significant
-- digits (so the run name and the value the run gets agree).
function M.format_draw(v, int)
  if int then return string.format("%d", v) end
  return string.format("%.4g", v)
end

--- sweep.draw(specs, n, seed) -> list of n draws, each a table key -> value text. specs: the random
-- keys ({key, lo, hi, log, int}); seed: an integer (same seed, same draws, on every machine). A float
-- is lo + u (hi - lo), or exp(log lo + u (log hi - log lo)) with log; an integer is uniform over
-- lo..hi (log: over log lo .. log(hi + 1), floored), u uniform in [0, 1) from the top 53 bits.
function M.draw(specs, n, seed)
  local state = math.tointeger(seed) or 0
  local out = {}
  for t = 1, n do
    local d = {}
    for _, s in ipairs(specs) do
      local z
      state, z = splitmix(state)
      local u = (z >> 11) * 2.0 ^ -53
      local v
      if s.int then
        if s.log then
          local a, b = math.log(s.lo), math.log(s.hi + 1)
          v = math.floor(math.exp(a + u * (b - a)))
        else
          v = s.lo + math.floor(u * (s.hi - s.lo + 1))
        end
        v = math.tointeger(math.max(s.lo, math.min(s.hi, v)))
      elseif s.log then
        local a, b = math.log(s.lo), math.log(s.hi)
        v = math.exp(a + u * (b - a))
      else
        v = s.lo + u * (s.hi - s.lo)
      end
      d[s.key] = M.format_draw(v, s.int)
    end
    out[t] = d
  end
  return out
end

local function encode(v)
  return (v:gsub("[%%/%c]", function(c) return ("%%%02X"):format(c:byte()) end))
end

--- sweep.run_name(point, varying) -> the run's name: `k=v` for each key of varying (a list) joined by
-- ',', values with '/', '%' and control characters written %XX, `seed=N` when "seed" is in varying;
-- "run" when nothing varies; cut to 200 bytes and ended by '~' and a hash of the full name when longer.
function M.run_name(point, varying)
  local parts = {}
  for _, k in ipairs(varying) do
    local v = k == "seed" and point.seed and tostring(point.seed) or point.values[k]
    parts[#parts + 1] = k .. "=" .. encode(v)
  end
  local name = #parts > 0 and table.concat(parts, ",") or "run"
  if #name > MAX_NAME then
    local cut = MAX_NAME - 17
    while cut > 1 and (name:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end   -- UTF-8 boundary
    name = name:sub(1, cut) .. "~" .. require("ember.run").fnv1a64(name)
  end
  return name
end

--- sweep.expand(o) -> points, info. o: options from sweep.parse. Each point is {values = {key = text},
-- seed = n or nil, name}; the order is the grid (first key slowest), then the random draws, then the
-- seeds. Points that repeat an earlier one (equal integer draws) are dropped. info: {keys = every swept
-- key in command-line order, varying = the keys (and "seed") that differ between points, dropped = n}.
function M.expand(o)
  local grid, random = {}, {}
  for _, k in ipairs(o.keys) do
    if k.kind == "grid" then grid[#grid + 1] = k else random[#random + 1] = k end
  end
  local draws = #random > 0 and M.draw(random, o.trials, o.random_seed) or {{}}
  local seeds = o.seeds or 0
  local points, seen, dropped = {}, {}, 0
  local cur = {}
  local function emit()
    for _, d in ipairs(draws) do
      for s = 1, math.max(seeds, 1) do
        local values = {}
        for k, v in pairs(cur) do values[k] = v end
        for k, v in pairs(d) do values[k] = v end
        local sig = {}
        for _, k in ipairs(o.keys) do sig[#sig + 1] = k.key .. "=" .. values[k.key] end
        if seeds > 0 then sig[#sig + 1] = "seed=" .. s end
        sig = table.concat(sig, "\0")
        if seen[sig] then dropped = dropped + 1
        else
          seen[sig] = true
          points[#points + 1] = {values = values, seed = seeds > 0 and s or nil}
        end
      end
    end
  end
  local function rec(i)
    if i > #grid then emit(); return end
    for _, v in ipairs(grid[i].values) do
      cur[grid[i].key] = v
      rec(i + 1)
    end
    cur[grid[i].key] = nil
  end
  rec(1)
  local keys, varying = {}, {}
  for _, k in ipairs(o.keys) do
    keys[#keys + 1] = k.key
    for j = 2, #points do
      if points[j].values[k.key] ~= points[1].values[k.key] then varying[#varying + 1] = k.key; break end
    end
  end
  if seeds > 1 then varying[#varying + 1] = "seed" end
  local names = {}
  for _, p in ipairs(points) do
    p.name = M.run_name(p, varying)
    if names[p.name] then fail("two runs would both be named '%s' (values with commas?)", p.name) end
    names[p.name] = true
  end
  return points, {keys = keys, varying = varying, dropped = dropped}
end

-- run directories and resume decisions --------------------------------------------------------------------------

--- sweep.latest_run(dir) -> the newest run directory (holding meta.tsv) directly below dir, or nil.
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
M._same_value = same_value

--- sweep.check_params(e, dir, set) -> nil when the run directory dir was started with the values of
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

--- sweep.decide(e, ctx) -> action, reason: what to do with entry e ({name, values, seed}) of the sweep
-- folder ctx.sweepdir, from the newest run directory of e.name (stored in e.dir, its status in
-- e.status). action: "new", "resume" (e.dir), "skip" (done) or "running" (left alone). ctx: host (this
-- host's name), alive(pid) -> bool, rerun_running, queue_empty (true when none of the sweep's slurm
-- jobs is queued), set (the fixed overrides, checked against params.tsv). Raises a usage error when the
-- run directory was started with other params.
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
  if st == "running" then
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
  -- an unknown status, or a meta.tsv without one: a run that did not get far
  if resumable then return "resume", st or "no status" end
  return "new", st or "no status"
end

-- commands ------------------------------------------------------------------------------------------------------------

--- sweep.run_argv(e, ctx) -> the argument list of `ember run` for entry e. A new run:
-- {exe, "run", script, "--runs", sweepdir, "--name", e.name, "--set", "k=v"... (fixed overrides, then
-- the swept keys in command-line order), ["--seed", s], ["--threads", t], ["--", script args...]};
-- e.action == "resume": {exe, "run", "--resume", e.dir, script, ["--threads", t], ["--", args...]}.
-- ctx: exe, script, sweepdir, threads, set, keys, script_args.
function M.run_argv(e, ctx)
  local argv = {ctx.exe, "run"}
  local function add(...) for _, a in ipairs{...} do argv[#argv + 1] = a end end
  if e.action == "resume" then
    add("--resume", e.dir, ctx.script)
  else
    add(ctx.script, "--runs", ctx.sweepdir, "--name", e.name)
    for _, s in ipairs(ctx.set or {}) do add("--set", s.key .. "=" .. s.value) end
    for _, k in ipairs(ctx.keys or {}) do add("--set", k .. "=" .. e.values[k]) end
    if e.seed then add("--seed", tostring(e.seed)) end
  end
  if ctx.threads then add("--threads", tostring(ctx.threads)) end
  if ctx.script_args and #ctx.script_args > 0 then
    add("--")
    for _, a in ipairs(ctx.script_args) do add(a) end
  end
  return argv
end

local function log_paths(e, ctx)
  local base = ctx.sweepdir .. "/logs/" .. e.name
  return base .. ".log", base .. ".exit"
end

--- sweep.job_shell(e, ctx, engine [, index]) -> the sh code that runs entry e for an engine: a header
-- line `== date host: command` appended to logs/<run>.log, then `ember run` with its output appended
-- to the same log and stdin from /dev/null, then its exit status written to logs/<run>.exit.
-- "local": a background job (ends in &) whose ember runs in its own session (setsid, when ctx.setsid),
-- reporting `S index pid` and `E index status` into the FIFO ctx.fifo; "parallel": one line for GNU
-- parallel, printing `S index` and `E index status`; "slurm": the body of one array task.
function M.job_shell(e, ctx, engine, index)
  local log, exitf = log_paths(e, ctx)
  local cmd = M.command_line(M.run_argv(e, ctx))
  local where = engine == "slurm" and ' " (slurm job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID})"' or " ''"
  local head = ("printf '== %%s %%s%%s: %%s\\n' \"$(date '+%%Y-%%m-%%d %%H:%%M:%%S')\" \"$(uname -n)\"%s %s >>%s")
    :format(where, quote(cmd), quote(log))
  local io_redir = (" >>%s 2>&1 </dev/null"):format(quote(log))
  local done = ('rc=$?; echo "$rc" >%s'):format(quote(exitf))
  if engine == "local" then
    local fifo = quote(ctx.fifo)
    return ("( trap '' INT TERM; %s; %s%s%s & p=$!; echo \"S %d $p\" 1<>%s; wait \"$p\"; %s; echo \"E %d $rc\" 1<>%s )"
      .. " >/dev/null 2>&1 &"):format(head, ctx.setsid and "setsid " or "", cmd, io_redir, index, fifo, done, index, fifo)
  elseif engine == "parallel" then
    return ("trap '' INT TERM; echo \"S %d\"; %s; %s%s; %s; echo \"E %d $rc\"; exit \"$rc\"")
      :format(index, head, cmd, io_redir, done, index)
  end
  return ("%s; %s%s; %s; exit \"$rc\""):format(head, cmd, io_redir, done)
end

--- sweep.parallel_files(todo, ctx) -> jobs, script: the text of parallel/jobs.txt (one job_shell line
-- per entry of todo, index = position) and of parallel/parallel.sh, which runs GNU parallel on it
-- (ctx.jobs at a time, --line-buffer, --joblog parallel/joblog, one TERM then 60 s before KILL on
-- Ctrl-C, ctx.parallel_args, then the script's own arguments "$@").
function M.parallel_files(todo, ctx)
  local lines = {}
  for i, e in ipairs(todo) do lines[i] = M.job_shell(e, ctx, "parallel", i) end
  local pdir = ctx.sweepdir .. "/parallel"
  local argv = {"parallel", "--jobs", tostring(ctx.jobs), "--line-buffer", "--termseq", "TERM,60000,KILL,25",
                "--joblog", pdir .. "/joblog"}
  for _, a in ipairs(ctx.parallel_args or {}) do argv[#argv + 1] = a end
  local script = table.concat({
    "#!/bin/sh",
    "# GNU parallel command of `ember sweep` " .. (ctx.name or "") .. ": one line of jobs.txt per run.",
    "# Arguments go to parallel: sh parallel.sh --resume-failed, or --sshlogin host1,host2 (ember and the",
    "# sweep folder must be at the same paths there). ember sweep decides what to rerun from meta.tsv.",
    "PARALLEL_SHELL=/bin/sh",
    "export PARALLEL_SHELL",
    "exec " .. M.command_line(argv) .. ' "$@" -a ' .. quote(pdir .. "/jobs.txt"),
    ""}, "\n")
  return table.concat(lines, "\n") .. "\n", script
end

--- sweep.sbatch_script(todo, ctx) -> the text of slurm/sweep.sbatch: a #!/bin/sh script in which array
-- task SLURM_ARRAY_TASK_ID + $1 runs entry number (that + 1) of todo (job_shell "slurm"). The shell
-- ignores SIGINT and SIGTERM so that, at a time limit or scancel, it waits for the run to save its
-- checkpoint and records the exit status. No user text goes into #SBATCH lines: options are sbatch
-- arguments (sweep.sbatch_argv).
function M.sbatch_script(todo, ctx)
  local out = {
    "#!/bin/sh",
    "# `ember sweep` " .. (ctx.name or "") .. ": one array task per run. Submitted as",
    "#   sbatch --array=0-(N-1) ... sweep.sbatch OFFSET   (task T runs case OFFSET + T below)",
    "trap '' INT TERM   # the run itself handles the signal: finishes its step and saves last.ckpt",
    'i=$(( ${SLURM_ARRAY_TASK_ID:?is not set: submit with sbatch --array} + ${1:-0} ))',
    'case "$i" in'}
  for i, e in ipairs(todo) do
    out[#out + 1] = ("%d) # %s"):format(i - 1, e.name)
    out[#out + 1] = "  " .. M.job_shell(e, ctx, "slurm")
    out[#out + 1] = "  ;;"
  end
  out[#out + 1] = '*) echo "ember sweep: no run number $i in this script" >&2; exit 2 ;;'
  out[#out + 1] = "esac"
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

--- sweep.sbatch_argv(ctx, count, offset) -> the argument list of sbatch submitting tasks offset ..
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

-- status of the runs -------------------------------------------------------------------------------------

-- the run's main metric (the monitored one, else valid_loss, train_loss, loss, else the first column that
-- is not a counter), its best value and the last epoch, as `ember runs` shows them
local function summary(dir, meta)
  local ok, run = pcall(require("ember.runs").read, dir)
  if not ok then return nil end
  local has = {}
  for _, c in ipairs(run.columns) do has[c] = true end
  local m = meta.monitor
  if not (m and has[m]) then
    m = nil
    for _, c in ipairs{"valid_loss", "train_loss", "loss"} do
      if has[c] then m = c; break end
    end
    if not m then
      for _, c in ipairs(run.columns) do
        if c ~= "epoch" and c ~= "step" and c ~= "time" and c ~= "lr" then m = c; break end
      end
    end
  end
  local epochs
  for _, row in ipairs(run.rows) do
    if type(row.epoch) == "number" then epochs = row.epoch end
  end
  if not m then return nil, nil, epochs end
  local md = meta.mode
  if md ~= "min" and md ~= "max" then md = m:find("acc") and "max" or "min" end
  local best
  for _, row in ipairs(run.rows) do
    local v = row[m]
    if type(v) == "number" and v == v and (best == nil or (md == "min" and v < best) or (md == "max" and v > best)) then
      best = v
    end
  end
  return m, best, epochs
end

--- sweep.refresh(e, ctx) -- reread entry e from disk: e.dir (newest run directory), e.meta_status,
-- e.exit (from logs/<run>.exit), e.metric, e.best, e.epochs, and e.status, the status sweep.tsv shows:
-- "pending"/"queued" for a run waiting to start in this sweep, else the run's meta.tsv status, corrected
-- by the exit status when the process ended without recording one (130: interrupted, else failed),
-- "finished" for exit 0 without a run directory, "new" for a run never started.
function M.refresh(e, ctx)
  local _, exitf = log_paths(e, ctx)
  e.dir = M.latest_run(ctx.sweepdir .. "/" .. e.name) or e.dir
  local meta = e.dir and read_kv(e.dir .. "/meta.tsv") or {}
  e.meta_status = meta.status
  local text = read_file(exitf)
  e.exit = text and math.tointeger(tonumber(text:match("%-?%d+") or "")) or nil
  if e.dir then e.metric, e.best, e.epochs = summary(e.dir, meta) end
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

--- sweep.tsv_text(entries, ctx) -> the text of sweep.tsv: a header (name, the swept keys, seed under
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
    local log = log_paths(e, ctx)
    for _, v in ipairs{e.status or "new", e.metric or "", num_text(e.best), e.epochs and num_text(e.epochs) or "",
                       e.exit and tostring(e.exit) or "", rel(e.dir) or "", mode(log) and rel(log) or ""} do
      f[#f + 1] = v
    end
    for i, v in ipairs(f) do f[i] = tsv_field(v) end
    lines[#lines + 1] = table.concat(f, "\t")
  end
  return table.concat(lines, "\n") .. "\n"
end

local function write_tsv(entries, ctx)
  write_atomic(ctx.sweepdir .. "/sweep.tsv", M.tsv_text(entries, ctx))
end

-- progress ---------------------------------------------------------------------------------------------------------

-- Prints events as plain lines, and on a terminal keeps a live summary line below them.
local Reporter = {}
Reporter.__index = Reporter

local function new_reporter(entries, ctx)
  local out = ctx.stdout or io.stdout
  local tty = ctx.tty
  if tty == nil then tty = out == io.stdout and ember.isatty(1) or false end
  return setmetatable({out = out, entries = entries, name = ctx.name, tty = tty, t0 = ember.clock(),
                       drawn = false, cwd = ctx.cwd}, Reporter)
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
  local text = read_file(log)
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
    local log = shown(log_paths(e, self.ctx), self.cwd)
    local exit = e.exit and (" (exit %d)"):format(e.exit) or ""
    local msg = last_error(log_paths(e, self.ctx))
    self:say(("%s %s: %s%s%s\n       log: %s"):format(st == "interrupted" and "STOPPED" or "FAILED", e.name, st, exit,
      msg and ": " .. msg or "", log))
  end
end

-- engines ---------------------------------------------------------------------------------------------------------

local function remove_exit(e, ctx)
  local _, exitf = log_paths(e, ctx)
  os.remove(exitf)
end

-- A FIFO in a private temporary folder: every job writes its start and end lines into it, and a ticker
-- writes "T" every second, so the pool blocks in one read and still redraws its clock.
local function open_events()
  local tmp = os.tmpname()
  os.remove(tmp)
  local ok, err = lfs.mkdir(tmp)
  if not ok then fail("cannot create a temporary folder '%s': %s", tmp, tostring(err)) end
  local fifo = tmp .. "/events"
  local _, made = capture("mkfifo -m 600 " .. quote(fifo))
  if not made then lfs.rmdir(tmp); fail("cannot create the FIFO '%s' (mkfifo)", fifo) end
  -- read-write: opening never blocks and the FIFO never reports end-of-file while jobs come and go
  local f, ferr = io.open(fifo, "r+")
  if not f then os.remove(fifo); lfs.rmdir(tmp); fail("cannot open the FIFO '%s': %s", fifo, tostring(ferr)) end
  local out = capture(("(while kill -0 %d 2>/dev/null && [ -p %s ]; do echo T 1<>%s; sleep 1; done)"
    .. " >/dev/null 2>&1 </dev/null & echo $!"):format(ember.getpid(), quote(fifo), quote(fifo)))
  local ticker = math.tointeger(tonumber(out:match("%d+") or ""))
  local function close()
    f:close()
    os.remove(fifo)
    if ticker then capture(("kill %d"):format(ticker)) end
    lfs.rmdir(tmp)
  end
  return f, fifo, close
end

local function kill(pids, sig)
  local list = {}
  for _, p in pairs(pids) do list[#list + 1] = tostring(math.tointeger(p)) end
  if #list > 0 then capture(("kill -%s %s"):format(sig, table.concat(list, " "))) end
end

local function is_interrupt(err) return E.is(err, "interrupted") end

-- local: a pool of ctx.jobs background jobs. The first Ctrl-C or SIGTERM stops starting runs and sends
-- each running run one SIGTERM (they finish their step, save and exit 130); a second stops at once.
local function run_local(todo, entries, ctx, rep)
  local f, fifo, close = open_events()
  ctx.fifo = fifo
  ctx.setsid = have("setsid")
  local old_graceful = ember._graceful(true)
  ember._reset_interrupts()
  local pids, running, nextq, stopping, seen = {}, 0, 1, false, 0
  local ok, err = pcall(function()
    while true do
      while not stopping and running < ctx.jobs and nextq <= #todo do
        local e = todo[nextq]
        remove_exit(e, ctx)
        e.state = "running"
        M.refresh(e, ctx)
        -- popen, not os.execute, whose system() would drop a Ctrl-C arriving meanwhile
        local sp = io.popen(M.job_shell(e, ctx, "local", nextq), "r")
        local started = sp ~= nil
        if sp then sp:read("a"); started = sp:close() == true end
        if started then
          running = running + 1
          rep:started(e)
        else
          e.state = "done"
          M.refresh(e, ctx)
          e.status = "failed"
          rep:say(("FAILED %s: could not start a shell for it"):format(e.name))
        end
        nextq = nextq + 1
        write_tsv(entries, ctx)
      end
      if running == 0 then break end
      local n = ember._interrupts()
      if n > seen then
        seen = n
        if not stopping then
          stopping = true
          rep:say(("ember sweep: interrupted: %d running run(s) stop after their step and save; not starting %d more (Ctrl-C again stops at once)")
            :format(running, #todo - nextq + 1))
          if ctx.setsid then kill(pids, "TERM") end   -- in their own session they did not get the Ctrl-C
        end
      end
      local line = f:read("l")
      if line then
        local i, pid = line:match("^S (%d+) (%d+)$")
        if i then
          pids[tonumber(i)] = tonumber(pid)
          if stopping and ctx.setsid then kill({tonumber(pid)}, "TERM") end
        else
          local j, rc = line:match("^E (%d+) (%-?%d+)$")
          if j then
            j = tonumber(j)
            pids[j] = nil
            running = running - 1
            local e = todo[j]
            e.state = "done"
            M.refresh(e, ctx)
            rep:ended(e)
            write_tsv(entries, ctx)
          elseif line == "T" then
            rep:draw()
          end
        end
      end
    end
  end)
  ember._graceful(old_graceful)
  close()
  if not ok then
    if is_interrupt(err) then
      if ctx.setsid then kill(pids, "TERM") end   -- the second signal: they stop at once
      rep:say("ember sweep: interrupted again: stopped waiting for the runs")
      return 130
    end
    error(err, 0)
  end
  return stopping and 130 or nil
end

local function write_parallel(todo, ctx)
  local pdir = ctx.sweepdir .. "/parallel"
  mkdirs(pdir)
  local jobs, script = M.parallel_files(todo, ctx)
  write_atomic(pdir .. "/jobs.txt", jobs)
  write_atomic(pdir .. "/parallel.sh", script)
  return pdir .. "/parallel.sh"
end

-- parallel: GNU parallel runs parallel.sh; its output is the jobs' S/E lines, read as they come
local function run_parallel(todo, entries, ctx, rep)
  local out = capture("parallel --version")
  if not out:find("GNU parallel", 1, true) then
    fail("--engine parallel needs GNU parallel (apt-get install parallel)%s",
         out ~= "" and "; found another 'parallel'" or "")
  end
  for _, e in ipairs(todo) do remove_exit(e, ctx); e.state = "pending"; M.refresh(e, ctx) end
  local script = write_parallel(todo, ctx)
  write_tsv(entries, ctx)
  local old_graceful = ember._graceful(true)
  ember._reset_interrupts()
  local p = io.popen("sh " .. quote(script), "r")
  if not p then ember._graceful(old_graceful); fail("cannot start GNU parallel") end
  local interrupted = false
  local ok, err = pcall(function()
    while true do
      local line, msg = p:read("l")
      if line == nil then
        if msg == nil then break end   -- end of output: parallel is done
        if ember._interrupts() > 0 and not interrupted then
          interrupted = true
          rep:say("ember sweep: interrupted: GNU parallel sends each run one SIGTERM (KILL after 60 s)")
        end
      else
        local i = line:match("^S (%d+)$")
        if i then
          local e = todo[tonumber(i)]
          if e then e.state = "running"; M.refresh(e, ctx); rep:started(e); write_tsv(entries, ctx) end
        else
          local j = line:match("^E (%d+) %-?%d+$")
          local e = j and todo[tonumber(j)]
          if e then
            e.state = "done"
            M.refresh(e, ctx)
            rep:ended(e)
            write_tsv(entries, ctx)
          elseif line ~= "" then
            rep:say(line)
          end
        end
      end
    end
  end)
  ember._graceful(old_graceful)
  if not ok then
    if is_interrupt(err) then return 130 end
    error(err, 0)
  end
  p:close()
  if ember._interrupts() > 0 then interrupted = true end
  -- started runs whose end line parallel did not print (it stops printing once interrupted); runs it
  -- never started stay pending
  for _, e in ipairs(todo) do
    if not e.reported and e.state == "running" then
      e.state = "done"
      M.refresh(e, ctx)
      rep:ended(e)
    end
  end
  write_tsv(entries, ctx)
  return interrupted and 130 or nil
end

--- sweep.max_array_size() -> Slurm's MaxArraySize (`scontrol show config`), 1001 when unknown: array
-- task ids must stay below it.
function M.max_array_size()
  local out = capture("scontrol show config")
  return math.tointeger(tonumber(out:match("MaxArraySize%s*=%s*(%d+)") or "")) or 1001
end

local function read_jobs(ctx)
  local ids = {}
  local text = read_file(ctx.sweepdir .. "/slurm/jobs.tsv") or ""
  for line in text:gmatch("[^\n]+") do
    local id = line:match("^(%d+)\t")
    if id then ids[#ids + 1] = id end
  end
  return ids
end

-- the job ids of ids still in the queue: a list, or nil and a message when squeue fails
local function squeue_active(ids)
  if #ids == 0 then return {} end
  local out, ok = capture("squeue -h -o %i -j " .. quote(table.concat(ids, ",")))
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

-- Through popen, not os.execute: system() ignores SIGINT while it waits, so a Ctrl-C sent to this
-- process alone would be lost. Returns false when a signal came (ember counts them in graceful mode).
local function sleep(seconds)
  local p = io.popen(("sleep %s"):format(seconds), "r")
  if p then p:read("a"); p:close() end
  return ember._interrupts() == 0
end

-- slurm: one array job per MaxArraySize runs; with ctx.wait, follows the queue and the run directories
local function run_slurm(todo, entries, ctx, rep)
  if not have("sbatch") then fail("--engine slurm needs sbatch (Slurm's client commands) on this machine") end
  local sdir = ctx.sweepdir .. "/slurm"
  mkdirs(sdir)
  write_atomic(sdir .. "/sweep.sbatch", M.sbatch_script(todo, ctx))
  for _, e in ipairs(todo) do remove_exit(e, ctx); e.state = "queued"; M.refresh(e, ctx) end
  local max = M.max_array_size()
  local ids = {}
  local offset = 0
  while offset < #todo do
    local count = math.min(max, #todo - offset)
    local out, ok = capture(M.command_line(M.sbatch_argv(ctx, count, offset)))
    local id = ok and out:match("^%s*(%d+)")
    if not id then
      for k = offset + 1, #todo do todo[k].state = nil; M.refresh(todo[k], ctx) end
      write_tsv(entries, ctx)
      fail("sbatch failed%s: %s", #ids > 0 and (" (array jobs %s were submitted)"):format(table.concat(ids, ",")) or "",
           (out:gsub("%s+$", "")))
    end
    ids[#ids + 1] = id
    local f = io.open(sdir .. "/jobs.tsv", "ab")
    if f then f:write(("%s\t%d\t%d\t%s\n"):format(id, offset, count, os.date("%Y-%m-%dT%H:%M:%S"))); f:close() end
    offset = offset + count
  end
  write_tsv(entries, ctx)
  local list = table.concat(ids, ",")
  rep:say(("submitted %d run(s) as array job%s %s; watch: squeue -j %s; cancel: scancel %s")
    :format(#todo, #ids > 1 and "s" or "", list, list, list))
  if not ctx.wait then
    rep:say(("sweep.tsv: %s (refresh it with the same command and --status)"):format(shown(ctx.sweepdir .. "/sweep.tsv", ctx.cwd)))
    return "submitted"
  end
  local old_graceful = ember._graceful(true)
  ember._reset_interrupts()
  local errors = 0
  -- cheap per poll: a stat of each exit file, and meta.tsv only for runs not yet started; a run is read
  -- in full once, when its exit status appears
  local function scan()
    for _, e in ipairs(todo) do
      if not e.reported then
        local _, exitf = log_paths(e, ctx)
        if mode(exitf) then
          e.state = "done"
          M.refresh(e, ctx)
          rep:ended(e)
        elseif e.state == "queued" then
          local dir = M.latest_run(ctx.sweepdir .. "/" .. e.name)
          local meta = dir and read_kv(dir .. "/meta.tsv") or {}
          if meta.status == "running" then
            e.state, e.status, e.dir = "running", "running", dir
            rep:started(e)
          end
        end
      end
    end
  end
  -- a poll a second, slower for big sweeps (every poll stats each run's files on a shared file system)
  local every = math.max(M.POLL_SECONDS, math.min(30, #todo // 100))
  local ok, err = pcall(function()
    while true do
      local active, why = squeue_active(ids)
      scan()
      write_tsv(entries, ctx)
      rep:draw()
      if active and #active == 0 then return end
      if not active then
        errors = errors + 1
        if errors == 1 or errors % 30 == 0 then rep:say("ember sweep: squeue failed (retrying): " .. tostring(why)) end
      else
        errors = 0
      end
      if not sleep(every) or ember._interrupts() > 0 then error(E.new("interrupted", "ember sweep", "interrupted"), 0) end
    end
  end)
  ember._graceful(old_graceful)
  if not ok then
    if is_interrupt(err) then
      rep:say(("ember sweep: stopped following; the array keeps running (squeue -j %s; scancel %s to stop it)")
        :format(list, list))
      return 130
    end
    error(err, 0)
  end
  -- tasks that ended without writing their exit status (killed, or never started)
  for _, e in ipairs(todo) do
    if not e.reported then
      e.state = "done"
      M.refresh(e, ctx)
      if not RERUN[e.status] and not DONE[e.status] then e.status = "failed" end
      rep:ended(e)
    end
  end
  write_tsv(entries, ctx)
end

-- the command -------------------------------------------------------------------------------------------------------

local function is_alive(pid)
  local _, ok = capture(("kill -0 %d"):format(pid))
  return ok
end

--- sweep.plan(o [, env]) -> entries, ctx: every run of the sweep with its resume decision (e.action,
-- e.reason) and the context the engines use. o: options from sweep.parse; env (for tests): exe, cwd,
-- cores, host, alive(pid), queue_empty. Raises usage errors (params that disagree with a run directory).
function M.plan(o, env)
  env = env or {}
  local cwd = env.cwd or lfs.currentdir()
  local script = absolute(o.script, cwd)
  local name = o.name or (o.script:match("([^/]*)$"):gsub("%.lua$", ""))
  if name == "" or name == "." or name == ".." then usage_fail("cannot name the sweep after '%s': give --name", o.script) end
  local root = absolute(o.runs, cwd):gsub("(.)/+$", "%1")
  local points, info = M.expand(o)
  local ctx = {exe = env.exe or M.executable(), script = script, name = name, sweepdir = root .. "/" .. name,
               keys = info.keys, varying = info.varying, dropped = info.dropped, set = o.set, seeds = o.seeds,
               script_args = o.script_args, engine = o.engine, cwd = cwd, wait = o.wait,
               partition = o.partition, time = o.time, mem = o.mem, slurm_args = o.slurm_args,
               parallel_args = o.parallel_args, stdout = env.stdout, tty = env.tty}
  if o.engine == "slurm" then
    ctx.threads = o.threads or o.cpus or 1
    ctx.cpus = o.cpus or ctx.threads
    ctx.jobs = o.jobs
  else
    ctx.threads = o.threads
    if not ctx.threads and (o.jobs == nil or o.jobs > 1) then ctx.threads = 1 end
    ctx.jobs = o.jobs or math.max(1, (env.cores or cores()) // (ctx.threads or 1))
  end
  local dctx = {sweepdir = ctx.sweepdir, host = env.host or ember.hostname(), alive = env.alive or is_alive,
                rerun_running = o.rerun_running, queue_empty = env.queue_empty, set = o.set}
  local entries = {}
  for i, p in ipairs(points) do
    local e = {i = i, name = p.name, values = p.values, seed = p.seed}
    e.action, e.reason = M.decide(e, dctx)
    entries[i] = e
  end
  return entries, ctx
end

local function todo_of(entries)
  local todo = {}
  for _, e in ipairs(entries) do
    if e.action == "new" or e.action == "resume" then todo[#todo + 1] = e end
  end
  return todo
end

--- sweep.dry_run_text(entries, ctx) -> what `--dry-run` prints: a header line, one line per run (its
-- decision, name and why), then the engine's commands: the `ember run` lines (local), parallel.sh and
-- jobs.txt (parallel), or the sbatch command and script (slurm).
function M.dry_run_text(entries, ctx)
  local todo = todo_of(entries)
  local out = {}
  local count = {}
  for _, e in ipairs(entries) do count[e.action] = (count[e.action] or 0) + 1 end
  out[#out + 1] = ("sweep %s: %d run(s) in %s: %d new, %d to resume, %d done, %d running%s"):format(ctx.name,
    #entries, shown(ctx.sweepdir, ctx.cwd), count.new or 0, count.resume or 0, count.skip or 0, count.running or 0,
    (ctx.dropped or 0) > 0 and (" (%d repeated draw(s) dropped)"):format(ctx.dropped) or "")
  for _, e in ipairs(entries) do
    out[#out + 1] = ("  %-7s %s  (%s)"):format(e.action, e.name, e.reason or "")
  end
  if #todo == 0 then
    out[#out + 1] = "nothing to run"
    return table.concat(out, "\n") .. "\n"
  end
  if ctx.engine == "local" then
    out[#out + 1] = ("engine local: %d at a time, %s thread(s) each; each run:"):format(ctx.jobs, ctx.threads or "default")
    for _, e in ipairs(todo) do
      out[#out + 1] = M.command_line(M.run_argv(e, ctx)) .. " >>" .. quote((log_paths(e, ctx)))
    end
  elseif ctx.engine == "parallel" then
    local jobs, script = M.parallel_files(todo, ctx)
    out[#out + 1] = "engine parallel: " .. ctx.sweepdir .. "/parallel/parallel.sh:"
    out[#out + 1] = script
    out[#out + 1] = ctx.sweepdir .. "/parallel/jobs.txt:"
    out[#out + 1] = jobs
  else
    local max = ctx.max_array or 1001
    out[#out + 1] = "engine slurm:"
    for offset = 0, #todo - 1, max do
      out[#out + 1] = M.command_line(M.sbatch_argv(ctx, math.min(max, #todo - offset), offset))
    end
    out[#out + 1] = ctx.sweepdir .. "/slurm/sweep.sbatch:"
    out[#out + 1] = M.sbatch_script(todo, ctx)
  end
  return table.concat(out, "\n") .. "\n"
end

local function status_table(entries, ctx)
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

-- runs the sweep described by o; returns the exit status
local function main(o, env)
  local out = env.stdout or io.stdout
  if mode(o.script) ~= "file" then fail("cannot open script '%s'", o.script) end
  -- slurm: while an array of this sweep is queued its runs may still start; never submit them twice
  local active_ids
  local env2 = setmetatable({}, {__index = env})
  if o.engine == "slurm" and have("squeue") then
    local name = o.name or (o.script:match("([^/]*)$"):gsub("%.lua$", ""))
    local sweepdir = absolute(o.runs, env.cwd):gsub("(.)/+$", "%1") .. "/" .. name
    local ids = read_jobs{sweepdir = sweepdir}
    if #ids > 0 then
      local active = squeue_active(ids)
      if active then
        active_ids = active
        if #active == 0 then env2.queue_empty = true end
      end
    end
  end
  local entries, ctx = M.plan(o, env2)
  ctx.stdout = out
  for _, e in ipairs(entries) do
    if e.action == "skip" or e.action == "running" then M.refresh(e, ctx) end
  end
  if o.status then
    for _, e in ipairs(entries) do M.refresh(e, ctx) end
    if mode(ctx.sweepdir) == "directory" then write_tsv(entries, ctx) end
    out:write(status_table(entries, ctx))
    return 0
  end
  if o.dry_run then
    if o.engine == "slurm" and have("scontrol") then ctx.max_array = M.max_array_size() end
    out:write(M.dry_run_text(entries, ctx))
    return 0
  end
  if active_ids and #active_ids > 0 then
    local list = table.concat(active_ids, ",")
    fail("array job(s) %s of this sweep are still queued or running (squeue -j %s): wait for them, or scancel %s, then run the sweep again",
         list, list, list)
  end
  local todo = todo_of(entries)
  mkdirs(ctx.sweepdir .. "/logs")
  for _, e in ipairs(todo) do e.state = "pending"; remove_exit(e, ctx); M.refresh(e, ctx) end
  local rep = new_reporter(entries, ctx)
  rep.ctx = ctx
  local n = {}
  for _, e in ipairs(entries) do n[e.action] = (n[e.action] or 0) + 1 end
  local how = ctx.engine == "slurm" and ("slurm, %s cpu(s) per run"):format(ctx.cpus)
    or ("%s, %d at a time, %s thread(s) each"):format(ctx.engine, math.min(ctx.jobs, math.max(#todo, 1)),
                                                      ctx.threads or "all")
  rep:say(("sweep %s: %d run(s): %d new, %d to resume, %d done, %d running elsewhere (%s); folder %s"):format(
    ctx.name, #entries, n.new or 0, n.resume or 0, n.skip or 0, n.running or 0, how, shown(ctx.sweepdir, ctx.cwd)))
  for _, e in ipairs(entries) do
    if e.action == "resume" then rep:say(("rerun  %s (%s): ember run --resume %s"):format(e.name, e.reason, shown(e.dir, ctx.cwd))) end
  end
  write_tsv(entries, ctx)
  local status
  if #todo > 0 then
    if ctx.engine == "local" then status = run_local(todo, entries, ctx, rep)
    elseif ctx.engine == "parallel" then status = run_parallel(todo, entries, ctx, rep)
    else status = run_slurm(todo, entries, ctx, rep) end
  end
  rep:close()
  if status == "submitted" then return 0 end
  -- runs an interrupted sweep never started are new again for the next one
  local left = false
  for _, e in ipairs(todo) do
    if e.state == "pending" then e.state = nil; M.refresh(e, ctx); left = true end
  end
  if left then write_tsv(entries, ctx) end
  local failed = {}
  for _, e in ipairs(todo) do
    if not DONE[e.status] then failed[#failed + 1] = e end
  end
  out:write(("sweep %s: %s; %s\n"):format(ctx.name, rep:counts_text(), shown(ctx.sweepdir .. "/sweep.tsv", ctx.cwd)))
  for _, e in ipairs(failed) do
    if e.status == "new" then
      out:write(("  not started: %s\n"):format(e.name))
    else
      out:write(("  %s %s: log %s\n"):format(e.status, e.name, shown((log_paths(e, ctx)), ctx.cwd)))
    end
  end
  out:flush()
  if status == 130 then return 130 end
  return #failed > 0 and 1 or 0
end

--- sweep.cli(args [, env]) -> exit status of `ember sweep ARGS` (see sweep.spec): 0 every run done,
-- 1 a run failed (or the engine did), 2 bad usage, 130 interrupted. env (for tests): stdout, stderr,
-- exe, cwd, cores, host, tty.
function M.cli(args, env)
  return require("ember.cli").main("sweep", args, env)
end

--- sweep.main(o, env) -> exit status of `ember sweep` with the options ember.cli parsed
function M.main(o, env)
  env = env or {}
  local stderr = env.stderr or io.stderr
  local checked, why = validate(o)
  if not checked then usage_fail("%s", why) end
  local ok, res = xpcall(main, function(e)
    if E.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, o, env)
  if ok then return res end
  if is_interrupt(res) then
    stderr:write("ember sweep: interrupted\n")
    return 130
  elseif E.is(res, "usage") then
    error(res, 0)
  end
  stderr:write("ember sweep: ", E.message(res):gsub("^ember sweep: ", ""), "\n")
  return 1
end

return M
