-- data_spec.lua - ember.data: loaders on small files this spec writes itself (good and broken), split,
-- batches, normalisation, synthetic data, and the real data sets (shipped CSVs, Fashion-MNIST when
-- Debian's dataset-fashion-mnist is installed).
local ember = require "ember"
local data = ember.data

local h = dofile("tests/lua/spec_helper.lua")

local tmpdir = h.tmpdir()

local function write(name, bytes)
  local path = tmpdir .. "/" .. name
  h.write(path, bytes)
  return path
end

-- an IDX file of unsigned bytes: magic 0 0 8 ndim, big-endian dims, data
local function idx_bytes(dims, values)
  local parts = {string.char(0, 0, 8, #dims)}
  for _, d in ipairs(dims) do parts[#parts + 1] = string.pack(">I4", d) end
  parts[#parts + 1] = string.char(table.unpack(values))
  return table.concat(parts)
end

local function column(t, j)
  local out = {}
  for i, row in ipairs(t) do out[i] = row[j] end
  return out
end

local function flat(t)
  return t:reshape(-1):totable()
end

-- a dataset whose x rows are {i, 10 i} and y is i, for i = 1..n: every row says where it came from
local function numbered(n)
  local xs, ys = {}, {}
  for i = 1, n do xs[i] = {i, 10 * i}; ys[i] = i end
  return data.tensor_dataset(ember.tensor(xs), ember.tensor(ys))
end

-- f must raise an error whose message contains msg (plain text; busted's has_error would strip a
-- leading "file:line:" and our messages start with file names and line numbers)
local function fails_with(msg, f)
  local ok, err = pcall(f)
  assert(not ok, "expected an error containing: " .. msg)
  assert(tostring(err):find(msg, 1, true), ("error %q does not contain %q"):format(tostring(err), msg))
end

local function assert_near_list(expected, got, tol)
  assert.are.equal(#expected, #got)
  for i = 1, #expected do assert.is_near(expected[i], got[i], tol) end
end

local function sorted(t)
  local c = table.move(t, 1, #t, 1, {})
  table.sort(c)
  return c
end

local function range(n)
  local r = {}
  for i = 1, n do r[i] = i end
  return r
end

teardown(function() h.rmdir(tmpdir) end)

describe("tensor_dataset", function()
  it("holds x and y and reports its size", function()
    local ds = numbered(5)
    assert.are.equal(5, ds:size())
    assert.are.equal(5, #ds)
    assert.are.same({5, 2}, ds.x:shape())
    assert.are.same({1, 2, 3, 4, 5}, ds.y:totable())
  end)
  it("accepts nested tables", function()
    local ds = data.tensor_dataset({{1, 2}, {3, 4}}, {1, 2})
    assert.are.same({{1, 2}, {3, 4}}, ds.x:totable())
  end)
  it("rejects different sample counts", function()
    fails_with("tensor_dataset: x [3 x 2] and y [4] hold different numbers of samples",
               function() data.tensor_dataset(ember.zeros(3, 2), ember.zeros(4)) end)
  end)
end)

describe("split", function()
  it("is the same for the same seed, different for another, and loses no sample", function()
    local ds = numbered(20)
    ember.manual_seed(5)
    local a1, b1 = ds:split(0.75)
    ember.manual_seed(5)
    local a2, b2 = ds:split(0.75)
    ember.manual_seed(6)
    local a3 = ds:split(0.75)
    assert.are.equal(15, a1:size())
    assert.are.equal(5, b1:size())
    assert.are.same(a1.y:totable(), a2.y:totable())
    assert.are.same(b1.y:totable(), b2.y:totable())
    assert.are_not.same(a1.y:totable(), a3.y:totable())
    local all = a1.y:totable()
    for _, v in ipairs(b1.y:totable()) do all[#all + 1] = v end
    assert.are.same(range(20), sorted(all))
    -- rows stay paired: x row {i, 10 i} goes with y = i
    local xs, ys = a1.x:totable(), a1.y:totable()
    for k = 1, #ys do assert.are.same({ys[k], 10 * ys[k]}, xs[k]) end
    -- shuffled: the train part is not just the first 15 rows
    assert.are_not.same(range(15), a1.y:totable())
  end)
  it("takes counts, tables of sizes, and can keep the order", function()
    local ds = numbered(20)
    local a, b = ds:split(12)
    assert.are.equal(12, a:size()); assert.are.equal(8, b:size())
    a, b = ds:split{10, 5}
    assert.are.equal(10, a:size()); assert.are.equal(5, b:size())
    a, b = ds:split{train = 0.5, valid = 0.25}
    assert.are.equal(10, a:size()); assert.are.equal(5, b:size())
    a, b = ds:split(0.5, {shuffle = false})
    assert.are.same(range(10), a.y:totable())
    assert.are.same({11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, b.y:totable())
  end)
  it("rejects sizes that do not fit", function()
    local ds = numbered(20)
    fails_with("split: train must be a fraction in (0, 1) or a count (got 1.5)", function() ds:split(1.5) end)
    fails_with("split: train must be a count in 1..19 (got 20)", function() ds:split(20) end)
    fails_with("split: train 15 + valid 10 exceed the 20 samples", function() ds:split{15, 10} end)
    fails_with("split: train must be a number (got string)", function() ds:split("half") end)
  end)
end)

describe("batches", function()
  local function collect(ds, n, opts)
    local seen, sizes = {}, {}
    for x, y in ds:batches(n, opts) do
      sizes[#sizes + 1] = y:shape()[1]
      local xs = x:totable()
      for k, v in ipairs(y:totable()) do
        assert.are.same({v, 10 * v}, xs[k])   -- x and y rows stay paired
        seen[#seen + 1] = v
      end
    end
    return seen, sizes
  end

  it("cover every sample exactly once, in order without shuffle", function()
    local seen, sizes = collect(numbered(20), 7)
    assert.are.same(range(20), seen)
    assert.are.same({7, 7, 6}, sizes)
    assert.are.equal(3, numbered(20):batch_count(7))
  end)
  it("drop the short last batch with drop_last", function()
    local seen, sizes = collect(numbered(20), 7, {drop_last = true})
    assert.are.same({7, 7}, sizes)
    assert.are.same(range(14), seen)
    assert.are.equal(2, numbered(20):batch_count(7, {drop_last = true}))
  end)
  it("shuffle: every sample once, a new order, the same order for the same seed", function()
    local ds = numbered(20)
    ember.manual_seed(3)
    local s1 = collect(ds, 6, {shuffle = true})
    local s2 = collect(ds, 6, {shuffle = true})   -- the next epoch
    ember.manual_seed(3)
    local s3 = collect(ds, 6, {shuffle = true})
    assert.are.same(range(20), sorted(s1))
    assert.are_not.same(range(20), s1)
    assert.are_not.same(s1, s2)
    assert.are.same(s1, s3)
  end)
  it("refill one batch tensor instead of making one per batch", function()
    local ds = numbered(20)
    local xs, ys = {}, {}
    for x, y in ds:batches(5, {shuffle = true}) do xs[#xs + 1] = x; ys[#ys + 1] = y end
    assert.are.equal(4, #xs)
    for k = 2, 4 do
      assert.is_true(rawequal(xs[1], xs[k]))
      assert.is_true(rawequal(ys[1], ys[k]))
    end
    xs = {}
    for x in ds:batches(5, {reuse = false}) do xs[#xs + 1] = x end
    assert.is_false(rawequal(xs[1], xs[2]))
    assert.are.same({{1, 10}, {2, 20}, {3, 30}, {4, 40}, {5, 50}}, xs[1]:totable())
    assert.are.same({{6, 60}, {7, 70}, {8, 80}, {9, 90}, {10, 100}}, xs[2]:totable())
  end)
  it("handle a batch larger than the data set and 4-d images", function()
    local x = ember.arange(0, 24):reshape(3, 2, 2, 2)
    local ds = data.tensor_dataset(x, ember.tensor{1, 2, 3})
    local n = 0
    for bx, by in ds:batches(8) do
      n = n + 1
      assert.are.same({3, 2, 2, 2}, bx:shape())
      assert.are.same(x:totable(), bx:totable())
      assert.are.same({1, 2, 3}, by:totable())
    end
    assert.are.equal(1, n)
  end)
  it("reject a bad batch size", function()
    fails_with("batches: batch size must be a positive integer (got 0)",
               function() numbered(4):batches(0) end)
  end)
end)

describe("standardize and normalize", function()
  -- columns {1, 2, 3, 6} (mean 3, population std sqrt(3.5)) and the constant {5, 5, 5, 5}
  local function table4()
    return data.tensor_dataset(ember.tensor{{1, 5}, {2, 5}, {3, 5}, {6, 5}}, ember.tensor{1, 2, 3, 4})
  end
  it("standardize returns the training statistics and the test set reuses them", function()
    local train = table4()
    local st = train:standardize()
    assert.are.same({1, 2}, st.mean:shape())
    local m, s = flat(st.mean), flat(st.std)
    assert.is_near(3, m[1], 1e-6); assert.is_near(5, m[2], 1e-6)
    assert.is_near(math.sqrt(3.5), s[1], 1e-6); assert.is_near(0, s[2], 1e-6)
    local x = train.x:totable()
    assert.is_near(-2 / math.sqrt(3.5), x[1][1], 1e-6)
    assert.is_near(3 / math.sqrt(3.5), x[4][1], 1e-6)
    assert.are.same({0, 0, 0, 0}, column(x, 2))   -- constant feature: 0, not NaN
    local test = data.tensor_dataset(ember.tensor{{3, 5}, {3 + math.sqrt(3.5), 7}}, ember.tensor{1, 2})
    assert.are.equal(st, test:standardize(st))
    local tx = test.x:totable()
    assert.is_near(0, tx[1][1], 1e-6); assert.is_near(1, tx[2][1], 1e-6)
    assert.is_near(2, tx[2][2], 1e-6)               -- (7 - 5) / 1 for the zero-std column
  end)
  it("standardize accepts plain numbers and checks the sizes", function()
    local ds = data.tensor_dataset(ember.tensor{{1}, {3}}, ember.tensor{1, 2})
    ds:standardize{mean = 1, std = 2}
    assert.are.same({{0}, {1}}, ds.x:totable())
    fails_with("ember.data.Dataset:standardize: statistics [3] and [3] do not match the 2 feature groups of [4 x 2]",
               function() table4():standardize{mean = {1, 2, 3}, std = {1, 1, 1}} end)
  end)
  it("images get one statistic per channel", function()
    -- channel 1 holds {0, 1, 2, 3}, channel 2 holds {4, 4, 8, 8}
    local x = ember.tensor{0, 1, 4, 4, 2, 3, 8, 8}:reshape(2, 2, 1, 2)
    local ds = data.tensor_dataset(x, ember.tensor{1, 2})
    local st = ds:standardize()
    assert.are.same({1, 2, 1, 1}, st.mean:shape())
    assert.is_near(1.5, flat(st.mean)[1], 1e-6); assert.is_near(6, flat(st.mean)[2], 1e-6)
    assert.is_near(2, flat(st.std)[2], 1e-6)
    assert.is_near(1, flat(ds.x)[8], 1e-6)           -- (8 - 6) / 2
  end)
  it("normalize maps each feature to [0, 1] and reuses the stats", function()
    local train = table4()
    local st = train:normalize()
    assert.are.same({1, 5}, flat(st.min)); assert.are.same({6, 5}, flat(st.max))
    local x = train.x:totable()
    assert_near_list({0, 0.2, 0.4, 1}, column(x, 1), 1e-6)
    assert.are.same({0, 0, 0, 0}, column(x, 2))
    local test = data.tensor_dataset(ember.tensor{{11, 5}}, ember.tensor{1})
    test:normalize(st)
    assert.are.same({{2, 0}}, test.x:totable())
  end)
  it("leaves datasets that share the tensor alone", function()
    local ds = table4()
    local sub = ds:subset(2)
    sub:standardize()
    assert.are.same({{1, 5}, {2, 5}, {3, 5}, {6, 5}}, ds.x:totable())
  end)
end)

describe("subset", function()
  it("takes the first n samples, or n random ones", function()
    local ds = numbered(10)
    assert.are.same({1, 2, 3}, ds:subset(3).y:totable())
    ember.manual_seed(9)
    local r = ds:subset(4, {shuffle = true}).y:totable()
    assert.are.equal(4, #r)
    assert.are_not.same({1, 2, 3, 4}, r)
    fails_with("subset: n must be an integer in 1..10 (got 11)", function() ds:subset(11) end)
  end)
end)

describe("csv", function()
  local good = write("good.csv", "a,b,c\n1,2,3\n4,5,6\n")
  it("splits features and one target column", function()
    local ds = data.csv(good, {target = "b"})
    assert.are.same({{1, 3}, {4, 6}}, ds.x:totable())
    assert.are.same({{2}, {5}}, ds.y:totable())
    assert.are.same({"a", "c"}, ds.features)
    assert.are.same({"b"}, ds.target)
  end)
  it("takes several target columns in the order given", function()
    local ds = data.csv(good, {target = {"c", "a"}})
    assert.are.same({{2}, {5}}, ds.x:totable())
    assert.are.same({{3, 1}, {6, 4}}, ds.y:totable())
  end)
  it("reads files without a header, other separators, and no target", function()
    local p = write("nohead.csv", "1;2;3\n4;5;6\n")
    local ds = data.csv(p, {header = false, sep = ";", target = 3})
    assert.are.same({{1, 2}, {4, 5}}, ds.x:totable())
    assert.are.same({{3}, {6}}, ds.y:totable())
    assert.are.same({"c1", "c2"}, ds.features)
    ds = data.csv(good)
    assert.are.same({2, 3}, ds.x:shape())
    assert.is_nil(ds.y)
  end)
  it("turns labels into class indices with classes = true", function()
    local p = write("cls.csv", "f,label\n0.5,3\n1.5,7\n2.5,3\n3.5,5\n")
    local ds = data.csv(p, {target = "label", classes = true})
    assert.are.same({1, 3, 1, 2}, ds.y:totable())
    assert.are.same({3, 5, 7}, ds.classes)
  end)
  it("names the missing target column and lists the columns", function()
    fails_with("csv: " .. good .. " has no column \"z\" (columns: a, b, c)",
               function() data.csv(good, {target = "z"}) end)
  end)
  it("names the file, line and column of bad fields", function()
    local ragged = write("ragged.csv", "a,b,c\n1,2,3\n4,5\n")
    fails_with("csv: " .. ragged .. ":3: 2 fields, expected 3 as on line 1 (ragged row)",
               function() data.csv(ragged, {target = "c"}) end)
    local word = write("word.csv", "age,bmi\n1,2\n3,x7\n")
    fails_with("csv: " .. word .. ":3: column 2 (bmi): \"x7\" is not a number",
               function() data.csv(word, {target = "age"}) end)
    local empty = write("empty.csv", "")
    fails_with("csv: " .. empty .. ": empty file", function() data.csv(empty) end)
    local missing = tmpdir .. "/missing.csv"
    fails_with("csv: " .. missing .. ": No such file or directory", function() data.csv(missing) end)
  end)
  it("drops a UTF-8 byte-order mark, so the first column has the name it shows", function()
    local p = write("bom.csv", "\xEF\xBB\xBFage,bmi\n1,2\n3,4\n")
    local ds = data.csv(p, {target = "age"})
    assert.are.same({{1}, {3}}, ds.y:totable())
    local x, names = ember._csv_read(p)
    assert.are.equal("age", names[1])
    assert.are.same({{1, 2}, {3, 4}}, x:totable())
  end)
end)

describe("idx", function()
  -- two 2x2 images and their labels 3 and 0
  local images = write("img-idx3-ubyte", idx_bytes({2, 2, 2}, {0, 51, 102, 255, 255, 0, 0, 0}))
  local labels = write("lab-idx1-ubyte", idx_bytes({2}, {3, 0}))
  it("reads images scaled to [0, 1] and labels as class indices", function()
    local ds = data.idx(images, labels)
    assert.are.same({2, 1, 2, 2}, ds.x:shape())
    local v = flat(ds.x)
    assert.is_near(0.2, v[2], 1e-7); assert.is_near(0.4, v[3], 1e-7); assert.is_near(1, v[4], 1e-7)
    assert.are.same({4, 1}, ds.y:totable())
  end)
  it("reads gzipped files", function()
    if not os.execute("gzip -kf '" .. images .. "' 2>/dev/null") then return end
    local ds = data.idx(images .. ".gz", labels)
    assert.are.same({2, 1, 2, 2}, ds.x:shape())
    assert.is_near(0.4, flat(ds.x)[3], 1e-7)
  end)
  it("rejects a count mismatch, a wrong magic number, a truncated file", function()
    local three = write("three-idx1-ubyte", idx_bytes({3}, {1, 2, 3}))
    fails_with("idx: " .. images .. " holds 2 images but " .. three .. " holds 3 labels",
               function() data.idx(images, three) end)
    local bad = write("bad-idx3-ubyte", "\1\2\8\3" .. string.rep("\0", 20))
    fails_with("idx: " .. bad .. ": not an IDX file (magic number 0x01020803, expected 0x000008NN)",
               function() data.idx(bad, labels) end)
    local cut = write("cut-idx3-ubyte", idx_bytes({2, 2, 2}, {1, 2, 3}))
    fails_with("idx: " .. cut .. ": truncated: the header declares [2 x 2 x 2] = 8 bytes of data, "
               .. "the file has 3",
               function() data.idx(cut, labels) end)
    fails_with("idx: " .. tmpdir .. "/none: No such file or directory",
               function() data.idx(tmpdir .. "/none", labels) end)
  end)
end)

describe("synthetic_regression", function()
  it("is reproducible with a seed and exact without noise", function()
    local a = data.synthetic_regression{n = 50, features = 3, noise = 0, seed = 4}
    local b = data.synthetic_regression{n = 50, features = 3, noise = 0, seed = 4}
    assert.are.same(a.y:totable(), b.y:totable())
    assert.are.same({50, 3}, a.x:shape()); assert.are.same({50, 1}, a.y:shape())
    local fit = (a.x:matmul(a.w) + a.b):totable()
    local y = a.y:totable()
    for i = 1, 50 do assert.is_near(fit[i][1], y[i][1], 1e-4) end
  end)
  it("puts round(outliers * n) outliers off by outlier_scale to twice that", function()
    local ds = data.synthetic_regression{n = 200, features = 2, noise = 0, outliers = 0.05,
                                         outlier_scale = 20, seed = 8}
    local mask, y = flat(ds.outlier_mask), flat(ds.y)
    local fit = flat(ds.x:matmul(ds.w) + ds.b)
    local count = 0
    for i = 1, 200 do
      local err = math.abs(y[i] - fit[i])
      if mask[i] == 1 then
        count = count + 1
        assert.is_true(err >= 19.99 and err < 40.01)
      else
        assert.is_near(0, err, 1e-4)
      end
    end
    assert.are.equal(10, count)
  end)
  it("rejects bad settings", function()
    fails_with("synthetic_regression: n must be an integer in 1..2147483647 (got 0)",
               function() data.synthetic_regression{n = 0} end)
    fails_with("synthetic_regression: outliers is a fraction in [0, 1] (got 2)",
               function() data.synthetic_regression{outliers = 2} end)
  end)
end)

describe("shipped data sets", function()
  it("diabetes.csv: 442 patients, 10 features, the target column", function()
    local ds = data.csv("experiments/data/diabetes.csv", {target = "target"})
    assert.are.equal(442, ds:size())
    assert.are.same({"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}, ds.features)
    assert.are.same({442, 1}, ds.y:shape())
    local first = ds.x:narrow(1, 1, 1):totable()[1]
    assert_near_list({59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87}, first, 1e-4)   -- float32
    assert.is_near(152.133, ds.y:mean():item(), 1e-3)   -- mean of the targets, by awk
  end)
  it("digits.csv: 1797 images of 64 pixels, labels 0..9 as classes 1..10", function()
    local ds = data.csv("experiments/data/digits.csv", {target = "label", classes = true})
    assert.are.equal(1797, ds:size())
    assert.are.same({1797, 64}, ds.x:shape())
    assert.are.same({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ds.classes)
    local count = {}
    for _, c in ipairs(ds.y:totable()) do count[c] = (count[c] or 0) + 1 end
    assert.are.same({178, 182, 177, 183, 181, 182, 181, 179, 174, 180}, count)
    assert.are.equal(16, ds.x:max():item())
  end)
end)

describe("script_path", function()
  it("finds a file beside the calling script from any folder; keeps absolute names and non-file chunks", function()
    local dir = tmpdir .. "/exp"
    assert(require("ember.util").mkdir_p(dir))
    h.write(dir .. "/x.lua", 'local p = require("ember").data.script_path("data/d.csv")\nreturn p\n')
    assert.are.equal(dir .. "/data/d.csv", dofile(dir .. "/x.lua"))
    assert.are.equal(dir .. "/data/d.csv", assert(loadfile(dir .. "/x.lua"))())
    h.write(dir .. "/y.lua", 'local function f() local p = require("ember").data.script_path("d.csv"); return p end\n'
      .. 'local p = f()\nreturn p\n')
    assert.are.equal(dir .. "/d.csv", dofile(dir .. "/y.lua"))   -- from a function of the script
    assert.are.equal("/abs/d.csv", data.script_path("/abs/d.csv"))
    assert.are.equal("d.csv", assert(load('local p = require("ember").data.script_path("d.csv") return p', "=(repl)"))())
    h.write(dir .. "/z.lua", 'return require("ember").data.script_path("d.csv")\n')
    fails_with("script_path: called as a tail call", function() dofile(dir .. "/z.lua") end)
    fails_with("script_path: name must be a string (got 5)", function() data.script_path(5) end)
    fails_with('script_path: name cannot contain a NUL byte (got "d\\0.csv")', function() data.script_path("d\0.csv") end)
  end)
end)

describe("fashion_mnist", function()
  local dir = "/usr/share/datasets/fashion-mnist"
  local present = io.open(dir .. "/t10k-labels-idx1-ubyte.gz", "rb")
  if present then present:close() end

  it("says how to get the files when they are missing", function()
    fails_with("fashion_mnist: " .. tmpdir .. "/train-images-idx3-ubyte(.gz) not found; "
               .. "pass the folder holding the four IDX files",
               function() data.fashion_mnist("train", tmpdir) end)
    fails_with("fashion_mnist: split must be \"train\" or \"test\" (got valid)",
               function() data.fashion_mnist("valid") end)
  end)

  if not present then
    pending("dataset-fashion-mnist is not installed (sudo apt-get install dataset-fashion-mnist)")
    return
  end
  local function histogram(ds)
    local count = {}
    for _, c in ipairs(ds.y:totable()) do count[c] = (count[c] or 0) + 1 end
    return count
  end
  -- (how fast it loads is measured by bench/, never asserted here: the machine may be loaded)
  it("train: 60000 images in [0, 1], 6000 per class", function()
    local ds = data.fashion_mnist("train")
    assert.are.equal(60000, ds:size())
    assert.are.same({60000, 1, 28, 28}, ds.x:shape())
    assert.are.equal(0, ds.x:min():item())
    assert.are.equal(1, ds.x:max():item())
    local counts = histogram(ds)
    for c = 1, 10 do assert.are.equal(6000, counts[c]) end
    assert.are.equal(10, #ds.classes)
  end)
  it("test: 10000 images, 1000 per class", function()
    local ds = data.fashion_mnist("test")
    assert.are.equal(10000, ds:size())
    local counts = histogram(ds)
    for c = 1, 10 do assert.are.equal(1000, counts[c]) end
  end)
end)

-- what an adversarial pass over every loader and dataset method found (issue 17): options that were not
-- a table, misspelt or of the wrong type gave raw Lua errors ("attempt to index a number value") or
-- were silently ignored; C errors named an internal function
describe("hostile arguments", function()
  local errmsg = h.errmsg
  local csv = write("adv.csv", "a,b,y\n1,2,0\n3,4,1\n")

  it("data.csv(path, 5) says what the second argument must be, and what was probably meant", function()
    assert.are.equal("ember.data.csv: the second argument must be an options table {target = ..., header = true, "
                     .. "sep = \",\", classes = false} (got 5); for column 5 as the target, write "
                     .. "data.csv(path, {target = 5})", errmsg(data.csv, csv, 5))
    assert.are.equal("type", h.errkind(data.csv, csv, 5))
    assert.truthy(errmsg(data.csv, csv, "y"):find('write data.csv(path, {target = "y"})', 1, true))
    assert.are.equal("ember.data.csv: the second argument must be an options table {target = ..., header = true, "
                     .. "sep = \",\", classes = false} (got true)", errmsg(data.csv, csv, true))
  end)

  it("options are checked: names, booleans, target columns", function()
    assert.are.equal("ember.data.csv: unknown option 'traget' (known: classes, header, sep, target)",
                     errmsg(data.csv, csv, {traget = "y"}))
    assert.are.equal("ember.data.csv: option header must be true or false (got \"no\")",
                     errmsg(data.csv, csv, {header = "no"}))
    assert.are.equal("ember.data.csv: target must be a column name, a column number or a list of them (got true)",
                     errmsg(data.csv, csv, {target = true}))
    local ds = numbered(4)
    assert.are.equal("ember.data.Dataset:batches: options must be a table {drop_last = ..., reuse = ..., "
                     .. "shuffle = ...} (got true)", errmsg(ds.batches, ds, 2, true))
    assert.are.equal("ember.data.Dataset:split: unknown option 'shufle' (known: shuffle)",
                     errmsg(ds.split, ds, 0.5, {shufle = false}))
    assert.are.equal("ember.data.Dataset:subset: option shuffle must be true or false (got 1)",
                     errmsg(ds.subset, ds, 2, {shuffle = 1}))
    assert.are.equal("ember.data.Dataset:batch_count: unknown option 'droplast' (known: drop_last, reuse, shuffle)",
                     errmsg(ds.batch_count, ds, 2, {droplast = true}))
  end)

  it("loaders check their other arguments", function()
    assert.are.equal("ember.data.fashion_mnist: dir must be the path of a folder (got 5)",
                     errmsg(data.fashion_mnist, "train", 5))
    assert.are.equal("ember.data.tensor_dataset: fields must be a table (got 5)",
                     errmsg(data.tensor_dataset, ember.zeros(2, 1), nil, 5))
    assert.are.equal("ember.data.tensor_dataset: x is not a table of numbers: ember.tensor: element [1] is a string, "
                     .. "expected a number", errmsg(data.tensor_dataset, {"a"}))
    assert.are.equal("ember.data.tensor_dataset: x must have a sample dimension (got [])",
                     errmsg(data.tensor_dataset, ember.tensor(1)))
    assert.are.equal("ember.data.synthetic_regression: n must be an integer in 1..2147483647 (got 1099511627776)",
                     errmsg(data.synthetic_regression, {n = 1 << 40}))
    assert.are.equal("ember.data.synthetic_regression: unknown option 'nosie' (known: features, n, noise, outlier_scale, "
                     .. "outliers, seed)", errmsg(data.synthetic_regression, {nosie = 1}))
    -- the kernel's own check, named by the function called
    assert.truthy(errmsg(data.synthetic_regression, {noise = -1}):find("^ember%.data%.synthetic_regression: noise"))
    local ds = numbered(4)
    assert.truthy(errmsg(ds.standardize, ds, {mean = {1, 2, 3}, std = 1}):find("^ember%.data%.Dataset:standardize: "))
  end)
end)
