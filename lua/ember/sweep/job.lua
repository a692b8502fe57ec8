-- ember.sweep.job: what one run of a sweep executes, and the external commands the sweep asks things of.
--   run_argv     the argument list of `ember run` for a run (the local engine starts it as it is)
--   log header   the `== date host: command` line each attempt appends to logs/<run>.log
--   job_shell    the same run as sh code, for the engines that hand jobs to a shell (GNU parallel,
--                Slurm): every word single-quoted, so no user text is ever parsed by the shell
--   capture      a short command (sbatch, squeue, parallel --version) from an argument list, no shell
local ember = require "ember"
local lfs = require "lfs"
local E = require "ember.error"
local util = require "ember.util"
local state = require "ember.sweep.state"

local M = {}

--- job.quote(s) -> s as one sh word: inside single quotes, where only ' is special and becomes '\''.
-- Raises an error for a NUL byte (no sh word, and no command-line argument, can hold one).
function M.quote(s)
  s = tostring(s)
  if s:find("\0", 1, true) then error(E.new("value", "ember sweep", "an argument holds a NUL byte"), 0) end
  return util.shell_quote(s)
end
local quote = M.quote

--- job.command_line(argv) -> the sh command line running the list argv, every word quoted.
function M.command_line(argv)
  local out = {}
  for i, a in ipairs(argv) do out[i] = quote(a) end
  return table.concat(out, " ")
end

--- job.executable() -> the absolute path of the running ember executable (/proc/self/exe), else
-- "ember" (found on PATH when started).
function M.executable()
  local target = lfs.symlinkattributes("/proc/self/exe", "target")
  if type(target) == "string" and target:sub(1, 1) == "/" then return target end
  return "ember"
end

--- job.capture(argv) -> output, ok, missing: runs argv (no shell) and returns what it printed (stdout
-- and stderr), whether it exited with status 0, and true when the program could not be started.
function M.capture(argv)
  local out, code = ember._process.run(argv)
  if out == nil then return code, false, true end
  return out, code == 0, false
end

--- job.run_argv(e, ctx) -> the argument list of `ember run` for entry e. A new run:
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

--- job.header(argv [, where]) -> the line an attempt appends to its log before its output:
-- `== YYYY-mm-dd HH:MM:SS host[where]: command`
function M.header(argv, where)
  return ("== %s %s%s: %s\n"):format(os.date("%Y-%m-%d %H:%M:%S"), ember.hostname(), where or "", M.command_line(argv))
end

--- job.job_shell(e, ctx, engine [, index]) -> the sh code that runs entry e for a shell engine: the
-- header line appended to logs/<run>.log, then `ember run` with its output appended to the same log
-- and stdin from /dev/null, then its exit status written to logs/<run>.exit. "parallel": one job of
-- GNU parallel, printing `S index` before and `E index status` after (the sh ignores SIGINT and SIGTERM:
-- they are for the run); "slurm": the body of one array task.
function M.job_shell(e, ctx, engine, index)
  local log, exitf = state.log_paths(e, ctx)
  local cmd = M.command_line(M.run_argv(e, ctx))
  local where = engine == "slurm" and ' " (slurm job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID})"' or " ''"
  local head = ("printf '== %%s %%s%%s: %%s\\n' \"$(date '+%%Y-%%m-%%d %%H:%%M:%%S')\" \"$(uname -n)\"%s %s >>%s")
    :format(where, quote(cmd), quote(log))
  local io_redir = (" >>%s 2>&1 </dev/null"):format(quote(log))
  local done = ('rc=$?; echo "$rc" >%s'):format(quote(exitf))
  if engine == "parallel" then
    return ("trap '' INT TERM; echo \"S %d\"; %s; %s%s; %s; echo \"E %d $rc\"; exit \"$rc\"")
      :format(index, head, cmd, io_redir, done, index)
  end
  return ("%s; %s%s; %s; exit \"$rc\""):format(head, cmd, io_redir, done)
end

return M
