-- ember.cli: the subcommands of the `ember` executable. main.c calls M.main(cmd, args) for
-- `ember run|plot|runs|sweep|eval|export|help ...` (and for -h, --help and options it does not know
-- itself) and exits with the status it returns: 0 ok, 1 error, 2 bad usage, 130 interrupted.
--
-- Each command is a module with `spec` (its declaration for ember.cli.args, which parses its command
-- line and writes its help and reference) and `main(options, env)`. Adding a command is one line in
-- COMMANDS below.
local E = require "ember.error"
local args = require "ember.cli.args"

local M = {}

-- name -> module, in the order help lists them
local COMMANDS = {
  {"run", "ember.cli.run", "run an experiment script in a run directory"},
  {"plot", "ember.plot", "draw the curves of runs with gnuplot"},
  {"runs", "ember.cli.runs", "list the runs below a folder"},
  {"sweep", "ember.sweep", "run a script over a grid or random draws of its config"},
  {"eval", "ember.cli.eval", "a run's classifier on data: confusion matrix and per-class metrics"},
  {"export", "ember.cli.export", "a run's weights as safetensors or npz"},
  {"help", false, "the usage of ember or of one command or topic"},
}

M.commands = {}
for _, c in ipairs(COMMANDS) do M.commands[c[1]] = c[2] end

-- topics of `ember help` that are not commands
local TOPICS = {
  config = [[
ember.config{defaults} returns the resolved configuration: the defaults with `ember run --set k=v`
overrides. A value is parsed by the type of its default: number (finite; an integer default takes
integers), boolean (true/false, yes/no, on/off, 1/0), string, or a comma-separated list. A default
ember.choice{"cosine", "step"} takes one of its choices, ember.number{0.01, min = 0, max = 1} a number
within its bounds. An unknown key or a value its default does not allow is an error (exit 2).]],
  fit = [[
ember.fit{model, loss, optimizer, train, valid, epochs, batch, schedule, stop, run, metrics = {"accuracy"},
clip, on_epoch} trains, logs one row per epoch (epoch, step, train_loss, valid_loss, metrics, lr, time)
to the run, writes last.ckpt every epoch and best.ckpt on improvement, and returns the history.
Ctrl-C finishes the step, saves last.ckpt and exits with 130; `ember run --resume RUNDIR` continues.]],
}

--- cli.spec(name) -> the argument declaration of command name (see ember.cli.args), or nil
function M.spec(name)
  local modname = M.commands[name]
  if not modname then return nil end
  return require(modname).spec
end

--- cli.usage() -> the general usage text of `ember` (`ember --help`)
function M.usage()
  local out = {
    "usage: ember [--threads T] [SCRIPT.lua [args] | -e CODE | COMMAND ...]",
    "  ember                       interactive session (REPL)",
    "  ember SCRIPT.lua [args]     run a script (arg table as in lua)",
    "  ember -e 'CODE'             run a string",
  }
  for _, c in ipairs(COMMANDS) do
    if c[2] then
      local line = args.usage_lines(require(c[2]).spec):gsub("^usage: ", ""):match("^[^\n]*")
      out[#out + 1] = "  " .. line
    end
  end
  out[#out + 1] = "  ember help [COMMAND|TOPIC]  this text, a command's options, or a topic"
  out[#out + 1] = "  ember --version             version, BLAS kernel and threads"
  out[#out + 1] = "Global option: --threads T (or EMBER_NUM_THREADS) sets the threads of every pool."
  local topics = {}
  for _, c in ipairs(COMMANDS) do if c[2] then topics[#topics + 1] = c[1] end end
  for k in pairs(TOPICS) do topics[#topics + 1] = k end
  table.sort(topics)
  out[#out + 1] = "Help topics: " .. table.concat(topics, ", ") .. "."
  return table.concat(out, "\n")
end

local function help(words, env)
  local out = env.stdout or io.stdout
  local topic = words[1]
  if topic == nil then out:write(M.usage(), "\n"); return 0 end
  if M.commands[topic] then out:write(args.help(M.spec(topic)), "\n"); return 0 end
  if TOPICS[topic] then out:write(TOPICS[topic], "\n"); return 0 end
  local names = {}
  for _, c in ipairs(COMMANDS) do if c[2] then names[#names + 1] = c[1] end end
  for k in pairs(TOPICS) do names[#names + 1] = k end
  table.sort(names)
  error(E.new("usage", "ember help", ("unknown topic '%s' (topics: %s)"):format(tostring(topic),
    table.concat(names, ", "))), 0)
end

--- cli.main(cmd, argv [, env]) -> exit status. cmd: a command name, or what main.c did not know
-- ("-h", "--help", a lone "-e", an unknown option); argv: the words after it; env (for tests): stdout,
-- stderr.
function M.main(cmd, argv, env)
  argv, env = argv or {}, env or {}
  local stderr = env.stderr or io.stderr
  local spec
  local ok, status = xpcall(function()
    if cmd == "-h" or cmd == "--help" then return help({}, env) end
    if cmd == "-e" then error(E.new("usage", "ember", "-e needs a chunk of Lua to run (ember -e 'CODE')"), 0) end
    if cmd == "help" then return help(argv, env) end
    local modname = M.commands[cmd]
    if not modname then
      if type(cmd) == "string" and cmd:sub(1, 1) == "-" then
        error(E.new("usage", "ember", ("unknown option '%s'"):format(cmd)), 0)
      end
      error(E.new("usage", "ember", ("unknown command '%s'"):format(tostring(cmd))), 0)
    end
    local mod = require(modname)
    spec = mod.spec
    local o = args.parse(spec, argv)
    if o.help then (env.stdout or io.stdout):write(args.help(spec), "\n"); return 0 end
    return mod.main(o, env)
  end, function(e)
    if E.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if ok then return math.tointeger(status) or (status and 1 or 0) end
  if E.is(status, "usage") then
    stderr:write(E.message(status), "\n")
    stderr:write(spec and args.usage_lines(spec) .. ("\n(%s --help for the options)"):format(spec.command)
                 or M.usage(), "\n")
    if stderr.flush then stderr:flush() end
    return 2
  end
  -- an error of the command itself is already named by it ("ember eval: ...")
  local prefix = (cmd and M.commands[cmd]) and ("ember " .. cmd .. ": ") or "ember: "
  local msg = E.message(status)
  if msg:sub(1, #prefix) == prefix then prefix = "" end
  stderr:write(prefix, msg, "\n")
  if E.is(status) and status.traceback then stderr:write(status.traceback, "\n") end
  if stderr.flush then stderr:flush() end
  return E.status(status)
end

return M
