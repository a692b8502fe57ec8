-- ember.sweep.plan: from the command line to the list of runs.
--   the value grammar   --grid K=V1,V2 (or V1;V2), --random K=LO:HI[:log], --set K=V
--   count               how many runs the options make, checked against MAX_RUNS before anything is
--                       drawn or allocated
--   draw                seeded random draws (splitmix64: the same command draws the same values)
--   run_name, expand    the runs in order (grid, first key slowest; then the draws; then the seeds),
--                       each named by the params that vary
--   plan                every run with its resume decision (ember.sweep.state) and the engines' context
local ember = require "ember"
local lfs = require "lfs"
local E = require "ember.error"
local state = require "ember.sweep.state"
local job = require "ember.sweep.job"
local util = require "ember.util"

local M = {}

M.MAX_RUNS = 100000   -- runs per sweep: each is a process and a run directory
local MAX_NAME = 200  -- bytes of a run name; file names stop at 255

local usage_fail = E.raiser("ember sweep", "usage")
local fail = E.raiser("ember sweep", "io")

-- option values ------------------------------------------------------------------------------------------

local trim = util.trim

local function check_key(key, arg)
  if not key:match("^[%a_][%w_.-]*$") then
    return nil, ("%s: the key must be a config name (letters, digits, _ . -; got '%s')"):format(arg, key)
  end
  return key
end

--- plan.parse_grid(text) -> {key, kind = "grid", values}, or nil and a message (the check of --grid)
function M.parse_grid(text)
  local k, rest = text:match("^([^=]*)=(.*)$")
  if not k then return nil, ("needs KEY=V1,V2,... (got '%s')"):format(text) end
  local key, why = check_key(trim(k), text)
  if not key then return nil, why end
  local control = require("ember.config.parse").control_problem(key, rest)
  if control then return nil, ("%s: %s"):format(util.tsv_field(text), control) end
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

--- plan.parse_random(text) -> {key, kind = "random", lo, hi, log, int}, or nil and a message
function M.parse_random(text)
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

--- plan.parse_set(text) -> {key, value}, or nil and a message
function M.parse_set(text)
  local k, v = text:match("^([^=]*)=(.*)$")
  if not k then return nil, ("needs KEY=VALUE (got '%s')"):format(text) end
  local key, why = check_key(trim(k), text)
  if not key then return nil, why end
  local control = require("ember.config.parse").control_problem(key, v)
  if control then return nil, ("%s: %s"):format(util.tsv_field(text), control) end
  return {key = key, value = v}
end

--- plan.count(o) -> n, factors: the number of runs the options o make before repeated draws are
-- dropped (each grid's value count, the trials and the seeds multiplied; math.huge when that does not
-- fit an integer) and the factors as text ("lr 1000 x opt 3 x seeds 5")
function M.count(o)
  local n, factors = 1, {}
  local function times(what, k)
    factors[#factors + 1] = what .. " " .. k
    if n ~= math.huge then n = n > math.maxinteger // k and math.huge or n * k end   -- k >= 1
  end
  for _, k in ipairs(o.keys or {}) do
    if k.kind == "grid" then times(k.key, #k.values) end
  end
  if o.trials then times("trials", o.trials) end
  if o.seeds then times("seeds", o.seeds) end
  return n, table.concat(factors, " x ")
end

--- plan.check_count(o) -> nil, or a usage message when o makes more than MAX_RUNS runs
function M.check_count(o)
  local n, factors = M.count(o)
  if n <= M.MAX_RUNS then return nil end
  local count = n == math.huge and "more than 2^63" or ("%d"):format(n)
  return ("this sweep would make %s runs (%s); at most %d runs per sweep: sweep fewer values, or split it "
    .. "into sweeps with their own --name"):format(count, factors, M.MAX_RUNS)
end

-- random draws --------------------------------------------------------------------------------------------

-- splitmix64 (Steele, Lea and Flood 2014, "Fast splittable pseudorandom number generators"): a stream of
-- 64-bit integers from one integer state; Lua integers wrap like uint64_t and >> is a logical shift.
local function splitmix(s)
  s = s + 0x9E3779B97F4A7C15
  local z = s
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return s, z ~ (z >> 31)
end

--- plan.format_draw(v, int) -> the text passed to --set for a drawn value: an integer, or 4 significant
-- digits (so the run name and the value the run gets agree).
function M.format_draw(v, int)
  if int then return string.format("%d", v) end
  return string.format("%.4g", v)
end

-- one value of spec s from u, uniform in [0, 1)
local function draw_value(s, u)
  if s.int then
    local v
    if s.log then
      local a, b = math.log(s.lo), math.log(s.hi + 1)
      v = math.floor(math.exp(a + u * (b - a)))
    else
      v = s.lo + math.floor(u * (s.hi - s.lo + 1))
    end
    return math.tointeger(math.max(s.lo, math.min(s.hi, v)))
  elseif s.log then
    local a, b = math.log(s.lo), math.log(s.hi)
    return math.exp(a + u * (b - a))
  end
  return s.lo + u * (s.hi - s.lo)
end

--- plan.draw(specs, n, seed) -> list of n draws, each a table key -> value text. specs: the random
-- keys ({key, lo, hi, log, int}); seed: an integer (same seed, same draws, on every machine). A float
-- is lo + u (hi - lo), or exp(log lo + u (log hi - log lo)) with log; an integer is uniform over
-- lo..hi (log: over log lo .. log(hi + 1), floored), u uniform in [0, 1) from the top 53 bits.
function M.draw(specs, n, seed)
  local s = math.tointeger(seed) or 0
  local out = {}
  for t = 1, n do
    local d = {}
    for _, spec in ipairs(specs) do
      local z
      s, z = splitmix(s)
      d[spec.key] = M.format_draw(draw_value(spec, (z >> 11) * 2.0 ^ -53), spec.int)
    end
    out[t] = d
  end
  return out
end

-- the runs -------------------------------------------------------------------------------------------------

local function encode(v)
  return (v:gsub("[%%/%c]", function(c) return ("%%%02X"):format(c:byte()) end))
end

--- plan.run_name(point, varying) -> the run's name: `k=v` for each key of varying (a list) joined by
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

-- the points of the grid crossed with the draws and the seeds, without repeats; returns points, dropped
local function cross(o, grid, draws, seeds)
  local points, seen, dropped, cur = {}, {}, 0, {}
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
  return points, dropped
end

--- plan.expand(o) -> points, info. o: options from sweep.parse. Each point is {values = {key = text},
-- seed = n or nil, name}; the order is the grid (first key slowest), then the random draws, then the
-- seeds. Points that repeat an earlier one (equal integer draws) are dropped. info: {keys = every swept
-- key in command-line order, varying = the keys (and "seed") that differ between points, dropped = n}.
-- Raises a usage error, before drawing anything, when o makes more than MAX_RUNS runs.
function M.expand(o)
  local too_many = M.check_count(o)
  if too_many then usage_fail("%s", too_many) end
  local grid, random = {}, {}
  for _, k in ipairs(o.keys) do
    if k.kind == "grid" then grid[#grid + 1] = k else random[#random + 1] = k end
  end
  local draws = #random > 0 and M.draw(random, o.trials, o.random_seed) or {{}}
  local seeds = o.seeds or 0
  local points, dropped = cross(o, grid, draws, seeds)
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

-- the plan -------------------------------------------------------------------------------------------------

local function absolute(p, cwd)
  if p:sub(1, 1) == "/" then return p end
  p = p:gsub("^%./", "")
  if p == "." then return cwd end
  return cwd .. "/" .. p
end

--- plan.sweep_dir(o [, cwd]) -> the sweep folder (absolute) and the sweep's name: --runs / --name, the
-- name defaulting to the script's file name without .lua. Raises a usage error when there is none.
function M.sweep_dir(o, cwd)
  cwd = cwd or lfs.currentdir()
  local name = o.name or (o.script:match("([^/]*)$"):gsub("%.lua$", ""))
  if name == "" or name == "." or name == ".." then usage_fail("cannot name the sweep after '%s': give --name", o.script) end
  local root = absolute(o.runs, cwd):gsub("(.)/+$", "%1")
  return root .. "/" .. name, name
end

-- the engines' context: where, what and how many at a time
local function context(o, env, cwd, info)
  local sweepdir, name = M.sweep_dir(o, cwd)
  local ctx = {exe = env.exe or job.executable(), script = absolute(o.script, cwd), name = name, sweepdir = sweepdir,
               keys = info.keys, varying = info.varying, dropped = info.dropped, set = o.set, seeds = o.seeds,
               script_args = o.script_args, engine = o.engine, cwd = cwd, wait = o.wait,
               partition = o.partition, time = o.time, mem = o.mem, slurm_args = o.slurm_args,
               parallel_args = o.parallel_args, stdout = env.stdout, tty = env.tty,
               host = env.host or ember.hostname()}
  if o.engine == "slurm" then
    ctx.threads = o.threads or o.cpus or 1
    ctx.cpus = o.cpus or ctx.threads
    ctx.jobs = o.jobs
  else
    ctx.threads = o.threads
    if not ctx.threads and (o.jobs == nil or o.jobs > 1) then ctx.threads = 1 end
    ctx.jobs = o.jobs or math.max(1, (env.cores or ember._process.cpus()) // (ctx.threads or 1))
  end
  return ctx
end

--- plan.plan(o [, env]) -> entries, ctx: every run of the sweep with its resume decision (e.action,
-- e.reason) and the context the engines use. o: options from sweep.parse; env (for tests): exe, cwd,
-- cores, host, alive(pid), queue_empty. Raises usage errors (params that disagree with a run directory).
function M.plan(o, env)
  env = env or {}
  local cwd = env.cwd or lfs.currentdir()
  M.sweep_dir(o, cwd)   -- a usage error before the expansion
  local points, info = M.expand(o)
  local ctx = context(o, env, cwd, info)
  local dctx = {sweepdir = ctx.sweepdir, host = ctx.host, alive = env.alive or ember._process.alive,
                rerun_running = o.rerun_running, queue_empty = env.queue_empty, set = o.set}
  local entries = {}
  for i, p in ipairs(points) do
    local e = {i = i, name = p.name, values = p.values, seed = p.seed}
    e.action, e.reason = state.decide(e, dctx)
    entries[i] = e
  end
  return entries, ctx
end

return M
