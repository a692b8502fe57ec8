-- ember.session: what one experiment session knows, in one object that the modules reach through
-- this module: the command line's choices (`ember run --set/--seed/--name/--runs/--resume/--quiet/--live`),
-- the seed ember's RNG was given, the runs the script opened, the last resolved config and how many
-- ember.fit calls each run has seen (so every fit of a script resumes its own state).
--
-- `ember run` begins a session for the script and ends it when the script returns; a plain script, a
-- test or the REPL gets a default session with no command-line choices the first time one is asked for.
local E = require "ember.error"
local show = require("ember.util").show

local M = {}

local Session = {}
Session.__index = Session
M.Session = Session

local current

local OPTIONS = {script = true, set = true, set_order = true, name = true, runs = true, seed = true,
  resume = true, quiet = true, live = true}

--- session.new([options]) -> a session (not made current). options: the command line's choices:
-- script (path), set (key -> text) with set_order (keys in command-line order), name, runs, seed,
-- resume (a run directory), quiet, live. A session made with options is a command-line session.
function M.new(options)
  local s = setmetatable({runs = {}, fits = {}, seeded = nil, config_called = false, last_config = nil,
                          command_line = options ~= nil}, Session)
  options = options or {}
  for k in pairs(options) do
    if not OPTIONS[k] then E.raise("value", "ember.session.new", "unknown option %s", show(k)) end
  end
  s.script, s.name, s.runs_root, s.seed, s.resume = options.script, options.name, options.runs,
    options.seed, options.resume
  s.set, s.set_order = options.set or {}, options.set_order or {}
  s.quiet, s.live = options.quiet or false, options.live or false
  return s
end

--- session.current() -> the current session (a default one when none has begun)
function M.current()
  if not current then current = M.new() end
  return current
end

--- session.begin([options]) -> a new session made current (see session.new)
function M.begin(options)
  current = M.new(options)
  return current
end

--- session.finish() -- forgets the current session (its runs should be closed first)
function M.finish()
  current = nil
end

--- session:seed_rng(seed) -> seed. Seeds ember's RNG unless this session already did with the same seed
-- (ember.config seeds first, so models built before ember.run{} are seeded too).
function Session:seed_rng(seed)
  if self.seeded ~= seed then
    require("ember").manual_seed(seed)
    self.seeded = seed
  end
  return seed
end

--- session:open_run(run) / session:close_run(run): the runs the script has open, oldest first
function Session:open_run(run)
  self.runs[#self.runs + 1] = run
  self.fits[run] = 0
end

function Session:close_run(run)
  for i = #self.runs, 1, -1 do
    if self.runs[i] == run then table.remove(self.runs, i) end
  end
end

--- session:next_fit(run) -> 1 for the first ember.fit call on run, 2 for the second, ...
function Session:next_fit(run)
  local n = (self.fits[run] or 0) + 1
  self.fits[run] = n
  return n
end

--- session:close_runs([err]) -- closes every run still open, newest first: failed or interrupted when
-- err is given (an error value), else finished
function Session:close_runs(err)
  for i = #self.runs, 1, -1 do
    local r = self.runs[i]
    if err ~= nil then r:_fail(err) else r:finish() end
  end
end

return M
