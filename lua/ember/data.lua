-- data.lua - ember.data: datasets (Fashion-MNIST, any IDX pair, CSV tables, synthetic regression, plain
-- tensors) and what training does with them: split, shuffle, batch, normalise. The per-sample work
-- (parsing, gathering rows into a batch) is C (lua/bind/data.c); this file only arranges it.
local M = {}

local FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
M.fashion_mnist_classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                           "Sneaker", "Bag", "Ankle boot"}

local E = require "ember.error"
local util = require "ember.util"
local fail, fail_type = E.module_fail("data"), E.module_fail("data", "type")
local shape_str, show = util.shape_str, util.show

local INT_MAX = 2147483647

local function is_posint(v)
  return math.type(v) == "integer" and v >= 1
end

-- an uninitialised tensor shaped as count rows of src
local function empty_rows(src, count)
  local ember = require "ember"
  local shape = src:shape()
  shape[1] = count
  return ember.empty(shape)
end

-- a tensor of the rows order[start .. start + count - 1] of src, filled by the C gatherer
local function take_rows(src, order, start, count)
  local dst = empty_rows(src, count)
  if count > 0 then require("ember")._gather_rows(dst, src, order, start) end
  return dst
end

local function copy_list(t)
  if t == nil then return nil end
  return table.move(t, 1, #t, 1, {})
end

-- opts as given ({} for nil), checked against the options fn knows (util.option_problem)
local function options(fn, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    local names = {}
    for k in pairs(known) do names[#names + 1] = k .. " = ..." end
    table.sort(names)
    fail_type(fn, "options must be a table {%s} (got %s)", table.concat(names, ", "), show(opts))
  end
  local kind, problem = util.option_problem(opts, known)
  if kind then E.raise(kind, E.public_name("data", fn), "%s", problem) end
  return opts
end

-- the fields of Dataset.new: lists of names (features, target, classes) and a name
local function check_fields(fn, fields)
  if fields == nil then return {} end
  if type(fields) ~= "table" then fail_type(fn, "fields must be a table (got %s)", show(fields)) end
  for _, k in ipairs{"features", "target", "classes"} do
    if fields[k] ~= nil and type(fields[k]) ~= "table" then
      fail_type(fn, "fields.%s must be a list (got %s)", k, show(fields[k]))
    end
  end
  if fields.name ~= nil and type(fields.name) ~= "string" then
    fail_type(fn, "fields.name must be a string (got %s)", show(fields.name))
  end
  return fields
end

------------------------------------------------------------------------------------------------------
-- Dataset

local Dataset = {}
Dataset.__index = Dataset
M.Dataset = Dataset

-- Dataset.new(x, y [, fields]): x a tensor (N, ...), y a tensor (N, ...) or nil; fields may hold
-- features (names of x's columns), target (names of y's columns), classes (class i's name or
-- original label), name. Returns the dataset; x and y are made contiguous once, here.
function Dataset.new(x, y, fields)
  local ember = require "ember"
  if not ember.is_tensor(x) then fail("Dataset.new", "x must be a tensor (got %s)", type(x)) end
  if x:dim() < 1 then fail("Dataset.new", "x must have a sample dimension (got %s)", shape_str(x)) end
  if y ~= nil then
    if not ember.is_tensor(y) then fail("Dataset.new", "y must be a tensor or nil (got %s)", type(y)) end
    if y:dim() < 1 or y:shape()[1] ~= x:shape()[1] then
      fail("Dataset.new", "x %s and y %s hold different numbers of samples", shape_str(x), shape_str(y))
    end
    if not y:is_contiguous() then y = y:contiguous() end
  end
  if not x:is_contiguous() then x = x:contiguous() end
  fields = check_fields("Dataset.new", fields)
  return setmetatable({x = x, y = y, features = copy_list(fields.features), target = copy_list(fields.target),
                       classes = copy_list(fields.classes), name = fields.name}, Dataset)
end

-- a dataset with the same descriptive fields over new tensors
function Dataset:_derive(x, y)
  return Dataset.new(x, y, self)
end

-- ds:size() -> the number of samples
function Dataset:size()
  return self.x:shape()[1]
end
Dataset.__len = Dataset.size

function Dataset:__tostring()
  return string.format("Dataset(%s%d samples, x %s, y %s)", self.name and (self.name .. ", ") or "",
                       self:size(), shape_str(self.x), self.y and shape_str(self.y) or "none")
end

-- the rows order[start .. start + count - 1] (all rows in order when order is nil) as a new dataset
function Dataset:_take(order, start, count)
  return self:_derive(take_rows(self.x, order, start, count),
                      self.y and take_rows(self.y, order, start, count) or nil)
end

-- a split size: integers count samples, floats are fractions of n
local function part_size(spec, n, what)
  if math.type(spec) == "integer" then
    if spec < 1 or spec >= n then
      fail("Dataset:split", "%s must be a count in 1..%d (got %d)", what, n - 1, spec)
    end
    return spec
  elseif type(spec) == "number" then
    if not (spec > 0 and spec < 1) then
      fail("Dataset:split", "%s must be a fraction in (0, 1) or a count (got %s)", what, tostring(spec))
    end
    local k = math.floor(spec * n + 0.5)
    if k < 1 or k >= n then
      fail("Dataset:split", "%s = %s of %d samples leaves a part empty", what, tostring(spec), n)
    end
    return k
  end
  fail("Dataset:split", "%s must be a number (got %s)", what, type(spec))
end

-- ds:split(spec [, {shuffle = true}]) -> train, valid
-- spec: a fraction (0.8: 80 % train, the rest valid) or a count of training samples (50000), or a
-- table {train, valid} (or {train = a, valid = b}) of fractions or counts, which may leave samples
-- out. Rows are shuffled first by ember's seeded RNG (ember.manual_seed(s): same s, same split);
-- both parts are copies.
function Dataset:split(spec, opts)
  local n = self:size()
  if n < 2 then fail("Dataset:split", "need at least 2 samples (got %d)", n) end
  local ntrain, nvalid
  if type(spec) == "table" then
    local a, b = spec.train or spec[1], spec.valid or spec[2]
    if a == nil or b == nil then fail("Dataset:split", "a table spec needs {train, valid} (two sizes)") end
    ntrain, nvalid = part_size(a, n, "train"), part_size(b, n, "valid")
    if ntrain + nvalid > n then
      fail("Dataset:split", "train %d + valid %d exceed the %d samples", ntrain, nvalid, n)
    end
  else
    ntrain = part_size(spec, n, "train")
    nvalid = n - ntrain
  end
  local shuffle = options("Dataset:split", opts, {shuffle = "boolean"}).shuffle ~= false
  local ember = require "ember"
  local order = ember._index_order(n, shuffle)
  return self:_take(order, 1, ntrain), self:_take(order, ntrain + 1, nvalid)
end

-- ds:subset(n [, {shuffle = false}]) -> a dataset of the first n samples (views, no copy), or of n
-- samples picked at random by ember's RNG (copies) with shuffle = true
function Dataset:subset(n, opts)
  local size = self:size()
  if not is_posint(n) or n > size then
    fail("Dataset:subset", "n must be an integer in 1..%d (got %s)", size, tostring(n))
  end
  if options("Dataset:subset", opts, {shuffle = "boolean"}).shuffle then
    local ember = require "ember"
    return self:_take(ember._index_order(size, true), 1, n)
  end
  return self:_derive(self.x:narrow(1, 1, n), self.y and self.y:narrow(1, 1, n) or nil)
end

-- the options of ds:batches, which ds:batch_count takes too (so one table serves both)
local BATCH_OPTIONS = {shuffle = "boolean", drop_last = "boolean", reuse = "boolean"}

-- ds:batch_count(n [, {drop_last = false}]) -> how many batches ds:batches(n, opts) yields
function Dataset:batch_count(n, opts)
  if not is_posint(n) then
    fail("Dataset:batch_count", "batch size must be a positive integer (got %s)", tostring(n))
  end
  local size = self:size()
  opts = options("Dataset:batch_count", opts, BATCH_OPTIONS)
  return opts.drop_last and size // n or (size + n - 1) // n
end

-- ds:batches(n [, {shuffle = false, drop_last = false, reuse = true}]) -> iterator of (x, y)
-- Each call walks every sample once (in a fresh order from ember's RNG when shuffle is set); the last
-- batch is shorter unless drop_last. The rows are copied in C into one batch tensor per iterator,
-- refilled on every step: a batch is valid until the next one. Keep one with x:clone(), or ask for
-- fresh tensors with reuse = false (needed when a graph must outlive the step, as when summing losses
-- of several batches before one backward).
function Dataset:batches(n, opts)
  if not is_posint(n) then fail("Dataset:batches", "batch size must be a positive integer (got %s)", tostring(n)) end
  opts = options("Dataset:batches", opts, BATCH_OPTIONS)
  local ember = require "ember"
  local gather = ember._gather_rows
  local size = self:size()
  local order = opts.shuffle and size > 0 and ember._index_order(size, true) or nil
  local drop_last, reuse = opts.drop_last == true, opts.reuse ~= false
  local x, y = self.x, self.y
  local full = math.min(n, size)
  local bx, by            -- the reused batch tensors
  local pos = 1
  return function()
    local left = size - pos + 1
    if left <= 0 or (drop_last and left < n) then return nil end
    local b = math.min(n, left)
    local ox, oy
    if reuse then
      if not bx then bx, by = empty_rows(x, full), y and empty_rows(y, full) or nil end
      if b == full then ox, oy = bx, by
      else ox, oy = bx:narrow(1, 1, b), by and by:narrow(1, 1, b) or nil end   -- the last, short batch
    else
      ox, oy = empty_rows(x, b), y and empty_rows(y, b) or nil
    end
    gather(ox, x, order, pos)
    if y then gather(oy, y, order, pos) end
    pos = pos + b
    return ox, oy
  end
end

-- statistics given by the user: tensors, or numbers / tables of numbers
local function stat_tensor(fn, v, what)
  local ember = require "ember"
  if ember.is_tensor(v) then return v end
  if type(v) == "number" then return ember.tensor({v}) end
  if type(v) == "table" then return ember.tensor(v) end
  fail(fn, "stats.%s must be a tensor, a number or a table of numbers (got %s)", what, type(v))
end

-- x <- (x - a) / scale(a, b) per feature, with stats = {[a_key] = a, [b_key] = b} given or x's own
-- (ember._stats(x, kind)): what standardize and normalize share; returns the stats
local function rescale(self, fn, stats, kind, a_key, b_key, scale)
  local ember = require "ember"
  if stats == nil then
    local a, b = ember._stats(self.x, kind)
    stats = {[a_key] = a, [b_key] = b}
  elseif type(stats) ~= "table" then
    fail(fn, "stats must be a table {%s = ..., %s = ...} (got %s)", a_key, b_key, type(stats))
  end
  local a, b = stat_tensor(fn, stats[a_key], a_key), stat_tensor(fn, stats[b_key], b_key)
  local ok, r = pcall(ember._rescale, self.x, a, scale(a, b))
  if not ok then E.reraise_as(r, "ember.data." .. fn) end
  self.x = r
  return stats
end

-- ds:standardize([stats]) -> stats
-- x becomes (x - mean) / std per feature (the columns of a table, the channels of images), using
-- stats = {mean = ..., std = ...} when given (the training set's, for the test set) or x's own,
-- population std as sklearn's StandardScaler; a constant feature (std 0) becomes 0. x is replaced by
-- a new tensor, never changed in place, so datasets sharing it are unaffected.
function Dataset:standardize(stats)
  return rescale(self, "Dataset:standardize", stats, "mean_std", "mean", "std", function(_, std) return std end)
end

-- ds:normalize([stats]) -> stats
-- x becomes (x - min) / (max - min) per feature, in [0, 1], using stats = {min = ..., max = ...} when
-- given (the training set's, for the test set) or x's own; a constant feature becomes 0.
function Dataset:normalize(stats)
  return rescale(self, "Dataset:normalize", stats, "min_max", "min", "max", function(lo, hi)
    if lo:numel() ~= hi:numel() then
      fail("Dataset:normalize", "stats.min %s and stats.max %s differ in size", shape_str(lo), shape_str(hi))
    end
    return hi:reshape(lo:shape()) - lo
  end)
end

------------------------------------------------------------------------------------------------------
-- loaders

-- data.tensor_dataset(x [, y, fields]) -> dataset over tensors (or nested tables of numbers)
function M.tensor_dataset(x, y, fields)
  local ember = require "ember"
  for _, v in ipairs{{"x", x}, {"y", y}} do
    if type(v[2]) == "table" then
      local ok, t = pcall(ember.tensor, v[2])
      if not ok then fail("tensor_dataset", "%s is not a table of numbers: %s", v[1], E.message(t)) end
      if v[1] == "x" then x = t else y = t end
    end
  end
  if not ember.is_tensor(x) then fail_type("tensor_dataset", "x must be a tensor (got %s)", show(x)) end
  if y ~= nil and not ember.is_tensor(y) then
    fail_type("tensor_dataset", "y must be a tensor, a table or nil (got %s)", show(y))
  end
  if x:dim() < 1 then fail("tensor_dataset", "x must have a sample dimension (got %s)", shape_str(x)) end
  if y ~= nil and (y:dim() < 1 or x:shape()[1] ~= y:shape()[1]) then
    fail("tensor_dataset", "x %s and y %s hold different numbers of samples", shape_str(x), shape_str(y))
  end
  return Dataset.new(x, y, check_fields("tensor_dataset", fields))
end

-- data.idx(images, labels) -> dataset with x (N, 1, H, W) in [0, 1] and y (N) class indices 1..C (label
-- byte + 1), from any MNIST-format pair of files, gzipped or not
function M.idx(images, labels)
  if type(images) ~= "string" or type(labels) ~= "string" then
    fail("idx", "expected two file names (images, labels), got %s and %s", type(images), type(labels))
  end
  local ember = require "ember"
  local x, y = ember._idx_pair(images, labels)
  return Dataset.new(x, y, {name = images:match("([^/]+)$")})
end

--- data.script_path(name) -> name as a path from the folder of the script that calls it (its chunk name), so
-- that a script finds the files it ships with from any working folder, under `ember run`, `ember sweep`
-- and plain lua5.4: in experiments/x.lua, data.script_path("data/digits.csv") is
-- "experiments/data/digits.csv". An absolute name, and a call from code that is not in a file (the
-- REPL, ember -e), give name as it is. A tail call (`return data.script_path(...)`) hides the script
-- that made it, so it is an error.
function M.script_path(name)
  if type(name) ~= "string" then fail_type("script_path", "name must be a string (got %s)", show(name)) end
  if util.has_nul(name) then fail("script_path", "name cannot contain a NUL byte (got %s)", show(name)) end
  if name:sub(1, 1) == "/" then return name end
  if debug.getinfo(1, "t").istailcall then
    fail("script_path", "called as a tail call (return ember.data.script_path(...)), which hides the script "
      .. "that called it; write local path = ember.data.script_path(...) first")
  end
  local info = debug.getinfo(2, "S")
  local dir = info and info.source:match("^@(.*)/[^/]*$")
  return dir and (dir .. "/" .. name) or name
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- data.fashion_mnist("train" | "test" [, dir]) -> dataset of 60000 or 10000 images (N, 1, 28, 28) in [0, 1]
-- with y class indices 1..10 (names in ds.classes). dir defaults to $EMBER_FASHION_MNIST, then to
-- /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist package); files may be gzipped.
function M.fashion_mnist(split, dir)
  if split ~= "train" and split ~= "test" then
    fail("fashion_mnist", "split must be \"train\" or \"test\" (got %s)", tostring(split))
  end
  if dir ~= nil and type(dir) ~= "string" then
    fail_type("fashion_mnist", "dir must be the path of a folder (got %s)", show(dir))
  end
  if dir and util.has_nul(dir) then fail("fashion_mnist", "dir cannot contain a NUL byte (got %s)", show(dir)) end
  dir = dir or os.getenv("EMBER_FASHION_MNIST") or FMNIST_DIR
  local prefix = dir .. "/" .. (split == "train" and "train" or "t10k")
  local found = {}
  for i, kind in ipairs{"images-idx3", "labels-idx1"} do
    local base = prefix .. "-" .. kind .. "-ubyte"
    found[i] = exists(base .. ".gz") and base .. ".gz" or exists(base) and base or nil
    if not found[i] then
      local hint = dir == FMNIST_DIR
                   and "install Debian's package: sudo apt-get install dataset-fashion-mnist"
                   or "pass the folder holding the four IDX files"
      fail("fashion_mnist", "%s(.gz) not found; %s", base, hint)
    end
  end
  local images, labels = found[1], found[2]
  local ember = require "ember"
  local x, y = ember._idx_pair(images, labels)
  return Dataset.new(x, y, {classes = M.fashion_mnist_classes, name = "fashion_mnist " .. split})
end

local function column_list(names)
  if #names <= 24 then return table.concat(names, ", ") end
  return table.concat(names, ", ", 1, 20) .. string.format(", ... (%d columns)", #names)
end

-- the columns target names (a name, a 1-based number, or a list of them) among names -> their indices
-- and names in the order given, and the set of the indices
local function target_columns(path, names, target)
  local list = type(target) == "table" and target or {target}
  if #list == 0 then fail("csv", "target is an empty list") end
  local index, is_target = {}, {}
  for j, name in ipairs(names) do index[name] = j end
  local ycols, tnames = {}, {}
  for _, c in ipairs(list) do
    if type(c) ~= "string" and math.type(c) ~= "integer" then
      fail_type("csv", "target must be a column name, a column number or a list of them (got %s)", show(c))
    end
    local j = index[c]
    if j == nil and math.type(c) == "integer" and c >= 1 and c <= #names then j = c end
    if j == nil then fail("csv", "%s has no column %s (columns: %s)", path, show(c), column_list(names)) end
    if is_target[j] then fail("csv", "target column %s is listed twice", names[j]) end
    is_target[j] = true
    ycols[#ycols + 1] = j
    tnames[#tnames + 1] = names[j]
  end
  return ycols, tnames, is_target
end

-- labels y (N, 1) -> class indices (N) 1..C by the labels' sorted distinct values, and those values.
-- Per-sample Lua work, but once at load time.
local function class_indices(y)
  local values = y:reshape(-1):totable()
  local seen, classes = {}, {}
  for _, v in ipairs(values) do   -- never NaN: the CSV reader takes finite numbers only
    if not seen[v] then seen[v] = true; classes[#classes + 1] = v end
  end
  table.sort(classes)
  local rank = {}
  for i, v in ipairs(classes) do rank[v] = i end
  for i, v in ipairs(values) do values[i] = rank[v] end
  for i, v in ipairs(classes) do
    if math.type(v) == "float" and v == math.floor(v) then classes[i] = math.tointeger(v) end
  end
  return require("ember").tensor(values), classes
end

-- the second argument of data.csv checked: an options table; a column (name or number) in its place
-- gets the call that means it
local function csv_options(opts)
  if opts ~= nil and type(opts) ~= "table" then
    local hint = (type(opts) == "string" or math.type(opts) == "integer")
      and ("; for column %s as the target, write data.csv(path, {target = %s})"):format(show(opts), show(opts)) or ""
    fail_type("csv", "the second argument must be an options table {target = ..., header = true, sep = \",\", "
              .. "classes = false} (got %s)%s", show(opts), hint)
  end
  opts = options("csv", opts, {target = true, header = "boolean", sep = true, classes = "boolean"})
  if opts.sep ~= nil and (type(opts.sep) ~= "string" or #opts.sep ~= 1) then
    fail("csv", "sep must be one character (got %s)", show(opts.sep))
  end
  if opts.classes and opts.target == nil then fail("csv", "classes = true needs a target column") end
  return opts
end

-- data.csv(path [, {target = "col" | {cols}, header = true, sep = ",", classes = false}]) -> dataset
-- x holds every column not in target (ds.features names them), y the target columns: (N, 1) for one
-- column, (N, k) for k; columns are names, or numbers (1-based) when the file has no header. With
-- classes = true (one target column of labels), y is (N) class indices 1..C, the labels' sorted
-- distinct values in that order (kept in ds.classes): digits 0..9 become 1..10. No target: y is nil.
-- Every field must be a number; errors name the file, line and column. gzipped files work too.
function M.csv(path, opts)
  if type(path) ~= "string" then fail_type("csv", "path must be a string (got %s)", show(path)) end
  opts = csv_options(opts)
  local ember = require "ember"
  local t, names = ember._csv_read(path, opts.sep or ",", opts.header ~= false)
  if opts.target == nil then
    return Dataset.new(t, nil, {features = names, name = path:match("([^/]+)$")})
  end
  local ycols, tnames, is_target = target_columns(path, names, opts.target)
  local xcols, features = {}, {}
  for j = 1, #names do
    if not is_target[j] then
      xcols[#xcols + 1] = j
      features[#features + 1] = names[j]
    end
  end
  if #xcols == 0 then fail("csv", "every column of %s is a target: no features left", path) end
  -- columns are rows of the transpose: the C gatherer picks them, once, at load time
  local tt = t:t():contiguous()
  local x = take_rows(tt, xcols, 1, #xcols):t():contiguous()
  local y = take_rows(tt, ycols, 1, #ycols):t():contiguous()
  local fields = {features = features, target = tnames, name = path:match("([^/]+)$")}
  if opts.classes then
    if #ycols ~= 1 then fail("csv", "classes = true needs exactly one target column (got %d)", #ycols) end
    y, fields.classes = class_indices(y)
  end
  return Dataset.new(x, y, fields)
end

-- data.synthetic_regression{n = 1000, features = 1, noise = 0.1, outliers = 0, outlier_scale = 10, seed}
-- -> dataset with x (n, features) ~ N(0, 1) and y (n, 1) = x w + b + noise * N(0, 1), where a fraction
-- `outliers` of the rows (picked at random) get an extra error of random sign and size in
-- [outlier_scale, 2 outlier_scale). The truth is kept: ds.w (features, 1), ds.b, ds.outlier_mask (n)
-- with 1 on the outliers. With seed the data are the same on every call and ember's global RNG is
-- untouched; without, they come from the global RNG (ember.manual_seed).
function M.synthetic_regression(cfg)
  local fn = "synthetic_regression"
  cfg = options(fn, cfg, {n = true, features = true, noise = true, outliers = true, outlier_scale = true,
                          seed = true})
  local n, f = cfg.n or 1000, cfg.features or 1
  for _, v in ipairs{{"n", n}, {"features", f}} do
    -- the kernel counts in C ints
    if not is_posint(v[2]) or v[2] > INT_MAX then
      fail(fn, "%s must be an integer in 1..%d (got %s)", v[1], INT_MAX, show(v[2]))
    end
  end
  local seed = cfg.seed
  if seed ~= nil and math.type(seed) ~= "integer" then
    fail_type(fn, "seed must be an integer (got %s)", show(seed))
  end
  for _, k in ipairs{"noise", "outliers", "outlier_scale"} do
    if cfg[k] ~= nil and type(cfg[k]) ~= "number" then
      fail_type(fn, "%s must be a number (got %s)", k, show(cfg[k]))
    end
  end
  local ember = require "ember"
  local ok, x, y, w, b, mask = pcall(ember._synthetic_regression, n, f, cfg.noise or 0.1, cfg.outliers or 0,
                                     cfg.outlier_scale or 10, seed)
  if not ok then E.reraise_as(x, "ember.data.synthetic_regression") end
  local features = {}
  for j = 1, f do features[j] = "x" .. j end
  local ds = Dataset.new(x, y, {features = features, target = {"y"}, name = "synthetic_regression"})
  ds.w, ds.b, ds.outlier_mask = w, b, mask
  return ds
end

return M
