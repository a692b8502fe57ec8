-- ember.eval.data: the data `ember eval --data SPEC` runs a model on, prepared as the run prepared its
-- own. SPEC:
--   fashion-mnist:test, fashion-mnist:train   ember.data.fashion_mnist: (N, 1, 28, 28) in [0, 1]
--   digits     experiments/data/digits.csv as the experiments load it: pixels / 16, shaped (N, 1, 8, 8)
--              for a model that starts with a convolution (classify_digits.lua), else (N, 64) (the MLPs
--              of optimizers.lua, regularization.lua, early_stopping.lua)
--   PATH       a CSV file; the class column is --target COL (default: the run's target column); the
--              features are the run's feature columns, by name, when its checkpoint records them
-- When the checkpoint records how the run's script prepared its input (data.input: scale, standardize or
-- normalize statistics, shape), that replaces the preparation above and is applied to the data as the
-- loader gives it. Labels become class indices 1..C by the run's classes when the checkpoint records
-- them, else by the sorted distinct labels of the data.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local DIGITS = "experiments/data/digits.csv"

local exists = util.is_file

-- digits.csv: beside the run's script (experiments/x.lua -> experiments/data/digits.csv), else in the
-- current folder's source tree, else in the tree of EMBER_PATH
local function digits_path(run_dir, fn)
  local tried = {}
  local meta = run_dir and util.read_kv(run_dir .. "/meta.tsv") or nil
  local script = meta and meta.script
  if script then tried[#tried + 1] = (script:match("^(.*)/[^/]*$") or ".") .. "/data/digits.csv" end
  tried[#tried + 1] = DIGITS
  local root = os.getenv("EMBER_PATH")
  if root and root ~= "" then tried[#tried + 1] = root:gsub("/+$", ""):gsub("[^/]*$", "") .. DIGITS end
  for _, p in ipairs(tried) do if exists(p) then return p end end
  E.raise("io", fn, "digits: %s not found (tried %s); run from ember's source tree, or give the file: "
    .. "--data PATH/digits.csv --target label", DIGITS, table.concat(tried, ", "))
end

-- the class index of every label in y (N, 1): by value when the run's classes are the labels it was
-- trained on (numbers, as ember.data.csv{classes = true} keeps them), as the index itself when they are
-- names, else by the data's sorted distinct labels
local function class_indices(y, run_classes, where, fn)
  local values = y:reshape(-1):totable()
  local classes, index = {}, {}
  local named = false
  for _, c in ipairs(run_classes or {}) do named = named or tonumber(c) == nil end
  if run_classes then
    for i, c in ipairs(run_classes) do
      classes[i] = c
      if named then index[i] = i else index[tonumber(c)] = i end
    end
  else
    local seen = {}
    for _, v in ipairs(values) do
      if not seen[v] then seen[v] = true; classes[#classes + 1] = v end
    end
    table.sort(classes)
    for i, v in ipairs(classes) do index[v] = i end
  end
  for i, v in ipairs(values) do
    local k = index[v]
    if not k then
      local shown = {}
      for j = 1, math.min(#classes, 12) do shown[j] = tostring(classes[j]) end
      E.raise("value", fn, "%s: row %d has the label %s, which is not one of the run's %s (%s%s)", where, i,
        util.number_text(v), named and "class indices" or "classes",
        named and ("1.." .. #classes) or table.concat(shown, ", "), (not named and #classes > 12) and ", ..." or "")
    end
    values[i] = k
  end
  for i, v in ipairs(classes) do
    if math.type(v) == "float" and math.tointeger(v) then classes[i] = math.tointeger(v) end
  end
  return ember.tensor(values), classes
end

-- x with only the run's feature columns, in the run's order (features: the CSV's names of x's columns)
local function select_features(x, features, wanted, path, fn)
  local col = {}
  for j, name in ipairs(features) do col[name] = j end
  local idx = {}
  for i, name in ipairs(wanted) do
    idx[i] = col[name]
    if not idx[i] then
      E.raise("value", fn, "%s has no column %s, a feature the run's model was trained on (its features: %s)", path,
        util.show(name), table.concat(wanted, ", "))
    end
  end
  local same = #idx == #features
  for i = 1, #idx do same = same and idx[i] == i end
  if same then return x end
  local cols = {}
  for i, j in ipairs(idx) do cols[i] = x:narrow(2, j, 1) end
  return ember.cat(cols, 2)
end

-- the kind of the first layer a model spec runs (inside containers), or nil
local function first_layer(spec)
  while type(spec) == "table" and spec.kind == "Sequential" and type(spec.args) == "table" do
    local layers = spec.args[1]
    spec = type(layers) == "table" and (layers.kind and layers or layers[1]) or nil
  end
  return type(spec) == "table" and spec.kind or nil
end

-- the raw data of a SPEC: x, y (class indices), class names, and the preparation the SPEC implies
local function load_raw(spec, o, fn)
  local run_data = o.data or {}
  local split = spec:match("^fashion%-mnist:(%a+)$")
  if split then
    if split ~= "train" and split ~= "test" then
      E.raise("usage", fn, "--data fashion-mnist:%s: the split is train or test", split)
    end
    local ok, ds = pcall(ember.data.fashion_mnist, split)
    if not ok then E.raise("io", fn, "%s", E.message(ds)) end
    return {x = ds.x, y = ds.y, classes = run_data.classes or ds.classes, what = "Fashion-MNIST " .. split}
  end
  local path, target, default_input, what
  if spec == "digits" then
    path, target, what = digits_path(o.run_dir, fn), "label", "digits"
    default_input = {scale = 1 / 16, shape = first_layer(o.model_spec) == "Conv2d" and {1, 8, 8} or nil}
  elseif spec:find("[/.]") or exists(spec) then
    path, what = spec, spec
    target = o.target or (run_data.target and #run_data.target == 1 and run_data.target[1]) or nil
    if not target then
      E.raise("usage", fn, "--data %s: give the class column with --target COL (the run's checkpoint does not "
        .. "name its target column)", spec)
    end
    if not exists(path) then
      E.raise("io", fn, "--data %s: %s", spec, require("lfs").attributes(path, "mode") and "not a regular file"
        or "no such file")
    end
  else
    E.raise("usage", fn, "--data %s: give fashion-mnist:test, fashion-mnist:train, digits or the path of a CSV file",
      spec)
  end
  if o.target and spec == "digits" then target = o.target end
  local ok, ds = pcall(ember.data.csv, path, {target = target})
  if not ok then E.raise(E.kind(ds) == "io" and "io" or "format", fn, "%s", E.message(ds)) end
  local x = ds.x
  if run_data.features and spec ~= "digits" then x = select_features(x, ds.features, run_data.features, path, fn) end
  local y, classes = class_indices(ds.y, run_data.classes, path, fn)
  return {x = x, y = y, classes = classes, what = what, default_input = default_input,
          guessed_classes = run_data.classes == nil}
end

-- x prepared by input ({scale, standardize, normalize, shape}, checked by eval.checkpoint.check_input)
local function prepare(x, input, fn)
  if not input then return x end
  if input.scale then x = x * input.scale end
  local stats = input.standardize or input.normalize
  if stats then
    local ds = ember.data.tensor_dataset(x)
    local ok, err = pcall(input.standardize and ds.standardize or ds.normalize, ds, stats)
    if not ok then
      E.raise("shape", fn, "the run's %s statistics do not fit the data %s: %s", input.standardize and "standardize"
        or "normalize", util.shape_str(x), E.message(err))
    end
    x = ds.x
  end
  if input.shape then
    local n, per = x:shape()[1], 1
    for _, s in ipairs(input.shape) do per = per * s end
    if x:numel() ~= n * per then
      local sample = x:shape()
      table.remove(sample, 1)
      E.raise("shape", fn, "the data's samples are [%s] (%d values; x %s), but the run's model was trained on "
        .. "samples [%s] (%d values; its checkpoint's data.input.shape)", table.concat(sample, " x "),
        n > 0 and x:numel() // n or 0, util.shape_str(x), table.concat(input.shape, " x "), per)
    end
    x = x:reshape(n, table.unpack(input.shape))
  end
  return x
end

-- the checkpoint's data.input checked as ember.fit checks its input option: a checkpoint is a file, and
-- a shape of {"x"} or statistics that are not numbers must be a clear error, not a Lua one mid-way
local function run_input(data, fn)
  if type(data) ~= "table" or data.input == nil then return nil end
  local ok, input = pcall(require("ember.eval.checkpoint").check_input, data.input, fn)
  if not ok then
    E.raise("format", fn, "the checkpoint's data.input is not what ember.fit records: %s",
      E.is(input) and input.message or E.message(input))
  end
  return input
end

--- data.load(spec, o) -> {x, y, classes, what, notes}: the data of --data SPEC as the model takes it, y
-- class indices 1..C, classes their names (or nil). o: target (--target), data (the checkpoint's data
-- entry, may be nil), model_spec (the checkpoint's), run_dir, fn (the name in errors).
function M.load(spec, o)
  local fn = o.fn or "ember eval"
  if type(spec) ~= "string" or spec == "" then E.raise("usage", fn, "give the data with --data SPEC") end
  local input = run_input(o.data, fn)
  local raw = load_raw(spec, o, fn)
  input = input or raw.default_input
  local notes = {}
  if raw.guessed_classes and raw.classes and spec ~= "digits" and not spec:find("^fashion") then
    notes[#notes + 1] = "the run's checkpoint does not record its classes: class i is the i-th smallest label of "
      .. "this file"
  end
  return {x = prepare(raw.x, input, fn), y = raw.y, classes = raw.classes, what = raw.what, notes = notes}
end

return M
