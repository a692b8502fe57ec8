-- ember.cli.run: `ember run SCRIPT`: runs an experiment script in a session that carries the command
-- line's choices to ember.config, ember.run and ember.fit (lua/ember/session.lua).
local ember = require "ember"
local E = require "ember.error"
local args = require "ember.cli.args"
local session = require "ember.session"
local lfs = require "lfs"

local M = {}

M.spec = {
  command = "ember run",
  usage = {"SCRIPT [options] [-- script args...]", "--resume RUNDIR [SCRIPT] [options]"},
  about = "Runs SCRIPT as an experiment: ember.config, ember.run and ember.fit in it see these options.",
  positional = {name = "script", metavar = "SCRIPT", max = 1, extra = "script arguments go after '--'"},
  rest = "script_args",
  options = {
    {"--set", "KEY=VALUE", many = true, check = args.key_value, help =
      "override a default of ember.config (repeatable); the value is parsed by the type of the default: "
      .. "numbers stay numbers (finite; integers for an integer default), booleans stay booleans "
      .. "(true/false); an ember.choice or ember.number default takes only the values it declares; no "
      .. "value may hold a control character (newline, tab, ...)"},
    {"--name", "NAME", help = "the experiment name (runs/NAME/...); default the name given to ember.run"},
    {"--runs", "DIR", help = "the root folder of run directories (default runs)"},
    {"--seed", "S", type = "integer", min = 0, help = "seed of ember's RNG (default the config's seed key, else 0)"},
    {"--threads", "T", type = "integer", min = 1, max = 1024, help = "threads of the compute pool (recorded in meta.tsv)"},
    {"--resume", "RUNDIR", help = "continue an interrupted or failed run in its own directory, with its own "
      .. "params; the script defaults to the one the run recorded, and is never one inside RUNDIR; refused "
      .. "while another process has the run open"},
    {"--quiet", help = "no progress output (stdout.log still gets the epoch lines)"},
    {"--live", help = "redraw the loss curves in the terminal after every epoch (needs gnuplot)"},
  },
  footer = "Exit status: 0 ok, 1 script error, 2 bad usage, 130 interrupted (Ctrl-C / SIGTERM / SIGHUP).",
}

local function say(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
  io.stderr:flush()
end

local usage_fail = E.raiser("ember run", "usage")

local function is_file(p)
  if lfs.attributes(p, "mode") ~= "file" then return false end
  local f = io.open(p, "rb")
  if not f then return false end
  f:close()
  return true
end

-- --set's list of {key, value} -> map and command-line order; a repeated key keeps its last value
local function set_map(list)
  local map, order = {}, {}
  for _, kv in ipairs(list) do
    if map[kv.key] == nil then order[#order + 1] = kv.key end
    map[kv.key] = kv.value
  end
  return map, order
end

-- a path as the terminal may show it: meta.tsv is anyone's text, escape sequences included
local function printable(path) return (path:gsub("%c", "?")) end

-- what --resume adds to the options: the run's seed and script; raises usage errors
local function resolve_resume(o)
  local runmod = require "ember.run"
  o.resume = o.resume:gsub("(.)/+$", "%1")
  local meta, reason = runmod.check_resumable(o.resume)
  if not meta then usage_fail("cannot resume: %s", reason) end
  if o.name or o.runs then usage_fail("--name and --runs cannot be used with --resume (the run keeps its directory)") end
  local seed = math.tointeger(tonumber(meta.seed or ""))
  if o.seed ~= nil and seed ~= nil and o.seed ~= seed then
    usage_fail("--seed %d differs from the resumed run's seed %d", o.seed, seed)
  end
  o.seed = o.seed or seed
  local recorded = not o.script
  if recorded then
    o.script = meta.script
    if not o.script then usage_fail("the run in '%s' does not record its script; give it", o.resume) end
  end
  local shown = printable(o.script)
  -- a run directory holds data, never code: whoever could write it must not choose what runs
  if require("ember.run.dir").contains(o.resume, o.script) then
    usage_fail("will not run '%s': it is inside the run directory '%s', and nothing in a run directory is "
      .. "executed; give a script outside it: ember run SCRIPT --resume %s", shown, o.resume, o.resume)
  end
  say("ember run: resuming %s with %s%s", o.resume, shown, recorded and " (the script its meta.tsv records)" or "")
end

-- the message handler of the script: a traceback down to the script's main chunk, except for errors
-- whose message says all there is to say
local function handler(m)
  local kind = E.kind(m)
  if kind == "usage" or kind == "interrupted" or kind == "diverged" then return m end
  local tb = debug.traceback(nil, 2)
  local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
  if E.is(m) then
    m.traceback = cut and tb:sub(1, cut - 1) or tb
    return m
  end
  local msg = type(m) == "string" and m or tostring(m)
  return msg .. "\n" .. (cut and tb:sub(1, cut - 1) or tb)
end

-- os.exit in the script: its runs are closed first, as when the script returns (finished after a
-- success code, failed otherwise), since exit skips everything that would close them
local function exit_closing(s, code)
  if code == nil or code == true or code == 0 then s:close_runs()
  else s:close_runs(E.new("value", "os.exit", ("the script exited with status %s"):format(tostring(code)))) end
  require("ember.run")._capture(false)
  io.stdout:flush()
end

-- runs the loaded script in a session; returns the exit status
local function run_script(o, chunk)
  local set, order = set_map(o.set)
  local s = session.begin{script = o.script, set = set, set_order = order, name = o.name, runs = o.runs,
                          seed = o.seed, resume = o.resume, quiet = o.quiet or false, live = o.live or false}
  local runmod = require "ember.run"
  local argt = {[0] = o.script}
  for i, a in ipairs(o.script_args) do argt[i] = a end
  local old_arg = rawget(_G, "arg")
  rawset(_G, "arg", argt)
  runmod._capture(true)
  local real_exit = os.exit
  os.exit = function(code, close)
    exit_closing(s, code)
    return real_exit(code, close)
  end
  local ok, e = ember._xpcall_unhooked(chunk, handler, table.unpack(o.script_args))
  os.exit = real_exit
  local status = 0
  if ok then
    s:close_runs()
    if #order > 0 and not s.config_called then
      say("ember run: warning: --set given but the script never called ember.config, so it had no effect")
    end
  else
    s:close_runs(e)
    status = E.status(e)
    if E.is(e, "usage") then say("ember run: %s", E.message(e))
    else
      say("ember: %s", tostring(e))
      if E.is(e) and e.traceback then say("%s", e.traceback) end
    end
  end
  runmod._capture(false)
  io.stdout:flush()
  session.finish()
  rawset(_G, "arg", old_arg)
  return status
end

--- cli.run.main(o) -> exit status of `ember run` with the parsed options o (see M.spec). Usage errors
-- are raised (ember.cli prints them with the usage text).
function M.main(o)
  if o.resume then resolve_resume(o) end
  if not o.script then usage_fail("give the script to run") end
  if o.threads then
    local ok, e = pcall(ember.set_num_threads, o.threads)
    if not ok then usage_fail("--threads %d: %s", o.threads, E.message(e)) end
  end
  if not is_file(o.script) then
    say("ember run: cannot open script '%s'", printable(o.script))
    return 1
  end
  local chunk, lerr = loadfile(o.script)
  if not chunk then
    say("ember: %s", lerr)   -- "script.lua:LINE: message"
    return 1
  end
  return run_script(o, chunk)
end

return M
