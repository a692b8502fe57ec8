-- ember.config: an experiment's configuration, `ember.config{defaults}` -> the resolved table.
--
-- The defaults name every key a run accepts and fix each key's type. `ember run SCRIPT --set k=v`
-- overrides them, parsed by the type of the default (the text is data, never executed):
--   number    any Lua numeral (`--set lr=1e-3`, `--set epochs=20`): numbers stay numbers
--   boolean   true/false, yes/no, on/off, 1/0 (any case): booleans stay booleans
--   string    the text as given
--   list      comma-separated items typed like the default's first item (`--set betas=0.9,0.99`)
-- An unknown key or a value of the wrong type is an error listing the known keys; under `ember run`
-- it ends the command with exit status 2 (bad usage). `--seed S` sets the `seed` key when the defaults
-- have one. With `--resume RUNDIR` the run's own params.tsv is applied first, so the script resumes
-- with the configuration it started with; a `--set` that disagrees with it is an error.
-- The defaults table is read, never written. A script that calls ember.config twice is checked twice:
-- every --set key must be known to each call.
local E = require "ember.error"
local session = require "ember.session"
local show = require("ember.util").show

local M = {}

-- a configuration that the command line or the defaults got wrong: bad usage (`ember run` exits 2)
local usage_error = E.raiser("ember.config", "usage")
local fail = E.raiser("ember.config", "type")

local TRUE = {["true"] = true, yes = true, on = true, ["1"] = true}
local FALSE = {["false"] = true, no = true, off = true, ["0"] = true}

-- Parses text by the type of the default `like`; returns the value or nil and what was expected.
local function parse_scalar(text, like)
  local t = type(like)
  if t == "number" then
    local n = tonumber(text)
    if n == nil then return nil, "a number" end
    return n
  elseif t == "boolean" then
    local s = text:lower()
    if TRUE[s] then return true end
    if FALSE[s] then return false end
    return nil, "a boolean (true or false)"
  elseif t == "string" then
    return text
  end
  return nil, "a " .. t
end

local function parse_list(text, like)
  local out = {}
  if text == "" then return out end
  local item = like[1]
  for field in (text .. ","):gmatch("([^,]*),") do
    field = field:match("^%s*(.-)%s*$")
    local v, want
    if item == nil then
      v = tonumber(field) or field
    else
      v, want = parse_scalar(field, item)
      if v == nil then return nil, "a comma-separated list of " .. want:gsub("^an? ", "") .. "s" end
    end
    out[#out + 1] = v
  end
  return out
end

--- config.parse(text, default) -> the value of `text` typed like `default` (number, boolean, string or a
-- list of them), or nil and a description of what was expected. Used for --set and params.tsv values.
function M.parse(text, default)
  if type(default) == "table" then return parse_list(text, default) end
  return parse_scalar(text, default)
end

local num_text = require("ember.util").number_text
M.number_text = num_text

--- config.format(value) -> the text params.tsv holds for a config value (numbers exactly, lists
-- comma-separated); config.parse reads it back to the same value.
function M.format(v)
  local t = type(v)
  if t == "number" then return num_text(v) end
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

local function check_defaults(defaults)
  if type(defaults) ~= "table" then
    fail("expected a table of defaults such as {lr = 0.01} (got %s)", type(defaults))
  end
  for k, v in pairs(defaults) do
    if type(k) ~= "string" then
      fail("keys must be strings (got %s key %s)", type(k), show(k))
    end
    local t = type(v)
    if t == "table" then
      for i, item in pairs(v) do
        if math.type(i) ~= "integer" or i < 1 or i > #v then
          fail("default %s must be a list (it has key %s)", k, show(i))
        end
        local ti = type(item)
        if ti ~= "number" and ti ~= "boolean" and ti ~= "string" then
          fail("default %s[%d] must be a number, boolean or string (got %s)", k, i, ti)
        end
      end
    elseif t ~= "number" and t ~= "boolean" and t ~= "string" then
      fail("default %s must be a number, boolean, string or list (got %s)", k, t)
    end
  end
end

-- key<TAB>value lines of a params.tsv, parsed as text only
local function read_params(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local out, order = {}, {}
  for line in f:lines() do
    local k, v = line:gsub("\r$", ""):match("^([^\t]+)\t(.*)$")
    if k then
      if out[k] == nil then order[#order + 1] = k end
      out[k] = v
    end
  end
  f:close()
  return out, order
end
M.read_params = read_params

local function apply(resolved, defaults, key, text, source)
  local known = sorted_keys(defaults)
  if defaults[key] == nil then
    usage_error("unknown key '%s' in %s (known keys: %s)", key, source,
      #known > 0 and table.concat(known, ", ") or "none")
  end
  local v, want = M.parse(text, defaults[key])
  if v == nil then
    usage_error("%s: %s must be %s (default %s)", source, key, want, M.format(defaults[key]))
  end
  resolved[key] = v
end

--- ember.config(defaults) -> a new table: the defaults with the command line's --set overrides (and, with
-- --resume, the run's params.tsv) applied; see the module comment for the parsing rules. Under `ember run`
-- this also seeds ember's RNG (--seed, else the `seed` key, else 0), once, so models built before
-- ember.run{} are seeded too.
function M.config(defaults)
  check_defaults(defaults)
  local resolved = {}
  for k, v in pairs(defaults) do
    if type(v) == "table" then
      local c = {}
      for i, item in ipairs(v) do c[i] = item end
      resolved[k] = c
    else
      resolved[k] = v
    end
  end
  local s = session.current()
  if s.command_line then
    s.config_called = true
    if s.resume then
      local saved, order = read_params(s.resume .. "/params.tsv")
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
    else
      for _, k in ipairs(s.set_order) do
        apply(resolved, defaults, k, s.set[k], ("--set %s=%s"):format(k, s.set[k]))
      end
      if s.seed ~= nil and defaults.seed ~= nil then
        if type(defaults.seed) ~= "number" then
          usage_error("--seed %s: the default seed is a %s, not a number", s.seed, type(defaults.seed))
        end
        if s.set.seed ~= nil and tonumber(s.set.seed) ~= s.seed then
          usage_error("--seed %d and --set seed=%s disagree", s.seed, s.set.seed)
        end
        resolved.seed = s.seed
      end
    end
    local seed = s.seed
    if seed == nil and math.type(resolved.seed) == "integer" then seed = resolved.seed end
    s:seed_rng(seed or 0)
  elseif math.type(resolved.seed) == "integer" then
    s:seed_rng(resolved.seed)
  end
  s.last_config = resolved
  return resolved
end

return setmetatable(M, {__call = function(_, defaults) return M.config(defaults) end})
