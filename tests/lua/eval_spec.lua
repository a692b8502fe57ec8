-- Specs for `ember eval` and `ember export` (ember.eval, ember.cli.eval, ember.cli.export): models rebuilt
-- from a run's checkpoint and run on data prepared as the run prepared its own, confusion matrices
-- worked out by hand, the files written, a heatmap whose script holds none of the class names, clear
-- errors, and weights written for PyTorch and NumPy. Checkpoints are written with ember.save directly;
-- what ember.fit records for eval is eval_fit_spec.lua's.
local ember = require "ember"
local lfs = require "lfs"
local h = dofile("tests/lua/spec_helper.lua")
local nn = ember.nn

local root

before_each(function() root = h.fresh_session() end)
after_each(function() h.end_session(root) end)

local ember_cli = h.cli

-- a Linear(3, c) whose weight is the identity (c = 3): it predicts the class of the largest feature
local function argmax_model(c)
  local m = nn.Sequential{nn.Linear(3, c or 3)}
  ember.no_grad(function()
    m[1].weight:fill(0)
    for i = 1, math.min(3, c or 3) do m[1].weight[i][i] = 1 end
    m[1].bias:fill(0)
  end)
  return m
end

-- a run directory holding a checkpoint of model as ember.fit writes it (best.ckpt unless name says)
local function make_run(model, extra, name)
  local dir = root .. "/runs/exp/20240101-000000-abcdef"
  assert(require("ember.util").mkdir_p(dir))
  h.write(dir .. "/metrics.tsv", "epoch\ttrain_loss\n1\t0.5\n")
  local ck = {format = "ember.fit", version = 1, epoch = 3, model = model:state_dict()}
  local ok, spec = pcall(model.spec, model)
  if ok then ck.model_spec = spec end
  for k, v in pairs(extra or {}) do ck[k] = v end
  ember.save(dir .. "/" .. (name or "best.ckpt"), ck)
  return dir
end

-- 4 rows, features a, b, c, labels 10/20/30 (classes 1..3). Raw, the largest feature is the class of
-- every row; with c multiplied by 10 (standardised with std 0.1), row 1 goes to class 3.
local CSV = "a,b,c,label\n3,1,0.5,10\n1,3,0.2,20\n1,2,4,30\n2,1,0.1,10\n"
local DATA = {classes = {10, 20, 30}, features = {"a", "b", "c"}, target = {"label"}}

local function csv_file(text)
  local p = root .. "/data.csv"
  h.write(p, text or CSV)
  return p
end

describe("ember eval", function()
  it("runs the data through the rebuilt model and counts the confusion matrix", function()
    local dir = make_run(argmax_model(), {data = DATA})
    local status, out = ember_cli("eval", {dir, "--data", csv_file(), "--term", "dumb"})
    assert.are.equal(0, status)
    assert.truthy(out:find("4 samples, 3 classes", 1, true))
    assert.truthy(out:find("\n    accuracy                           1.0000        4\n", 1, true))
    assert.are.equal("true\\pred\t10\t20\t30\n10\t2\t0\t0\n20\t0\t1\t0\n30\t0\t0\t1\n",
                     h.read(dir .. "/eval/confusion.tsv"))
    local info = h.kv(dir .. "/eval/info.tsv")
    assert.are.equal(dir .. "/best.ckpt", info.checkpoint)
    assert.are.equal("3", info.epoch)
    assert.are.equal("4", info.samples)
    assert.are.equal("1", info.accuracy)
  end)

  it("names its files the same when the run directory is given with a trailing slash", function()
    local dir = make_run(argmax_model(), {data = DATA})
    local status, out = ember_cli("eval", {dir .. "//", "--data", csv_file(), "--term", "dumb"})
    assert.are.equal(0, status)
    assert.truthy(out:find("wrote " .. dir .. "/eval/confusion.tsv,", 1, true), out)
    assert.falsy(out:find("//", 1, true), out)
    status, out = ember_cli("export", {dir .. "/", "--format", "npz"})
    assert.are.equal(0, status)
    assert.truthy(out:find(dir .. "/best.npz: ", 1, true), out)
  end)

  it("prepares the data as the run did: its input statistics, its feature columns by name", function()
    local input = {standardize = {mean = ember.tensor{0, 0, 0}, std = ember.tensor{1, 1, 0.1}}}
    local dir = make_run(argmax_model(), {data = {classes = DATA.classes, features = DATA.features,
                                                  target = DATA.target, input = input}})
    -- the file's columns in another order: the features are picked by name
    local p = csv_file("label,c,b,a\n10,0.5,1,3\n20,0.2,3,1\n30,4,2,1\n10,0.1,1,2\n")
    local status, out = ember_cli("eval", {dir, "--data", p, "--out", root .. "/e", "--term", "dumb"})
    assert.are.equal(0, status, out)
    -- row 1 (true 10) is now predicted 30; the others stay right
    assert.are.equal("true\\pred\t10\t20\t30\n10\t1\t0\t1\n20\t0\t1\t0\n30\t0\t0\t1\n",
                     h.read(root .. "/e/confusion.tsv"))
    local rows = h.lines(h.read(root .. "/e/metrics.tsv"))
    assert.are.equal("10\t1\t0.5\t0.6666666666666666\t2", rows[2])
    assert.are.equal("30\t0.5\t1\t0.6666666666666666\t1", rows[4])
    assert.are.equal("accuracy\t0.75\t0.75\t0.75\t4", rows[7])
  end)

  it("maps labels by the run's classes, whatever labels the file lacks", function()
    -- a file without label 20: class 30 must stay class 3, not become class 2
    local dir = make_run(argmax_model(), {data = DATA})
    local status = ember_cli("eval", {dir, "--data", csv_file("a,b,c,label\n1,2,4,30\n3,1,0,10\n"), "--term", "dumb"})
    assert.are.equal(0, status)
    assert.are.equal("true\\pred\t10\t20\t30\n10\t1\t0\t0\n20\t0\t0\t0\n30\t0\t0\t1\n",
                     h.read(dir .. "/eval/confusion.tsv"))
    local status2, _, err = ember_cli("eval", {dir, "--data", csv_file("a,b,c,label\n1,2,4,40\n"), "--term", "dumb"})
    assert.are.equal(1, status2)
    assert.truthy(err:find("row 1 has the label 40, which is not one of the run's classes (10, 20, 30)", 1, true), err)
  end)

  it("loads digits as the experiments do when the run recorded no input", function()
    local m = nn.Sequential{nn.Conv2d(1, 2, 3, {padding = 1}), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 10)}
    local dir = make_run(m)
    local status, out = ember_cli("eval", {dir, "--data", "digits", "--term", "dumb"})
    assert.are.equal(0, status, out)
    assert.truthy(out:find("digits: 1797 samples, 10 classes", 1, true))
    -- the same numbers by hand: pixels / 16, shaped (N, 1, 8, 8)
    local ds = ember.data.csv("experiments/data/digits.csv", {target = "label", classes = true})
    local pred = ember.no_grad(function() return m:eval()((ds.x / 16):reshape(-1, 1, 8, 8)):argmax(2) end)
    local correct = pred:eq(ds.y):sum():item()
    assert.are.equal(require("ember.util").number_text(correct / 1797), h.kv(dir .. "/eval/info.tsv").accuracy)
  end)

  it("gives digits flat to a model that does not start with a convolution, as the MLP experiments do", function()
    local m = nn.Sequential{nn.Linear(64, 10)}
    local dir = make_run(m)
    assert.are.equal(0, (ember_cli("eval", {dir, "--data", "digits", "--term", "dumb"})))
    local ds = ember.data.csv("experiments/data/digits.csv", {target = "label", classes = true})
    local correct = ember.no_grad(function() return m:eval()(ds.x / 16):argmax(2):eq(ds.y):sum():item() end)
    assert.are.equal(require("ember.util").number_text(correct / 1797), h.kv(dir .. "/eval/info.tsv").accuracy)
  end)

  it("draws the heatmap without any class name in its script", function()
    local evil = '"); system("touch PWNED"); print("'
    local dir = make_run(argmax_model(), {data = {classes = {evil, "b\nc", "ok"}, features = DATA.features,
                                                  target = DATA.target}})
    local p = csv_file("a,b,c,label\n3,1,0.5,1\n1,3,0.2,2\n1,2,4,3\n")
    local status, out, err = ember_cli("eval", {dir, "--data", p})
    assert.are.equal(0, status, err)
    assert.are.equal("file", lfs.attributes(dir .. "/eval/confusion.png", "mode"))
    local gp = h.read(dir .. "/eval/confusion.gp")
    assert.is_nil(gp:find("PWNED", 1, true))
    assert.is_nil(gp:find("system", 1, true))
    assert.is_false(h.exists(dir .. "/eval/PWNED") or h.exists("PWNED"))
    assert.truthy(h.read(dir .. "/eval/confusion.dat"):find("# 2 " .. evil, 1, true))
    assert.truthy(out:find("confusion.png", 1, true))
  end)

  it("draws the counts in the terminal with --term dumb", function()
    local dir = make_run(argmax_model(), {data = DATA})
    local _, out = ember_cli("eval", {dir, "--data", csv_file(), "--term", "dumb"})
    assert.truthy(out:find("rows: true class", 1, true))
    assert.truthy(out:find("predicted", 1, true))
    assert.is_false(h.exists(dir .. "/eval/confusion.txt"))
  end)

  it("still measures and writes the files without gnuplot, and says why there is no heatmap", function()
    local dir = make_run(argmax_model(), {data = DATA})
    local r = ember.eval.evaluate{run = dir, data = csv_file(), gnuplot = root .. "/no-gnuplot"}
    assert.are.equal(1, r.cm.accuracy)
    assert.is_nil(r.figure)
    assert.truthy(r.figure_error:find("gnuplot not found at", 1, true))
    assert.truthy(h.exists(dir .. "/eval/metrics.tsv"))
  end)

  it("rebuilds a run's model for scripts: ember.eval.load_model", function()
    local dir = make_run(argmax_model(), {data = DATA})
    local model, ck = ember.eval.load_model(dir)
    assert.are.equal(3, ck.epoch)
    assert.is_false(model.training)
    assert.are.same({{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, model[1].weight:totable())
    local ok, err = pcall(ember.eval.load_model, dir .. "\0/other")
    assert.is_false(ok)
    assert.truthy(tostring(err):find("ember.eval.load_model: give a run directory or checkpoint without a NUL byte", 1, true),
      tostring(err))
  end)

  describe("says clearly what is wrong", function()
    it("with a run that is not there, or has no checkpoint", function()
      local status, _, err = ember_cli("eval", {root .. "/nope", "--data", "digits"})
      assert.are.equal(2, status)
      assert.truthy(err:find("ember eval: '" .. root .. "/nope' is not a run directory", 1, true))
      local dir = make_run(argmax_model(), nil, "last.ckpt")
      status, _, err = ember_cli("eval", {dir, "--data", "digits"})
      assert.are.equal(1, status)
      assert.truthy(err:find("has no best.ckpt (it has last.ckpt: --ckpt last)", 1, true), err)
      assert.are.equal("io", h.errkind(ember.eval.evaluate, {run = dir, data = "digits"}))
      status = ember_cli("eval", {dir})
      assert.are.equal(2, status)
    end)

    it("with a checkpoint whose model could not describe itself", function()
      local Net = nn.Module:extend("Net")
      function Net:init() self.fc = nn.Linear(3, 3) end
      function Net:forward(x) return self.fc(x) end
      local dir = make_run(Net(), {model_spec_error = "Net:spec: the model: Net has no spec"})
      local msg = h.errmsg(ember.eval.evaluate, {run = dir, data = "digits"})
      assert.truthy(msg:find("ember eval: this run's model could not describe itself: Net:spec: the model: Net has no spec",
                             1, true), msg)
      assert.are.equal("format", h.errkind(ember.eval.evaluate, {run = dir, data = "digits"}))
    end)

    it("with data that does not fit the model, or a model that is not a classifier", function()
      local dir = make_run(nn.Sequential{nn.Linear(5, 3)}, {data = DATA})
      local msg = h.errmsg(ember.eval.evaluate, {run = dir, data = csv_file(), plot = false})
      assert.truthy(msg:find("ember eval: the data (x [4 x 3] after preparation) does not fit the model", 1, true), msg)
      assert.are.equal("shape", h.errkind(ember.eval.evaluate, {run = dir, data = csv_file(), plot = false}))
      dir = make_run(nn.Sequential{nn.Linear(3, 1)}, {data = DATA})
      msg = h.errmsg(ember.eval.evaluate, {run = dir, data = csv_file(), plot = false})
      assert.truthy(msg:find("the model's output is [4 x 1]: not a classifier", 1, true), msg)
    end)

    it("with data whose samples differ from the input shape the run recorded, naming both", function()
      local function with_input(input)
        local d = {input = input}
        for k, v in pairs(DATA) do d[k] = v end
        return make_run(argmax_model(), {data = d})
      end
      local dir = with_input({shape = {1, 8, 8}})
      local msg = h.errmsg(ember.eval.evaluate, {run = dir, data = csv_file(), plot = false})
      assert.are.equal("ember eval: the data's samples are [3] (3 values; x [4 x 3]), but the run's model was trained "
                       .. "on samples [1 x 8 x 8] (64 values; its checkpoint's data.input.shape)", msg)
      assert.are.equal("shape", h.errkind(ember.eval.evaluate, {run = dir, data = csv_file(), plot = false}))
      local status, _, err = ember_cli("eval", {dir, "--data", csv_file(), "--term", "dumb"})
      assert.are.equal(1, status)
      assert.truthy(err:find("[1 x 8 x 8] (64 values", 1, true), err)
      -- the same count of values in another layout is the loader's shape, reshaped as the run did
      status = ember_cli("eval", {with_input({shape = {3}}), "--data", csv_file(), "--term", "dumb"})
      assert.are.equal(0, status)
    end)

    it("with a checkpoint whose data.input is not what ember.fit records, instead of a Lua error", function()
      for _, c in ipairs{{{shape = {"x"}}, 'input.shape[1] must be a positive integer (got "x")'},
                         {{shape = "abc"}, "input.shape must be a list of sizes of one sample"},
                         {{shape = {0}}, "input.shape[1] must be a positive integer (got 0)"},
                         {"bogus", 'input must be a table {scale = ..., standardize = stats'},
                         {{scale = "x"}, 'input.scale must be a finite non-zero number (got "x")'},
                         {{scale = 0 / 0}, "input.scale must be a finite non-zero number"},
                         {{standardize = {mean = 1}}, "input.standardize.std must be a tensor, a number or a list"},
                         {{extra = 1}, "input: unknown option"},
                         -- 2^80 values wrapped around to 0 in the integer product
                         {{shape = {1 << 40, 1 << 40}},
                          "input.shape {1099511627776, 1099511627776} is too large: one sample of it holds more than 2^40 "
                          .. "values"}} do
        local d = {input = c[1]}
        for k, v in pairs(DATA) do d[k] = v end
        local dir = make_run(argmax_model(), {data = d})
        local msg = h.errmsg(ember.eval.evaluate, {run = dir, data = csv_file(), plot = false})
        assert.truthy(msg:find("ember eval: the checkpoint's data.input is not what ember.fit records: " .. c[2], 1, true),
                      msg)
        assert.are.equal("format", h.errkind(ember.eval.evaluate, {run = dir, data = csv_file(), plot = false}))
      end
    end)

    it("with --data naming a FIFO or a folder: not a regular file, not 'no such file'", function()
      local dir = make_run(argmax_model(), {data = DATA})
      local fifo = root .. "/fifo.csv"
      assert.are.equal(0, select(2, h.sh("mkfifo " .. require("ember.util").shell_quote(fifo))))
      for _, p in ipairs{fifo, root} do
        assert.are.equal("ember eval: --data " .. p .. ": not a regular file",
                         h.errmsg(ember.eval.evaluate, {run = dir, data = p, plot = false}))
      end
      assert.are.equal("ember eval: --data " .. root .. "/none.csv: no such file",
                       h.errmsg(ember.eval.evaluate, {run = dir, data = root .. "/none.csv", plot = false}))
    end)

    it("with a CSV file and no class column", function()
      local dir = make_run(argmax_model())
      local status, _, err = ember_cli("eval", {dir, "--data", csv_file()})
      assert.are.equal(2, status)
      assert.truthy(err:find("give the class column with --target COL", 1, true))
      status = ember_cli("eval", {dir, "--data", csv_file(), "--target", "label", "--term", "dumb"})
      assert.are.equal(0, status)
      status, _, err = ember_cli("eval", {dir, "--data", "mnist"})
      assert.are.equal(2, status)
      assert.truthy(err:find("give fashion-mnist:test, fashion-mnist:train, digits or the path of a CSV file", 1, true))
    end)
  end)
end)

describe("ember export", function()
  local function same(a, b)
    assert.are.same(a:shape(), b:shape())
    assert.are.equal(0, (a - b):abs():sum():item())
  end

  it("writes the checkpoint's weights as npz and safetensors, which ember.load reads back", function()
    ember.manual_seed(5)
    local m = nn.Sequential{nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)}
    local dir = make_run(m)
    local status, out = ember_cli("export", {dir, "--format", "npz"})
    assert.are.equal(0, status)
    assert.truthy(out:find(dir .. "/best.npz: 9 tensors, 43 values from " .. dir .. "/best.ckpt (epoch 3)", 1, true), out)
    status = ember_cli("export", {dir, "--out", root .. "/w.safetensors"})
    assert.are.equal(0, status)
    local sd = m:state_dict()
    for _, f in ipairs{dir .. "/best.npz", root .. "/w.safetensors"} do
      local back = ember.load(f)
      for k, v in pairs(sd) do same(v, back[k]) end
      local m2 = nn.Sequential{nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)}
      m2:load_state_dict(back)
      same(m2[3].weight, m[3].weight)
    end
  end)

  it("needs a format, and a checkpoint", function()
    local dir = make_run(argmax_model())
    local status, _, err = ember_cli("export", {dir})
    assert.are.equal(2, status)
    assert.truthy(err:find("give --format safetensors or --format npz", 1, true))
    status, _, err = ember_cli("export", {dir, "--format", "npz", "--ckpt", "last"})
    assert.are.equal(1, status)
    assert.truthy(err:find("has no last.ckpt (it has best.ckpt: --ckpt best)", 1, true), err)
    status, _, err = ember_cli("export", {dir, "--format", "npz", "--out", root .. "/no/such/dir/w.npz"})
    assert.are.equal(1, status)
    assert.truthy(err:find("cannot write", 1, true), err)
  end)
end)
