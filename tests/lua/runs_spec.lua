-- Specs for ember.runs: finding run directories and reading params, meta and metrics from them.
local lfs = require "lfs"
local h = dofile("tests/lua/spec_helper.lua")
local runs = require "ember.runs"

local function tmpdir()
  local name = os.tmpname()
  os.remove(name)
  assert(lfs.mkdir(name))
  return name
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function mkdirs(path)
  local acc = ""
  for part in path:gmatch("[^/]+") do
    acc = acc .. "/" .. part
    lfs.mkdir(acc)
  end
end

local function make_run(dir, params, meta, metrics)
  mkdirs(dir)
  write(dir .. "/params.tsv", params or "")
  write(dir .. "/meta.tsv", meta or "")
  write(dir .. "/metrics.tsv", metrics or "epoch\tloss\n1\t0.5\n")
end

local root

before_each(function() root = tmpdir() end)
after_each(function() os.execute("rm -rf '" .. root .. "'") end)

describe("runs.find", function()
  it("finds run directories at any depth, sorted, each once", function()
    make_run(root .. "/runs/b/20240102-000000-bbbb")
    make_run(root .. "/runs/a/20240101-000001-aaab")
    make_run(root .. "/runs/a/20240101-000000-aaaa")
    make_run(root .. "/runs/deep/x/y/20240101-000000-dddd")
    mkdirs(root .. "/runs/empty/notarun")
    local found = runs.find({root .. "/runs", root .. "/runs/a/20240101-000000-aaaa/"})
    assert.same({
      root .. "/runs/a/20240101-000000-aaaa",
      root .. "/runs/a/20240101-000001-aaab",
      root .. "/runs/b/20240102-000000-bbbb",
      root .. "/runs/deep/x/y/20240101-000000-dddd",
    }, found)
  end)

  it("takes a run directory itself, and does not look inside a run", function()
    make_run(root .. "/r/one")
    make_run(root .. "/r/one/plots/inner")   -- a folder below a run is not another run
    assert.same({root .. "/r/one"}, runs.find(root .. "/r/one"))
    assert.same({root .. "/r/one"}, runs.find(root .. "/r"))
  end)

  it("returns an empty list for a folder without runs", function()
    mkdirs(root .. "/nothing/here")
    assert.same({}, runs.find(root .. "/nothing"))
  end)

  it("names the path that is not a directory", function()
    assert.equal("ember.runs.find: no such directory '" .. root .. "/missing'",
      h.errmsg(function() runs.find(root .. "/missing") end))
    assert.equal("ember.runs.find: paths must be a string or a list of strings (got number)",
      h.errmsg(function() runs.find(42) end))
  end)
end)

describe("runs.read", function()
  it("reads params, meta and metrics with missing fields absent", function()
    local dir = root .. "/runs/lenet/20240101-120000-ab12"
    make_run(dir, "lr\t0.01\nopt\tadam w\nepochs\t3\n",
      "status\tstopped-early\nseed\t42\nbest_epoch\t2\n",
      "epoch\ttrain_loss\tvalid_loss\n1\t0.9\t1.25\n2\t0.5\t\n3\t0.25\t0.75\n")
    local r = runs.read(dir .. "/")
    assert.equal(dir, r.dir)
    assert.equal("lenet", r.name)
    assert.equal("20240101-120000-ab12", r.id)
    assert.same({lr = "0.01", opt = "adam w", epochs = "3"}, r.params)
    assert.same({"lr", "opt", "epochs"}, r.param_keys)
    assert.equal("stopped-early", r.meta.status)
    assert.equal("2", r.meta.best_epoch)
    assert.same({"epoch", "train_loss", "valid_loss"}, r.columns)
    assert.same({{epoch = 1, train_loss = 0.9, valid_loss = 1.25}, {epoch = 2, train_loss = 0.5},
                 {epoch = 3, train_loss = 0.25, valid_loss = 0.75}}, r.rows)
  end)

  it("understands nan and inf, keeps text, and tolerates CRLF and a torn last line", function()
    local dir = root .. "/runs/x/1"
    make_run(dir, "", "", "step\tloss\tnote\r\n1\tnan\tok\r\n2\tinf\t\r\n3\t-inf\t\r\n4")
    local r = runs.read(dir)
    assert.equal(4, #r.rows)
    assert.is_true(r.rows[1].loss ~= r.rows[1].loss)   -- NaN
    assert.equal("ok", r.rows[1].note)
    assert.equal(math.huge, r.rows[2].loss)
    assert.equal(-math.huge, r.rows[3].loss)
    assert.same({step = 4}, r.rows[4])
  end)

  it("follows a header line rewritten later in the file to add a column", function()
    local dir = root .. "/runs/x/2"
    make_run(dir, "", "", "epoch\tloss\n1\t0.5\nepoch\tloss\tacc\n2\t0.25\t0.75\n")
    local r = runs.read(dir)
    assert.same({"epoch", "loss", "acc"}, r.columns)
    assert.same({{epoch = 1, loss = 0.5}, {epoch = 2, loss = 0.25, acc = 0.75}}, r.rows)
  end)

  it("keeps everything after the first tab of a params line", function()
    local dir = root .. "/runs/x/3"
    make_run(dir, "layers\t64\t32\nempty\t\n\nnotab\n", "")
    local r = runs.read(dir)
    assert.same({layers = "64\t32", empty = ""}, r.params)
  end)

  it("refuses a folder that is not a run", function()
    mkdirs(root .. "/plain")
    assert.equal("ember.runs.read: '" .. root .. "/plain' is not a run directory (no readable metrics.tsv)",
      h.errmsg(function() runs.read(root .. "/plain") end))
  end)
end)

describe("runs.differing_params", function()
  it("lists the keys whose values differ, a missing key counting as different", function()
    local a = {params = {lr = "0.1", seed = "1", bs = "64"}, param_keys = {"lr", "seed", "bs"}}
    local b = {params = {lr = "0.01", seed = "1", bs = "64", wd = "0"}, param_keys = {"lr", "seed", "bs", "wd"}}
    local c = {params = {lr = "0.1", seed = "2", bs = "64"}, param_keys = {"lr", "seed", "bs"}}
    assert.same({"lr", "seed", "wd"}, runs.differing_params({a, b, c}))
    assert.same({"lr", "wd"}, runs.differing_params({a, b}))
    assert.same({}, runs.differing_params({a, a}))
    assert.same({}, runs.differing_params({a}))
  end)
end)
