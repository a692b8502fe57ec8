-- ember.eval.checkpoint: what `ember eval` and `ember export` read from a run's checkpoint, and the
-- entries ember.fit writes into every checkpoint for them (docs/formats.md):
--   model_spec        model:spec(), the architecture as plain data (nn.from_spec rebuilds it)
--   model_spec_error  instead, when the model could not describe itself: why (a module defined in Lua)
--   data              how the run's data looked: classes (the training set's class names or labels,
--                     class i is classes[i]), features and target (its CSV column names), and input:
--                     how the script turned the data it loaded into the model's input
--                     ({scale, standardize = {mean, std} | normalize = {min, max}, shape}, the `input`
--                     option of ember.fit)
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local show = util.show

--- checkpoint.RUN_ARGUMENT and checkpoint.CKPT_OPTION: the run directory argument and the --ckpt option
-- of the commands that read a run's checkpoint (ember eval, ember export), declared once for
-- ember.cli.args so that both word them the same (the parser never changes a declaration)
M.RUN_ARGUMENT = {name = "run", metavar = "RUN", max = 1, min = 1, missing = "give a run directory",
                  extra = "give one run directory"}
M.CKPT_OPTION = {"--ckpt", "C", choices = {"best", "last"}, default = "best",
                 help = "the checkpoint: best (the default) or last"}

-- a copy of a list of names (strings or numbers), or nil when v is not one
local function names(v)
  if type(v) ~= "table" or #v == 0 then return nil end
  local out = {}
  for i = 1, #v do
    if type(v[i]) ~= "string" and type(v[i]) ~= "number" then return nil end
    out[i] = v[i]
  end
  return out
end

-- a statistic of standardize/normalize as a tensor (a number or a list of numbers are accepted)
local function stat(v, what, fail)
  if util.is_tensor(v) then return v:detach():contiguous() end
  if type(v) == "number" then v = {v} end
  if type(v) == "table" then
    local ok, t = pcall(ember.tensor, v)
    if ok then return t end
  end
  fail("input.%s must be a tensor, a number or a list of numbers (got %s)", what, show(v))
end

local MAX_SAMPLE = 1 << 40

local function show_sizes(sizes)
  local parts = {}
  for i, s in ipairs(sizes) do parts[i] = show(s) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

--- checkpoint.check_input(input, fn) -> the input description, checked and with its statistics as
-- tensors: {scale = number, standardize = {mean, std} | normalize = {min, max}, shape = {sizes}} (each
-- optional). Applied in that order: x * scale, then the statistics (as Dataset:standardize and
-- Dataset:normalize apply them), then each sample reshaped to shape. fn names the caller in errors.
function M.check_input(input, fn)
  local fail = E.raiser(fn)
  if type(input) ~= "table" then
    fail("input must be a table {scale = ..., standardize = stats, normalize = stats, shape = {...}} (got %s)", show(input))
  end
  local kind, why = util.option_problem(input, {scale = true, standardize = true, normalize = true, shape = true})
  if kind then E.raise(kind, fn, "input: %s", why) end
  local out = {}
  if input.scale ~= nil then
    if not util.is_finite(input.scale) or input.scale == 0 then
      fail("input.scale must be a finite non-zero number (got %s)", show(input.scale))
    end
    out.scale = input.scale
  end
  if input.standardize ~= nil and input.normalize ~= nil then fail("input: give standardize or normalize, not both") end
  for name, keys in pairs{standardize = {"mean", "std"}, normalize = {"min", "max"}} do
    local s = input[name]
    if s ~= nil then
      if type(s) ~= "table" then fail("input.%s must be the table the dataset's %s returned (got %s)", name, name, show(s)) end
      out[name] = {}
      for _, k in ipairs(keys) do out[name][k] = stat(s[k], name .. "." .. k, fail) end
    end
  end
  if input.shape ~= nil then
    if type(input.shape) ~= "table" or #input.shape == 0 then
      fail("input.shape must be a list of sizes of one sample, such as {1, 8, 8} (got %s)", show(input.shape))
    end
    out.shape = {}
    local values = 1
    for i, s in ipairs(input.shape) do
      local n = type(s) == "number" and math.tointeger(s) or nil
      if not n or n < 1 then fail("input.shape[%d] must be a positive integer (got %s)", i, show(s)) end
      -- a product past 2^40, the most any tensor holds, would also wrap around in integers
      if n > MAX_SAMPLE // values then
        fail("input.shape %s is too large: one sample of it holds more than 2^40 values", show_sizes(input.shape))
      end
      out.shape[i], values = n, values * n
    end
  end
  return out
end

--- checkpoint.entries(o) -> the entries ember.fit adds to every checkpoint of a fit with options o:
-- model_spec (or model_spec_error) and data (see the module comment). Raises an error of ember.fit
-- for a bad o.input.
function M.entries(o)
  local e = {}
  local model = o.model
  if type(model) == "table" and type(model.spec) == "function" then
    local ok, spec = pcall(model.spec, model)
    if ok then e.model_spec = spec else e.model_spec_error = E.message(spec) end
  else
    e.model_spec_error = "the model has no spec method (only ember.nn modules describe themselves)"
  end
  local data = {}
  local train = type(o.train) == "table" and o.train or {}
  data.classes, data.features, data.target = names(rawget(train, "classes")), names(rawget(train, "features")),
    names(rawget(train, "target"))
  if o.input ~= nil then data.input = M.check_input(o.input, "ember.fit") end
  if next(data) then e.data = data end
  return e
end

local function join(dir, name) return (dir:gsub("/+$", "")) .. "/" .. name end

--- checkpoint.path(run, which, fn) -> the checkpoint file and the run directory: run is a run directory
-- (which: "best" or "last", default "best") or a .ckpt file itself. Raises usage (not a run) or io (no
-- such checkpoint) errors of fn.
function M.path(run, which, fn)
  which = which or "best"
  if type(run) ~= "string" or run == "" or util.has_nul(run) then
    E.raise("usage", fn, "give a run directory or checkpoint without a NUL byte (got %s)", show(run))
  end
  if util.is_file(run) then return run, run:match("^(.*)/[^/]*$") or "." end
  if not util.is_dir(run) then E.raise("usage", fn, "'%s' is not a run directory", run) end
  local path = join(run, which .. ".ckpt")
  if not util.is_file(path) then
    local other = which == "best" and "last" or "best"
    local has_other = util.is_file(join(run, other .. ".ckpt"))
    E.raise("io", fn, "'%s' has no %s.ckpt%s", run, which,
      has_other and (" (it has %s.ckpt: --ckpt %s)"):format(other, other)
      or (util.is_file(join(run, "metrics.tsv")) and " (its script trained without ember.fit, or stopped before the first checkpoint)"
          or ": it is not a run directory"))
  end
  return path, (run:gsub("(.)/+$", "%1"))   -- "runs/x/" names the same folder as "runs/x"
end

--- checkpoint.load(path, fn) -> the checkpoint table written by ember.fit at path (format errors of fn
-- when it is not one)
function M.load(path, fn)
  local ok, ck = pcall(ember.load, path)
  if not ok then E.raise(E.kind(ck) == "io" and "io" or "format", fn, "%s", E.message(ck)) end
  if type(ck) ~= "table" or ck.format ~= "ember.fit" then
    E.raise("format", fn, "'%s' is not a checkpoint written by ember.fit", path)
  end
  if type(ck.model) ~= "table" or next(ck.model) == nil then
    E.raise("format", fn, "'%s' holds no model state (the model given to ember.fit had no state_dict)", path)
  end
  return ck
end

--- checkpoint.model(ck, path, fn) -> the model of checkpoint ck rebuilt from its model_spec, with the
-- trained state loaded, in eval mode
function M.model(ck, path, fn)
  if type(ck.model_spec) ~= "table" then
    E.raise("format", fn, "this run's model could not describe itself: %s (in %s). Rebuild the model in a "
      .. "script and load the weights with model:load_state_dict(ember.load(%q).model)",
      ck.model_spec_error or "its checkpoint has no model_spec (written before ember.fit recorded one)", path, path)
  end
  local ok, model = pcall(ember.nn.from_spec, ck.model_spec)
  if not ok then E.raise("format", fn, "the model_spec in '%s' does not build: %s", path, E.message(model)) end
  local loaded, err = pcall(model.load_state_dict, model, ck.model)
  if not loaded then
    E.raise("format", fn, "the weights in '%s' do not fit the model its spec builds: %s", path, E.message(err))
  end
  model:eval()
  return model
end

return M
