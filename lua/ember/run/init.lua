-- ember.run: a run directory and its logger, `ember.run{name, config}` -> run (format: docs/formats.md).
--
-- runs/<name>/<YYYYmmdd-HHMMSS>-<id>/ holds params.tsv (the resolved config), meta.tsv (provenance and
-- status: ember.run.meta), metrics.tsv (one row per run:log: ember.run.metrics), stdout.log (what the
-- script prints while the run is open: ember.run.tee) and the checkpoints ember.fit writes.
-- Nothing in a run directory is ever executed or loaded as code: params.tsv and meta.tsv are parsed as text.
--
-- Status (meta.tsv): running, then finished, stopped-early, diverged, failed or interrupted.
-- Under `ember run` the command closes every run the script opened: finished after a normal end,
-- failed after an error, interrupted after Ctrl-C, unless ember.fit already set a final status. In a
-- plain `ember script.lua`, write `local run <close> = ember.run{...}` (closing sets the status the same
-- way) or call run:finish().
--
-- Files: init.lua opens a run (new or resumed); object.lua is the run object's methods; dir.lua the
-- directory; meta.lua meta.tsv; metrics.lua metrics.tsv; tee.lua the copy of stdout.
local ember = require "ember"
local E = require "ember.error"
local session = require "ember.session"
local util = require "ember.util"
local dirs = require "ember.run.dir"
local meta = require "ember.run.meta"
local metrics = require "ember.run.metrics"
local tee = require "ember.run.tee"
local Run = require "ember.run.object"

local M = {}
M.Run = Run
M.STATUSES = Run.STATUSES
M.fnv1a64, M.basename, M.dirname = dirs.fnv1a64, dirs.basename, dirs.dirname
M.read_kv = util.read_kv
M._capture = tee.capture

local fail = E.raiser("ember.run", "value")
local show = util.show

-- the meta table of the run in dir, or nil and why it cannot be resumed, whoever holds its lock
local function resumable(dir)
  if type(dir) ~= "string" or dir == "" then return nil, "--resume needs a run directory" end
  if util.has_nul(dir) then return nil, ("a run directory cannot contain a NUL byte (got %s)"):format(show(dir)) end
  dir = dirs.strip_slash(dir)
  if not dirs.is_dir(dir) then return nil, ("'%s' is not a directory"):format(dir) end
  for _, f in ipairs{"meta.tsv", "params.tsv", "metrics.tsv"} do
    if not dirs.is_file(dir .. "/" .. f) then
      return nil, ("'%s' is not a run directory (no %s)"):format(dir, f)
    end
  end
  local link = dirs.find_link(dir)
  if link then
    return nil, ("'%s/%s' is a symbolic link: a run directory holds plain files, and a resumed run "
      .. "would write through it"):format(dir, link)
  end
  local m = util.read_kv(dir .. "/meta.tsv")
  local st = m.status
  if st == "finished" or st == "stopped-early" then
    return nil, ("run '%s' has status %s: there is nothing to resume"):format(dir, st)
  end
  return m
end

--- run.check_resumable(dir) -> meta table, or nil and a message saying why dir cannot be resumed: not
-- a run directory, a finished run, or a run another process has open (its lock is held).
function M.check_resumable(dir)
  local m, why = resumable(dir)
  if not m then return nil, why end
  local busy = dirs.holder(dirs.strip_slash(dir))
  if busy then return nil, busy end
  return m
end

local ARGS = {name = true, config = true, runs = true, seed = true}

local function script_path()
  local script = session.current().script
  if script then return script end
  local a = rawget(_G, "arg")
  if type(a) == "table" and type(a[0]) == "string" and a[0] ~= "-" then return a[0] end
  return nil
end

local function check_name(name)
  if type(name) ~= "string" or name == "" or name:find("/", 1, true) or name == "." or name == ".."
     or name:find("%c") then
    fail("name must be a non-empty string without '/' or control characters (got %s)", show(name))
  end
  return name
end

-- the seed of a new run: --seed, else the seed option, else config.seed, else the session's seed, else 0
local function new_seed(s, args, config)
  local seed = s.seed or args.seed
  if seed == nil and config.seed ~= nil then seed = config.seed end
  if seed == nil then seed = s.seeded or 0 end
  if math.type(seed) ~= "integer" then
    local n = math.tointeger(seed)
    if not n then fail("seed must be an integer (got %s)", show(seed)) end
    seed = n
  end
  return seed
end

-- params.tsv: the resolved config, sorted by key, values as ember.config.format writes them
local function write_params(self)
  local format = require("ember.config").format
  local keys = {}
  for k in pairs(self.config) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local lines = {}
  for _, k in ipairs(keys) do lines[#lines + 1] = meta.clean(k) .. "\t" .. meta.clean(format(self.config[k])) .. "\n" end
  local path = self.dir .. "/params.tsv"
  local ok, err = util.write_atomic(path, table.concat(lines))
  if not ok then E.raise("io", "ember.run", "cannot write '%s': %s", path, err) end
end

-- a new run: its directory, params.tsv, meta and an empty metrics.tsv
local function open_new(self, s, args)
  local name = s.name or args.name
  if name == nil and self.script then name = dirs.basename(self.script):gsub("%.lua$", "") end
  self.name = check_name(name or "run")
  local root = s.runs_root or args.runs or "runs"
  if type(root) ~= "string" or root == "" or util.has_nul(root) then
    fail("runs must be a folder name without a NUL byte (got %s)", show(root))
  end
  self.dir, self.id = dirs.create(root, self.name)
  self._lock = dirs.lock(self.dir, "ember.run")
  self.seed = new_seed(s, args, self.config)
  write_params(self)
  self.meta = meta.fresh(self)
  metrics.create(self)
end

-- `ember run --resume DIR`: the run reopens DIR with its own name, id and seed
local function open_resumed(self, s)
  local dir = dirs.strip_slash(s.resume)
  local _, why = M.check_resumable(dir)
  if why then E.raise("state", "ember.run", "cannot resume: %s", why) end
  self._lock = dirs.lock(dir, "ember.run")
  local m
  m, why = resumable(dir)   -- again under the lock: a process that had it may have finished the run
  if not m then E.raise("state", "ember.run", "cannot resume: %s", why) end
  dirs.remove_stale_temps(dir, self._lock ~= nil)
  self.dir = dir
  self.resumed = true
  self.id, self.name = dirs.basename(self.dir), dirs.basename(dirs.dirname(self.dir))
  self.meta = m
  self.seed = math.tointeger(tonumber(m.seed or "")) or 0
  meta.resume(self)
end

--- ember.run{name, config, runs = "runs", seed} -> a run (creates its directory; see the module comment).
-- name: default the script's file name without .lua (`--name` wins); config: default the table the last
-- ember.config call returned; runs: the root folder (`--runs` wins); seed: default --seed, else
-- config.seed, else 0: ember's RNG is seeded with it, unless ember.config already seeded it with the same
-- seed (so call ember.manual_seed after ember.run{}, or pass seed, to draw from another seed).
-- With `ember run --resume DIR` the run reopens DIR.
function M.new(args)
  if args == nil then args = {} end
  if type(args) ~= "table" then fail("expected a table such as {name = \"mlp\", config = cfg} (got %s)", show(args)) end
  for k in pairs(args) do
    if not ARGS[k] then fail("unknown option %s (options: config, name, runs, seed)", show(k)) end
  end
  local s = session.current()
  local config = args.config
  if config == nil then config = s.last_config or {} end
  if type(config) ~= "table" then fail("config must be a table (got %s)", show(config)) end
  local self = setmetatable({config = config, script = script_path(), columns = {}, rows = 0, _known = {},
                             elapsed_offset = 0, t0 = ember.clock()}, Run)
  if s.resume then open_resumed(self, s) else open_new(self, s, args) end
  s:seed_rng(self.seed)
  self.session = s
  self:_start()
  s:open_run(self)
  return self
end

return setmetatable(M, {__call = function(_, args) return M.new(args) end})
