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
local ember = require "ember"

local M = {}

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- Marks the error as bad usage for `ember run` (exit 2), then raises it.
local function usage_error(msg)
  local cli = rawget(ember, "_cli")
  if type(cli) == "table" then cli.usage_error = msg end
  error(msg, 0)
end

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
    error(("config: expected a table of defaults such as {lr = 0.01} (got %s)"):format(type(defaults)), 3)
  end
  for k, v in pairs(defaults) do
    if type(k) ~= "string" then
      error(("config: keys must be strings (got %s key %s)"):format(type(k), show(k)), 3)
    end
    local t = type(v)
    if t == "table" then
      for i, item in pairs(v) do
        if math.type(i) ~= "integer" or i < 1 or i > #v then
          error(("config: default %s must be a list (it has key %s)"):format(k, show(i)), 3)
        end
        local ti = type(item)
        if ti ~= "number" and ti ~= "boolean" and ti ~= "string" then
          error(("config: default %s[%d] must be a number, boolean or string (got %s)"):format(k, i, ti), 3)
        end
      end
    elseif t ~= "number" and t ~= "boolean" and t ~= "string" then
      error(("config: default %s must be a number, boolean, string or list (got %s)"):format(k, t), 3)
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
    usage_error(("config: unknown key '%s' in %s (known keys: %s)"):format(key, source,
      #known > 0 and table.concat(known, ", ") or "none"))
  end
  local v, want = M.parse(text, defaults[key])
  if v == nil then
    usage_error(("config: %s: %s must be %s (default %s)"):format(source, key, want, M.format(defaults[key])))
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
  local cli = rawget(ember, "_cli")
  if type(cli) == "table" then
    cli.config_called = true
    if cli.resume then
      local saved, order = read_params(cli.resume .. "/params.tsv")
      if saved == nil then
        usage_error(("config: cannot read '%s/params.tsv' of the run to resume"):format(cli.resume))
      end
      for _, k in ipairs(order) do
        if defaults[k] ~= nil then apply(resolved, defaults, k, saved[k], "params.tsv of the resumed run")
        else io.stderr:write(("ember: warning: the resumed run has param '%s', which the script no longer defines\n"):format(k))
        end
      end
      for _, k in ipairs(cli.set_order or {}) do
        local mine = {}
        apply(mine, defaults, k, cli.set[k], ("--set %s=%s"):format(k, cli.set[k]))
        if M.format(mine[k]) ~= M.format(resolved[k]) then
          usage_error(("config: --set %s=%s differs from the resumed run's params.tsv (%s=%s); a resumed run keeps its params")
            :format(k, cli.set[k], k, M.format(resolved[k])))
        end
      end
    else
      for _, k in ipairs(cli.set_order or {}) do
        apply(resolved, defaults, k, cli.set[k], ("--set %s=%s"):format(k, cli.set[k]))
      end
      if cli.seed ~= nil and defaults.seed ~= nil then
        if type(defaults.seed) ~= "number" then
          usage_error(("config: --seed %s: the default seed is a %s, not a number"):format(cli.seed, type(defaults.seed)))
        end
        if cli.set and cli.set.seed ~= nil and tonumber(cli.set.seed) ~= cli.seed then
          usage_error(("config: --seed %d and --set seed=%s disagree"):format(cli.seed, cli.set.seed))
        end
        resolved.seed = cli.seed
      end
    end
    local seed = cli.seed
    if seed == nil and math.type(resolved.seed) == "integer" then seed = resolved.seed end
    require("ember.run")._seed(seed or 0)
  elseif math.type(resolved.seed) == "integer" then
    require("ember.run")._seed(resolved.seed)
  end
  M.last = resolved
  return resolved
end

return setmetatable(M, {__call = function(_, defaults) return M.config(defaults) end})
