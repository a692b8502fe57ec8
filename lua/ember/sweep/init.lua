-- ember.sweep: `ember sweep SCRIPT --grid k=v1,v2 ...` runs one experiment script over a grid and/or
-- seeded random draws of its config. Each run is an independent `ember run` process writing its own run
-- directory, started by a local process pool, by GNU parallel, or as one task of a Slurm job array.
-- docs/formats.md describes the sweep folder, docs/cli.md the command. The parts:
--   ember.sweep            this file: the command's declaration, the checks across options, main
--   ember.sweep.plan       the value grammar, the bound on the run count, the draws, names, the plan
--   ember.sweep.state      resume decisions from run directories, statuses, sweep.tsv
--   ember.sweep.report     the progress line, the closing summary, --status and --dry-run
--   ember.sweep.job        the argument list of each run, its sh form, external commands
--   ember.sweep.interrupt  what Ctrl-C and SIGTERM do to a running sweep
--   ember.sweep.local, .parallel, .slurm   the engines
-- What runs: `ember run` (from an argument list), and for the parallel and slurm engines the job
-- scripts the sweep writes, every word single-quoted (no user text is ever parsed by a shell). What is
-- only read: params.tsv, meta.tsv and metrics.tsv of run directories, logs/*.exit, slurm/jobs.tsv.
-- Exit status: 0 when every run is done, 1 when a run failed, diverged or was interrupted (or the
-- engine could not start), 2 bad usage, 130 interrupted.
local ember = require "ember"
local lfs = require "lfs"
local E = require "ember.error"
local util = require "ember.util"
local plan = require "ember.sweep.plan"
local state = require "ember.sweep.state"
local report = require "ember.sweep.report"
local filter = require "ember.runs.filter"

local M = {}

local function usage_fail(fmt, ...) error(E.new("usage", "ember sweep", string.format(fmt, ...)), 0) end
local function fail(fmt, ...) error(E.new("io", "ember sweep", string.format(fmt, ...)), 0) end
local function mode(p) return lfs.attributes(p, "mode") end

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
  options = filter.with_options{
    {"--grid", "K=V1,V2,...", many = true, dest = "keys", check = plan.parse_grid, help = "values of config key "
      .. "K (repeatable: the cartesian product); values holding a comma (lists) are separated by ';' instead: "
      .. "--grid 'betas=0.9,0.99;0.5,0.9'"},
    {"--random", "K=LO:HI[:log]", many = true, dest = "keys", check = plan.parse_random, help = "a value drawn "
      .. "uniformly (log: log-uniformly) from [LO, HI] per trial; integers when LO and HI are written as "
      .. "integers (repeatable; needs --trials)"},
    {"--trials", "N", type = "integer", min = 1, help = "number of random draws (times the grid when both are given)"},
    {"--random-seed", "S", type = "integer", default = 0,
      help = "seed of the random draws (default 0: the same command draws the same values)"},
    {"--seeds", "N", type = "integer", min = 1, help = "repeat every combination with ember run --seed 1..N"},
    {"--set", "K=V", many = true, check = plan.parse_set, help = "a fixed override passed to every run (repeatable)"},
    {"--engine", "E", choices = {"local", "parallel", "slurm"}, default = "local", help = "local (default): "
      .. "a pool of --jobs processes on this machine; parallel: GNU parallel (parallel/parallel.sh in the "
      .. "sweep folder); slurm: one sbatch job array, one task per run"},
    {"--jobs", "N", type = "integer", min = 1, help = "runs at a time (default: cores / threads; slurm: the array's %N throttle)"},
    {"--threads", "T", type = "integer", min = 1, help = "threads of each run (default 1 when several run at "
      .. "once; slurm: --cpus-per-task, else 1)"},
    {"--runs", "DIR", default = "runs", help = "root folder of run directories (default runs)"},
    {"--name", "N", help = "sweep name (default the script's file name without .lua)"},
    {"--dry-run", help = "print what would run and the commands (the first " .. report.SHOWN .. " runs), start "
      .. "nothing, write nothing"},
    {"--status", help = "refresh sweep.tsv from the run directories and print it, or with --where, --last "
      .. "and --match only the runs they keep; start nothing"},
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
  footer = "At most " .. plan.MAX_RUNS .. " runs per sweep. Resume: run the same command again. Finished and "
    .. "stopped-early runs are skipped; failed, interrupted and diverged ones continue in their own directory "
    .. "(ember run --resume); new combinations start. Ctrl-C: the runs save and stop (again: at once); the "
    .. "sweep waits for them. Exit status: 0 all runs done, 1 a run failed or the engine failed, 2 bad usage, "
    .. "130 interrupted.",
}

-- the keys named twice, and what --random, --trials and --seeds need of each other
local function check_keys(o)
  local owner = {}   -- key -> the option that named it first
  local function claim(key, where)
    if owner[key] then return ("key '%s' is given twice (%s and %s)"):format(key, owner[key], where) end
    owner[key] = where
  end
  for _, k in ipairs(o.keys) do
    local why = claim(k.key, "--" .. k.kind)
    if why then return why end
  end
  for _, kv in ipairs(o.set) do
    local why = claim(kv.key, "--set")
    if why then return why end
  end
  local has_random = false
  for _, k in ipairs(o.keys) do if k.kind == "random" then has_random = true end end
  if has_random and not o.trials then return "--random needs --trials N (the number of draws)" end
  if o.trials and not has_random then return "--trials needs at least one --random KEY=LO:HI" end
  if #o.keys == 0 and not o.seeds then return "nothing to sweep: give --grid, --random or --seeds" end
  if o.seeds and owner.seed then
    return ("--seeds gives each run its seed; 'seed' cannot also be in %s"):format(owner.seed)
  end
end

-- the options that belong to one engine
local function check_engine(o)
  if o.engine ~= "slurm" then
    for _, name in ipairs{"partition", "time", "cpus", "mem"} do
      if o[name] ~= nil then
        return ("--%s is an sbatch option: only with --engine slurm"):format(name == "cpus" and "cpus-per-task" or name)
      end
    end
    if #o.slurm_args > 0 then return "--slurm-arg is an sbatch option: only with --engine slurm" end
  end
  if o.engine ~= "parallel" and #o.parallel_args > 0 then
    return "--parallel-arg is only for --engine parallel"
  end
end

-- the checks that involve several options; returns o, or nil and a usage message
local function validate(o)
  local why = check_keys(o) or check_engine(o) or plan.check_count(o)
  if why then return nil, why end
  if not o.status and (#o.where > 0 or o.last or #o.match > 0) then
    return nil, "--where, --last and --match pick the runs --status shows: give --status"
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

-- slurm: while an array of this sweep is queued its runs may still start; returns the active job ids
-- (or nil when unknown) and the env for the plan (queue_empty when none is left)
local function slurm_queue(o, env)
  local env2 = setmetatable({}, {__index = env})
  if o.engine ~= "slurm" then return nil, env2 end
  local slurm = require "ember.sweep.slurm"
  local ids = slurm.read_jobs((plan.sweep_dir(o, env.cwd)))
  if #ids == 0 then return nil, env2 end
  local active = slurm.active(ids)
  if active and #active == 0 then env2.queue_empty = true end
  return active, env2
end

-- the summary line before the runs start, and the runs to resume
local function announce(rep, entries, todo, ctx)
  local n = {}
  for _, e in ipairs(entries) do n[e.action] = (n[e.action] or 0) + 1 end
  local how = ctx.engine == "slurm" and ("slurm, %s cpu(s) per run"):format(ctx.cpus)
    or ("%s, %d at a time, %s thread(s) each"):format(ctx.engine, math.min(ctx.jobs, math.max(#todo, 1)),
                                                      ctx.threads or "all")
  rep:say(("sweep %s: %d run(s): %d new, %d to resume, %d done, %d running elsewhere (%s); folder %s"):format(
    ctx.name, #entries, n.new or 0, n.resume or 0, n.skip or 0, n.running or 0, how, report.shown(ctx.sweepdir, ctx.cwd)))
  for _, e in ipairs(entries) do
    if e.action == "resume" then
      rep:say(("rerun  %s (%s): ember run --resume %s"):format(e.name, e.reason, report.shown(e.dir, ctx.cwd)))
    end
  end
end

-- starts the runs of the plan with its engine and reports; returns the exit status
local function execute(entries, ctx, out)
  local todo = report.todo(entries)
  local ok, err = util.mkdir_p(ctx.sweepdir .. "/logs")
  if not ok then fail("cannot create folder '%s/logs': %s", ctx.sweepdir, err) end
  for _, e in ipairs(todo) do e.state = "pending"; state.remove_exit(e, ctx); state.refresh(e, ctx) end
  local rep = report.new(entries, ctx)
  announce(rep, entries, todo, ctx)
  state.write_tsv(entries, ctx)
  local status
  if #todo > 0 then status = require("ember.sweep." .. ctx.engine).run(todo, entries, ctx, rep) end
  rep:close()
  if status == "submitted" then return 0 end
  -- runs an interrupted sweep never started are new again for the next one
  local left = false
  for _, e in ipairs(todo) do
    if e.state == "pending" then e.state = nil; state.refresh(e, ctx); left = true end
  end
  if left then state.write_tsv(entries, ctx) end
  local text, failed = report.closing(rep, todo, ctx)
  out:write(text)
  out:flush()
  if status == 130 then return 130 end
  return failed and 1 or 0
end

-- runs the sweep described by o; returns the exit status
local function run_sweep(o, env)
  local out = env.stdout or io.stdout
  if mode(o.script) ~= "file" then fail("cannot open script '%s'", o.script) end
  local active_ids, env2 = slurm_queue(o, env)
  local entries, ctx = plan.plan(o, env2)
  ctx.stdout = out
  for _, e in ipairs(entries) do
    if e.action == "skip" or e.action == "running" or o.status then state.refresh(e, ctx) end
  end
  if o.status then
    if mode(ctx.sweepdir) == "directory" then state.write_tsv(entries, ctx) end
    out:write(report.status_table(state.select(entries, o), ctx))
    return 0
  end
  if o.dry_run then
    if o.engine == "slurm" then ctx.max_array = require("ember.sweep.slurm").max_array_size() end
    out:write(report.dry_run_text(entries, ctx))
    return 0
  end
  if active_ids and #active_ids > 0 then
    local list = table.concat(active_ids, ",")
    fail("array job(s) %s of this sweep are still queued or running (squeue -j %s): wait for them, or scancel %s, "
      .. "then run the sweep again", list, list, list)
  end
  -- from here a Ctrl-C is a request the engine answers (ember.sweep.interrupt), not an error midway
  local graceful = ember._graceful(true)
  ember._reset_interrupts()
  local ok, res = pcall(execute, entries, ctx, out)
  ember._graceful(graceful)
  if not ok then error(res, 0) end
  return res
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
  local ok, res = xpcall(run_sweep, function(e)
    if E.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, o, env)
  if ok then return res end
  if E.is(res, "interrupted") then
    stderr:write("ember sweep: interrupted\n")
    return 130
  elseif E.is(res, "usage") then
    error(res, 0)
  end
  stderr:write("ember sweep: ", E.message(res):gsub("^ember sweep: ", ""), "\n")
  return 1
end

return M
