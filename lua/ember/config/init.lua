-- ember.config: an experiment's configuration, `ember.config{defaults}` -> the resolved table.
--
-- The defaults name every key a run accepts and fix each key's type: a number, boolean, string or
-- list, or a declared value (ember.choice{...}, ember.number{...}: ember.config.decl) that also says
-- which values it takes. `ember run SCRIPT --set k=v` overrides them, parsed by the type of the default
-- (ember.config.parse; the text is data, never executed). An unknown key or a value the default does
-- not allow is an error naming what it must be; under `ember run` it ends the command with exit status 2
-- (bad usage). `--seed S` sets the `seed` key when the defaults have one. With `--resume RUNDIR` the
-- run's own params.tsv is applied first, so the script resumes with the configuration it started with;
-- a `--set` that disagrees with it is an error.
-- The defaults table is read, never written. A script that calls ember.config twice is checked twice:
-- every --set key must be known to each call.
local E = require "ember.error"
local session = require "ember.session"
local util = require "ember.util"
local decl = require "ember.config.decl"
local parse = require "ember.config.parse"
local show = util.show

local M = {}

-- a configuration that the command line or the defaults got wrong: bad usage (`ember run` exits 2)
local usage_error = E.raiser("ember.config", "usage")
local fail = E.raiser("ember.config", "type")

--- config.parse(text, default) -> the value of `text` typed like `default` (a number, boolean, string, a
-- list of them, or a declared value), or nil and what was expected. Used for --set and params.tsv values.
M.parse = parse.value

M.number_text = util.number_text

--- config.format(value) -> the text params.tsv holds for a config value (numbers exactly, lists
-- comma-separated); config.parse reads it back to the same value.
function M.format(v)
  v = decl.default(v)
  local t = type(v)
  if t == "number" then return util.number_text(v) end
  if t == "table" then
    local parts = {}
    for i, item in ipairs(v) do parts[i] = M.format(item) end
    return table.concat(parts, ",")
  end
  return tostring(v)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- a string default is written to params.tsv as it is: it must be one line of printable text
local function check_text(k, v)
  local why = type(v) == "string" and parse.control_problem(k, v, "default " .. k)
  if why then E.raise("value", "ember.config", "%s", why) end
end

local function check_list(k, v)
  for i, item in pairs(v) do
    if math.type(i) ~= "integer" or i < 1 or i > #v then
      fail("default %s must be a list (it has key %s)", k, show(i))
    end
    local ti = type(item)
    if ti ~= "number" and ti ~= "boolean" and ti ~= "string" then
      fail("default %s[%d] must be a number, boolean or string (got %s)", k, i, ti)
    end
    check_text(k .. "[" .. i .. "]", item)
  end
end

local function check_defaults(defaults)
  if type(defaults) ~= "table" then
    fail("expected a table of defaults such as {lr = 0.01} (got %s)", type(defaults))
  end
  for k, v in pairs(defaults) do
    if type(k) ~= "string" then
      fail("keys must be strings (got %s key %s)", type(k), show(k))
    end
    local t = type(v)
    if decl.is(v) then   -- checked when ember.choice / ember.number made it
    elseif t == "table" then check_list(k, v)
    elseif t ~= "number" and t ~= "boolean" and t ~= "string" then
      fail("default %s must be a number, boolean, string, list, ember.choice or ember.number (got %s)", k, t)
    else check_text(k, v) end
  end
end

-- sets resolved[key] from text, or raises a usage error naming the source and what the value must be
local function apply(resolved, defaults, key, text, source)
  if defaults[key] == nil then
    local known = sorted_keys(defaults)
    usage_error("unknown key '%s' in %s (known keys: %s)", key, source,
      #known > 0 and table.concat(known, ", ") or "none")
  end
  local control = parse.control_problem(key, text)
  if control then usage_error("%s: %s", util.tsv_field(source), control) end
  local default = defaults[key]
  local v, want = M.parse(text, default)
  if v == nil then
    local hint = ""
    if math.type(default) == "integer" and tonumber(text) and tonumber(text) == tonumber(text) then
      hint = (", an integer: a script that wants fractions writes it %s.0"):format(M.format(default))
    end
    usage_error("%s: %s must be %s (default %s%s)", source, key, want, M.format(default), hint)
  end
  resolved[key] = v
end

-- --resume: the run's params.tsv first, then every --set must agree with it
local function apply_resumed(s, defaults, resolved)
  local saved, order = util.read_kv(s.resume .. "/params.tsv")
  if saved == nil then
    usage_error("cannot read '%s/params.tsv' of the run to resume", s.resume)
  end
  for _, k in ipairs(order) do
    if defaults[k] ~= nil then apply(resolved, defaults, k, saved[k], "params.tsv of the resumed run")
    else io.stderr:write(("ember: warning: the resumed run has param '%s', which the script no longer defines\n"):format(k))
    end
  end
  for _, k in ipairs(s.set_order) do
    local mine = {}
    apply(mine, defaults, k, s.set[k], ("--set %s=%s"):format(k, s.set[k]))
    if M.format(mine[k]) ~= M.format(resolved[k]) then
      usage_error("--set %s=%s differs from the resumed run's params.tsv (%s=%s); a resumed run keeps its params",
        k, s.set[k], k, M.format(resolved[k]))
    end
  end
end

-- a new run: the --set overrides in command-line order, then --seed into the seed key
local function apply_sets(s, defaults, resolved)
  for _, k in ipairs(s.set_order) do
    apply(resolved, defaults, k, s.set[k], ("--set %s=%s"):format(k, s.set[k]))
  end
  if s.seed == nil or defaults.seed == nil then return end
  local like = decl.default(defaults.seed)
  if type(like) ~= "number" then
    usage_error("--seed %s: the default seed is a %s, not a number", s.seed, type(like))
  end
  if s.set.seed ~= nil and tonumber(s.set.seed) ~= s.seed then
    usage_error("--seed %d and --set seed=%s disagree", s.seed, s.set.seed)
  end
  apply(resolved, defaults, "seed", tostring(s.seed), "--seed " .. s.seed)
end

--- ember.config(defaults) -> a new table: the defaults with the command line's --set overrides (and, with
-- --resume, the run's params.tsv) applied; see the module comment for the parsing rules. Under `ember run`
-- this also seeds ember's RNG (--seed, else the `seed` key, else 0), once, so models built before
-- ember.run{} are seeded too.
function M.config(defaults)
  check_defaults(defaults)
  local resolved = {}
  for k, v in pairs(defaults) do resolved[k] = decl.default(v) end
  local s = session.current()
  if s.command_line then
    s.config_called = true
    if s.resume then apply_resumed(s, defaults, resolved) else apply_sets(s, defaults, resolved) end
    local seed = s.seed
    if seed == nil and math.type(resolved.seed) == "integer" then seed = resolved.seed end
    s:seed_rng(seed or 0)
  elseif math.type(resolved.seed) == "integer" then
    s:seed_rng(resolved.seed)
  end
  s.last_config = resolved
  return resolved
end

M.choice, M.number = decl.choice, decl.number

return setmetatable(M, {__call = function(_, defaults) return M.config(defaults) end})
