-- ember.cli: the subcommands of the `ember` executable. main.c calls
-- M.main(cmd, args) for `ember run|plot|runs|sweep|help ...` and exits with the status it returns:
-- 0 ok, 1 script error, 2 bad usage, 130 interrupted.
local ember = require "ember"

local M = {}

M.usage = {
  run = [[
usage: ember run SCRIPT [options] [-- script args...]
       ember run --resume RUNDIR [SCRIPT] [options]
Runs SCRIPT as an experiment: ember.config, ember.run and ember.fit in it see these options.
  --set KEY=VALUE   override a default of ember.config (repeatable); the value is parsed by the type
                    of the default: numbers stay numbers, booleans stay booleans (true/false)
  --name NAME       the experiment name (runs/NAME/...); default the name given to ember.run
  --runs DIR        the root folder of run directories (default runs)
  --seed S          seed of ember's RNG (default the config's seed key, else 0)
  --threads T       threads of the compute pool (recorded in meta.tsv)
  --resume RUNDIR   continue an interrupted or failed run in its own directory, with its own params;
                    the script defaults to the one the run recorded
  --quiet           no progress output (stdout.log still gets the epoch lines)
  --live            redraw the loss curves in the terminal after every epoch (needs gnuplot)
Exit status: 0 ok, 1 script error, 2 bad usage, 130 interrupted (Ctrl-C / SIGTERM).]],
  runs = [[
usage: ember runs [DIR] [--tsv]
Lists the runs below DIR (default runs), oldest first: name, id, status, the params that differ
between the runs, the main metric (the monitored one, else valid_loss, else train_loss) with its best
and last value, the last epoch logged and the duration. --tsv prints the same as tab-separated values
(duration in seconds) for scripts.]],
  help = [[
usage: ember help [TOPIC]
Topics: run, plot, runs, sweep, config, fit.]],
  config = [[
ember.config{defaults} returns the resolved configuration: the defaults with `ember run --set k=v`
overrides. A value is parsed by the type of its default: number, boolean (true/false, yes/no, on/off,
1/0), string, or a comma-separated list. An unknown key is an error listing the known keys (exit 2).]],
  fit = [[
ember.fit{model, loss, optimizer, train, valid, epochs, batch, schedule, stop, run, metrics = {"accuracy"},
clip, on_epoch} trains, logs one row per epoch (epoch, step, train_loss, valid_loss, metrics, lr, time)
to the run, writes last.ckpt every epoch and best.ckpt on improvement, and returns the history.
Ctrl-C finishes the step, saves last.ckpt and exits with 130; `ember run --resume RUNDIR` continues.]],
}

local function general_usage()
  return [[
usage: ember COMMAND ...
  ember SCRIPT.lua [args]     run a script
  ember run SCRIPT [--set k=v]... [--name N] [--runs DIR] [--seed S] [--threads T] [--resume RUNDIR]
                   [--quiet] [--live]
  ember plot PATH... [--metric M] [--x epoch|step|time] [--out FILE] [--term png|svg|pdf|dumb] [--by P]
  ember runs [DIR] [--tsv]
  ember sweep SCRIPT --grid k=v1,v2 [--grid ...] [--jobs N] [--engine local|parallel|slurm]
  ember --version | ember help [TOPIC]
Topics: run, plot, runs, sweep, config, fit.]]
end

local function err(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
  io.stderr:flush()
end

-- `ember run` --------------------------------------------------------------------------------------------------

local VALUE_OPTS = {set = true, name = true, runs = true, seed = true, threads = true, resume = true}
local FLAG_OPTS = {quiet = true, live = true, help = true}

--- cli.parse_run(args) -> options table {script, script_args, set = {k = "v"}, set_order, name, runs,
-- seed, threads, resume, quiet, live, help}, or nil and a usage message.
function M.parse_run(args)
  local o = {set = {}, set_order = {}, script_args = {}}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      if not o.script then
        if not args[i + 1] then return nil, "'--' must be followed by the script" end
        o.script = args[i + 1]
        i = i + 1
      end
      for j = i + 1, #args do o.script_args[#o.script_args + 1] = args[j] end
      break
    elseif a == "-h" then
      o.help = true
    elseif a:sub(1, 2) == "--" then
      local name, value = a:match("^%-%-([%w_-]+)=(.*)$")
      if not name then name = a:sub(3) end
      if VALUE_OPTS[name] then
        if value == nil then
          value = args[i + 1]
          if value == nil then return nil, ("--%s needs a value"):format(name) end
          i = i + 1
        end
        if name == "set" then
          local k, v = value:match("^([^=]+)=(.*)$")
          if not k then return nil, ("--set needs KEY=VALUE (got '%s')"):format(value) end
          k = k:match("^%s*(.-)%s*$")
          if o.set[k] == nil then o.set_order[#o.set_order + 1] = k end
          o.set[k] = v
        elseif name == "seed" or name == "threads" then
          local n = math.tointeger(tonumber(value))
          if n == nil or (name == "threads" and n < 1) or (name == "seed" and n < 0) then
            return nil, ("--%s needs a %s integer (got '%s')"):format(name, name == "threads" and "positive" or "non-negative", value)
          end
          o[name] = n
        else
          if value == "" then return nil, ("--%s needs a non-empty value"):format(name) end
          o[name] = value
        end
      elseif FLAG_OPTS[name] and value == nil then
        o[name] = true
      else
        return nil, ("unknown option '%s'"):format(a)
      end
    elseif not o.script then
      o.script = a
    else
      return nil, ("unexpected argument '%s' (script arguments go after '--')"):format(a)
    end
    i = i + 1
  end
  if o.help then return o end
  if not o.script and not o.resume then return nil, "give the script to run" end
  return o
end

local function is_file(p)
  if require("lfs").attributes(p, "mode") ~= "file" then return false end
  local f = io.open(p, "rb")
  if not f then return false end
  f:close()
  return true
end

local function first_line(s) return (tostring(s):match("^[^\n]*")) end

function M.run(args)
  local o, why = M.parse_run(args)
  if not o then
    err("ember run: %s", why)
    err("%s", M.usage.run)
    return 2
  end
  if o.help then print(M.usage.run); return 0 end
  local runmod = require "ember.run"
  if o.resume then
    o.resume = o.resume:gsub("(.)/+$", "%1")
    local meta, reason = runmod.check_resumable(o.resume)
    if not meta then err("ember run: cannot resume: %s", reason); return 2 end
    if o.name or o.runs then err("ember run: --name and --runs cannot be used with --resume (the run keeps its directory)"); return 2 end
    local seed = math.tointeger(tonumber(meta.seed or ""))
    if o.seed ~= nil and seed ~= nil and o.seed ~= seed then
      err("ember run: --seed %d differs from the resumed run's seed %d", o.seed, seed)
      return 2
    end
    o.seed = o.seed or seed
    if not o.script then
      o.script = meta.script
      if not o.script then err("ember run: the run in '%s' does not record its script; give it", o.resume); return 2 end
    end
  end
  if o.threads then
    local ok, e = pcall(ember.set_num_threads, o.threads)
    if not ok then err("ember run: --threads %d: %s", o.threads, first_line(e)); return 2 end
  end
  if not is_file(o.script) then
    err("ember run: cannot open script '%s'", o.script)
    return 1
  end
  local chunk, lerr = loadfile(o.script)
  if not chunk then
    err("ember: %s", lerr)   -- "script.lua:LINE: message"
    return 1
  end
  local cli = {script = o.script, set = o.set, set_order = o.set_order, name = o.name, runs = o.runs,
               seed = o.seed, resume = o.resume, quiet = o.quiet or false, live = o.live or false}
  rawset(ember, "_cli", cli)
  local argt = {[0] = o.script}
  for i, a in ipairs(o.script_args) do argt[i] = a end
  local old_arg = rawget(_G, "arg")
  rawset(_G, "arg", argt)
  runmod._seeded = nil
  runmod._capture(true)
  local ok, e = xpcall(chunk, function(m)
    local msg = type(m) == "string" and m or tostring(m)
    -- messages that say all there is to say: no traceback
    if cli.usage_error or msg:find("interrupted!", 1, true) or msg:find("^ember%.fit: training diverged") then
      return msg
    end
    -- the traceback down to the script's main chunk; the frames of this runner are noise
    local tb = debug.traceback(msg, 2)
    local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
    return cut and tb:sub(1, cut - 1) or tb
  end, table.unpack(o.script_args))
  local status = 0
  if ok then
    runmod.close_all()
    if #o.set_order > 0 and not cli.config_called then
      err("ember run: warning: --set given but the script never called ember.config, so it had no effect")
    end
  else
    local msg = tostring(e)
    runmod.close_all(msg)
    if cli.usage_error and msg == cli.usage_error then
      err("ember run: %s", msg)
      status = 2
    elseif msg:find("interrupted!", 1, true) then
      err("ember: %s", msg)
      status = 130
    else
      err("ember: %s", msg)
      status = 1
    end
  end
  runmod._capture(false)
  io.stdout:flush()
  rawset(ember, "_cli", nil)
  rawset(_G, "arg", old_arg)
  return status
end

-- `ember runs` ---------------------------------------------------------------------------------------------------

local function parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, se = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  return os.time{year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
                 min = tonumber(mi), sec = tonumber(se)}
end

local function fmt_duration(s)
  if s == nil then return "" end
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

local function short_num(v)
  if v == nil then return "" end
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.4g", v)
end

local function full_num(v)
  if v == nil then return "" end
  if type(v) ~= "number" then return tostring(v) end
  return require("ember.config").number_text(v)
end

-- the run's main metric, its mode, best and last values
local function main_metric(run)
  local has = {}
  for _, c in ipairs(run.columns) do has[c] = true end
  local m = run.meta.monitor
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
  if not m then return nil end
  local mode = run.meta.mode
  if mode ~= "min" and mode ~= "max" then mode = m:find("acc") and "max" or "min" end
  local best, last
  for _, row in ipairs(run.rows) do
    local v = row[m]
    if type(v) == "number" then
      last = v
      if v == v and (best == nil or (mode == "min" and v < best) or (mode == "max" and v > best)) then best = v end
    end
  end
  return m, best, last
end

--- cli.runs_table(dir) -> header (list of column names), rows (lists of display values), tsv rows
-- (lists of exact values); the data of `ember runs`. Raises an error naming dir when it is not a folder.
function M.runs_table(dir)
  local runs = require "ember.runs"
  local list = {}
  for _, d in ipairs(runs.find(dir)) do
    local ok, r = pcall(runs.read, d)
    if ok then list[#list + 1] = r else err("ember runs: skipping %s: %s", d, first_line(r)) end
  end
  table.sort(list, function(a, b)
    local ta, tb = a.meta.start_time or "", b.meta.start_time or ""
    if ta ~= tb then return ta < tb end
    return a.dir < b.dir
  end)
  local keys = #list > 1 and runs.differing_params(list) or {}
  local header = {"name", "id", "status"}
  for _, k in ipairs(keys) do header[#header + 1] = k end
  for _, c in ipairs{"metric", "best", "last", "epoch", "duration"} do header[#header + 1] = c end
  local shown, exact = {}, {}
  local now = os.time()
  for _, r in ipairs(list) do
    local m, best, last = main_metric(r)
    local epochs
    for _, row in ipairs(r.rows) do
      if type(row.epoch) == "number" then epochs = row.epoch end
    end
    epochs = epochs or #r.rows
    local t0, t1 = parse_time(r.meta.start_time), parse_time(r.meta.end_time)
    if not t1 and r.meta.status == "running" then t1 = now end
    local dur = t0 and t1 and math.max(0, t1 - t0) or nil
    local a = {r.name, r.id, r.meta.status or "?"}
    local b = {r.name, r.id, r.meta.status or ""}
    for _, k in ipairs(keys) do
      a[#a + 1] = r.params[k] or "-"
      b[#b + 1] = r.params[k] or ""
    end
    a[#a + 1], b[#b + 1] = m or "-", m or ""
    a[#a + 1], b[#b + 1] = short_num(best), full_num(best)
    a[#a + 1], b[#b + 1] = short_num(last), full_num(last)
    a[#a + 1], b[#b + 1] = tostring(epochs), tostring(epochs)
    a[#a + 1], b[#b + 1] = fmt_duration(dur), dur and tostring(dur) or ""
    shown[#shown + 1], exact[#exact + 1] = a, b
  end
  return header, shown, exact
end

local function tsv_field(s) return (tostring(s):gsub("[%c]", " ")) end

function M.runs(args)
  local dir, tsv = nil, false
  for _, a in ipairs(args) do
    if a == "--tsv" then tsv = true
    elseif a == "-h" or a == "--help" then print(M.usage.runs); return 0
    elseif a:sub(1, 1) == "-" then
      err("ember runs: unknown option '%s'", a); err("%s", M.usage.runs); return 2
    elseif dir then
      err("ember runs: give one folder (got '%s' and '%s')", dir, a); return 2
    else dir = a end
  end
  dir = dir or "runs"
  if require("lfs").attributes(dir, "mode") ~= "directory" then
    err("ember runs: no such directory '%s'", dir)
    return 1
  end
  local ok, header, shown, exact = pcall(M.runs_table, dir)
  if not ok then
    err("ember runs: %s", (tostring(header):gsub("^[^\n]-:%d+: ", "")))
    return 1
  end
  if tsv then
    local out = {}
    local h = {}
    for i, c in ipairs(header) do h[i] = tsv_field(c) end
    out[1] = table.concat(h, "\t")
    for _, row in ipairs(exact) do
      local f = {}
      for i, v in ipairs(row) do f[i] = tsv_field(v) end
      out[#out + 1] = table.concat(f, "\t")
    end
    io.stdout:write(table.concat(out, "\n"), "\n")
    return 0
  end
  if #shown == 0 then
    print(("no runs below %s"):format(dir))
    return 0
  end
  local width = {}
  for i, c in ipairs(header) do width[i] = #c end
  for _, row in ipairs(shown) do
    for i, v in ipairs(row) do
      v = tsv_field(v)
      row[i] = v
      local len = utf8.len(v) or #v
      if len > width[i] then width[i] = len end
    end
  end
  local numeric = {best = true, last = true, epoch = true, duration = true}
  local function line(cells)
    local parts = {}
    for i, v in ipairs(cells) do
      local pad = string.rep(" ", width[i] - (utf8.len(v) or #v))
      parts[i] = numeric[header[i]] and pad .. v or v .. pad
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  print(line(header))
  for _, row in ipairs(shown) do print(line(row)) end
  return 0
end

-- dispatch ---------------------------------------------------------------------------------------------------------

function M.help(args)
  local topic = args[1]
  if topic == nil then print(general_usage()); return 0 end
  if topic == "plot" then
    local ok, plot = pcall(require, "ember.plot")
    if ok and plot.usage then print(plot.usage); return 0 end
  elseif topic == "sweep" then
    local ok, sweep = pcall(require, "ember.sweep")
    if ok and type(sweep) == "table" and sweep.usage then print(sweep.usage); return 0 end
    print("usage: ember sweep SCRIPT --grid k=v1,v2 [--grid ...] [--jobs N] [--engine local|parallel|slurm]")
    return 0
  elseif M.usage[topic] then
    print(M.usage[topic])
    return 0
  end
  err("ember help: unknown topic '%s' (topics: run, plot, runs, sweep, config, fit)", tostring(topic))
  return 2
end

local function sweep(args)
  local ok, mod = pcall(require, "ember.sweep")
  if not ok then
    if tostring(mod):find("module 'ember.sweep' not found", 1, true) then
      err("ember sweep: not available in this build (the module ember.sweep is missing)")
    else
      err("ember sweep: %s", tostring(mod))
    end
    return 1
  end
  return mod.cli(args)
end

--- cli.main(cmd, args) -> exit status. cmd: "run", "plot", "runs", "sweep" or "help"; args: the list of
-- arguments after the command.
function M.main(cmd, args)
  args = args or {}
  local status
  if cmd == "run" then status = M.run(args)
  elseif cmd == "plot" then status = require("ember.plot").cli(args)
  elseif cmd == "runs" then status = M.runs(args)
  elseif cmd == "sweep" then status = sweep(args)
  elseif cmd == "help" then status = M.help(args)
  else
    err("ember: unknown command '%s'", tostring(cmd))
    err("%s", general_usage())
    status = 2
  end
  return math.tointeger(status) or (status and 1 or 0)
end

return M
