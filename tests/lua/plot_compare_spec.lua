-- Specs for comparing runs with ember.plot: groups that never average over a second varying param,
-- bands (min-max, std, 95% interval) with hand-computed values, filters, colours that stay with their run
-- from one figure to the next, marks per run and per group, logarithmic panels, one legend outside the
-- panels, aligned panels, the terminal at 80 columns, and per-batch curves from steps.tsv.
local h = dofile("tests/lua/spec_helper.lua")
local fx = dofile("tests/lua/plot_fixtures.lua")
local plot = require "ember.plot"
local data = require "ember.plot.data"

local make_run, block, sink = fx.make_run, fx.block, fx.sink

local root
before_each(function() root = h.tmpdir() end)
after_each(function() h.rmdir(root) end)

-- runs/opt: two optimizers, and adam at two learning rates; one sgd run set lr 0 and used 0.1
local function optimizers()
  local d = root .. "/runs/opt/"
  make_run(d .. "1", {{"opt", "sgd"}, {"lr", "0.1"}, {"seed", "1"}}, {{"best_epoch", "2"}}, {"epoch", "loss"}, {{1, 1}, {2, 0.5}})
  make_run(d .. "2", {{"opt", "sgd"}, {"lr", "0.1"}, {"seed", "2"}}, {{"best_epoch", "1"}, {"stop_epoch", "2"}},
    {"epoch", "loss"}, {{1, 3}, {2, 1.5}})
  make_run(d .. "3", {{"opt", "adam"}, {"lr", "0.1"}, {"seed", "1"}}, nil, {"epoch", "loss"}, {{1, 2}, {2, 1}})
  make_run(d .. "4", {{"opt", "adam"}, {"lr", "0.01"}, {"seed", "1"}}, nil, {"epoch", "loss"}, {{1, 4}, {2, 2}})
  make_run(d .. "5", {{"opt", "adam"}, {"lr", "0.01"}, {"seed", "2"}}, nil, {"epoch", "loss"}, {{1, 6}, {2, 4}})
  make_run(d .. "6", {{"opt", "sgd"}, {"lr", "0"}, {"seed", "3"}}, {{"used.lr", "0.1"}}, {"epoch", "loss"}, {{1, 2}, {2, 1}})
  return root .. "/runs/opt"
end

describe("plot --by", function()
  it("never averages runs that differ in another param: each combination is its own group", function()
    local notes = {}
    plot{runs = optimizers(), metric = "loss", by = "opt", out = root .. "/by.svg",
         notes = function(n) notes[#notes + 1] = n end}
    local _, order = fx.legend(root .. "/by")
    assert.same({"opt=adam lr=0.01 (2 runs)", "opt=adam lr=0.1", "opt=sgd lr=0.1 (3 runs)"}, order)
    -- adam at lr 0.01: mean, min, max of 4 and 6, then 2 and 4
    assert.same({{1, 5, 4, 6, 2}, {2, 3, 2, 4, 2}}, block(root .. "/by.dat", 1))
    assert.same({{1, 2}, {2, 1}}, block(root .. "/by.dat", 2))
    -- sgd: lr 0.1, and lr 0 that used 0.1, share a curve
    assert.same({{1, 2, 1, 3, 3}, {2, 1, 0.5, 1.5, 3}}, block(root .. "/by.dat", 3))
    assert.equal(1, #notes)
    assert.matches("^%-%-by opt: the runs also differ in lr, so each combination is a group of its own", notes[1])
    -- with the second param fixed by a filter, one curve per optimizer and nothing to say
    notes = {}
    plot{runs = optimizers(), metric = "loss", by = "opt", where = "lr=0.1", out = root .. "/f.svg",
         notes = function(n) notes[#notes + 1] = n end}
    assert.same({"opt=adam", "opt=sgd (3 runs)"}, select(2, fx.legend(root .. "/f")))
    assert.same({}, notes)
    -- a param that moves with the optimizer is in the labels, but splits nothing: no note
    plot{runs = optimizers(), metric = "loss", by = "opt", match = "[12456]", out = root .. "/g.svg",
         notes = function(n) notes[#notes + 1] = n end}
    assert.same({"opt=adam lr=0.01 (2 runs)", "opt=sgd lr=0.1 (3 runs)"}, select(2, fx.legend(root .. "/g")))
    assert.same({}, notes)
  end)

  it("keeps runs of different experiments apart", function()
    optimizers()
    make_run(root .. "/runs/other/1", {{"opt", "sgd"}, {"lr", "0.1"}, {"seed", "1"}}, nil, {"epoch", "loss"}, {{1, 9}, {2, 9}})
    local notes = {}
    plot{runs = {root .. "/runs/opt", root .. "/runs/other"}, metric = "loss", by = "opt", where = "lr=0.1",
         out = root .. "/x.svg", notes = function(n) notes[#notes + 1] = n end}
    assert.same({"opt opt=adam", "opt opt=sgd (3 runs)", "other opt=sgd"}, select(2, fx.legend(root .. "/x")))
    assert.matches("different experiments", notes[1])
  end)

  it("groups the runs of a sweep (named by their params) and a plain run of the same experiment", function()
    local d = root .. "/runs/optimizers/"
    for _, o in ipairs{"sgd", "adam"} do
      for seed = 1, 2 do
        make_run(d .. ("opt=%s,seed=%d/20240101-00000%d-aaaa"):format(o, seed, seed),
          {{"opt", o}, {"seed", seed}}, nil, {"epoch", "loss"}, {{1, seed}, {2, seed / 2}})
      end
    end
    h.write(d .. "sweep.tsv", "name\n")
    make_run(d .. "20240102-000000-bbbb", {{"opt", "adam"}, {"seed", "3"}}, nil, {"epoch", "loss"}, {{1, 3}, {2, 1.5}})
    plot{runs = d, metric = "loss", by = "opt", out = root .. "/s.svg"}
    assert.same({"opt=adam (3 runs)", "opt=sgd (2 runs)"}, select(2, fx.legend(root .. "/s")))
    assert.same({"optimizers"}, {fx.labels(root .. "/s.dat")[1]})     -- the title: the sweep's name
    plot{runs = d, metric = "loss", by = "opt", match = "opt=*", out = root .. "/m.svg"}
    assert.same({"opt=adam (2 runs)", "opt=sgd (2 runs)"}, select(2, fx.legend(root .. "/m")))
  end)

  it("draws std and 95% interval bands, with hand-computed values", function()
    local d = root .. "/runs/s/"
    -- at epoch 1: 1, 2, 6 (mean 3, sample std sqrt(7)); at epoch 2 a single run: no width
    make_run(d .. "1", {{"seed", "1"}, {"k", "a"}}, nil, {"epoch", "loss"}, {{1, 1}})
    make_run(d .. "2", {{"seed", "2"}, {"k", "a"}}, nil, {"epoch", "loss"}, {{1, 2}})
    make_run(d .. "3", {{"seed", "3"}, {"k", "a"}}, nil, {"epoch", "loss"}, {{1, 6}, {2, 5}})
    plot{runs = d, metric = "loss", by = "k", band = "std", out = root .. "/std.svg"}
    local b = block(root .. "/std.dat", 1)
    assert.near(3 - math.sqrt(7), b[1][3], 1e-9)
    assert.near(3 + math.sqrt(7), b[1][4], 1e-9)
    assert.same({2, 5, 5, 5, 1}, b[2])
    plot{runs = d, metric = "loss", by = "k", band = "ci95", out = root .. "/ci.svg"}
    b = block(root .. "/ci.dat", 1)
    local half = 4.303 * math.sqrt(7) / math.sqrt(3)   -- t(0.975, 2) = 4.303
    assert.near(3 - half, b[1][3], 1e-9)
    assert.near(3 + half, b[1][4], 1e-9)
    assert.truthy(h.read(root .. "/ci.dat"):find("band: 95% CI", 1, true))
    assert.near(12.706, data.t975(1), 1e-9)
    assert.near(2.000, data.t975(60), 2e-3)
    assert.near(1.980, data.t975(120), 2e-3)
    assert.equal("ember.plot: band must be minmax, std or ci95 (got iqr)",
      h.errmsg(function() plot{runs = d, by = "k", band = "iqr"} end))
  end)

  it("marks each run's best epoch and stop in its group's colour", function()
    plot{runs = optimizers(), metric = "loss", by = "opt", where = "lr=0.1", out = root .. "/m.svg"}
    local legend = fx.legend(root .. "/m")
    local lt = legend["opt=sgd (3 runs)"].lt
    assert.is_not.equal(legend["opt=adam"].lt, lt)
    -- blocks: adam's line, sgd's band, then the best marks (run 1 at epoch 2, run 2 at epoch 1), the stop
    assert.same({{2, 0.5, lt}, {1, 3, lt}}, block(root .. "/m.dat", 3))
    assert.same({{2, 1.5, lt}}, block(root .. "/m.dat", 4))
    local gp = h.read(root .. "/m.gp")
    assert.truthy(gp:find("using 1:2:3 with points pt 7 ps 1.4 lc variable notitle", 1, true))
    assert.truthy(gp:find('keyentry with points pt 7 ps 1.4 lc "black" title "best epoch"', 1, true))
  end)
end)

describe("plot colours", function()
  it("keep a run's colour in every figure of a folder, whatever the filter", function()
    local d = root .. "/runs/lr/"
    for i = 1, 12 do
      make_run(d .. ("%02d"):format(i), {{"lr", ("%g"):format(i / 10)}}, nil, {"epoch", "loss"}, {{1, i}, {2, i / 2}})
    end
    plot{runs = d, metric = "loss", out = root .. "/all.svg"}
    plot{runs = d, metric = "loss", where = "lr>=0.3", last = 4, out = root .. "/some.svg"}
    local all, some = fx.legend(root .. "/all"), fx.legend(root .. "/some")
    assert.same({"lr=0.9", "lr=1", "lr=1.1", "lr=1.2"}, select(2, fx.legend(root .. "/some")))
    for label, style in pairs(some) do assert.same(all[label], style, label) end
    assert.same({lt = 3, dt = 1}, all["lr=0.3"])
    assert.same({lt = 1, dt = 2}, all["lr=1.1"])    -- after ten colours, the first again, dashed
    -- a run directory given alone takes its colour from its folder
    plot{runs = d .. "09", metric = "loss", out = root .. "/one.svg", marks = false}
    assert.truthy(h.read(root .. "/one.gp"):find("with lines lt 9 dt 1 lw 2 notitle", 1, true))
  end)

  it("keep a group's colour with --by when a filter drops other groups", function()
    plot{runs = optimizers(), metric = "loss", by = "opt", out = root .. "/a.svg"}
    plot{runs = optimizers(), metric = "loss", by = "opt", where = "opt=adam", out = root .. "/b.svg"}
    local a, b = fx.legend(root .. "/a"), fx.legend(root .. "/b")
    assert.same(a["opt=adam lr=0.01 (2 runs)"], b["lr=0.01 (2 runs)"] or b["opt=adam lr=0.01 (2 runs)"])
  end)
end)

describe("plot figures", function()
  local function three_panels()
    local rows = {}
    for e = 1, 6 do rows[e] = {e, 2 / e, 0.5 + e / 20, 1e-8 * 10 ^ ((e - 1) / 2.5)} end
    make_run(root .. "/runs/p/1", {{"lr", "1"}}, {{"best_epoch", "4"}}, {"epoch", "train_loss", "valid_accuracy", "lr"}, rows)
    make_run(root .. "/runs/p/2", {{"lr", "2"}}, nil, {"epoch", "train_loss", "valid_accuracy", "lr"}, rows)
    return root .. "/runs/p"
  end

  -- the y scale of each panel of stem.gp: "log" or "linear", in panel order
  local function scales(stem)
    local out = {}
    for word in h.read(stem .. ".gp"):gmatch("\n(%a+) logscale y") do
      out[#out + 1] = word == "set" and "log" or "linear"
    end
    return out
  end

  it("puts each panel on its own scale: --log-y spares accuracy, names panels, lr is always log", function()
    local d = three_panels()
    local metrics = {"train_loss", "valid_accuracy", "lr"}
    plot{runs = d, metric = metrics, out = root .. "/a.svg"}
    assert.same({"linear", "linear", "log"}, scales(root .. "/a"))
    plot{runs = d, metric = metrics, log_y = true, out = root .. "/b.svg"}
    assert.same({"log", "linear", "log"}, scales(root .. "/b"))
    plot{runs = d, metric = metrics, log_y = "valid_accuracy", out = root .. "/c.svg"}
    assert.same({"linear", "log", "log"}, scales(root .. "/c"))
    assert.equal("ember.plot: log_y names 'valid_loss', which is not a panel (panels: train_loss, valid_accuracy, lr)",
      h.errmsg(function() plot{runs = d, metric = metrics, log_y = "valid_loss", out = root .. "/x.svg"} end))
    -- the lr axis reads 1e-08, never 0.00000001
    local text = plot{runs = d, metric = "lr", term = "dumb", width = 80, height = 24}
    assert.truthy(text:find("1e-08", 1, true))
    assert.falsy(text:find("0.0000", 1, true))
  end)

  it("draws one legend outside the panels, which share their left and right edges and x range", function()
    local d = three_panels()
    plot{runs = d, metric = {"train_loss", "valid_accuracy", "lr"}, out = root .. "/l.svg"}
    local gp = h.read(root .. "/l.gp")
    local plots = fx.plots(root .. "/l")
    assert.equal(3, #plots)
    assert.truthy(plots[1]:find("keyentry", 1, true))
    assert.falsy(plots[2]:find("keyentry", 1, true) or plots[3]:find("keyentry", 1, true))
    for _, p in ipairs(plots) do
      for clause in (p .. ","):gmatch("([^,]+),") do
        if not clause:find("keyentry", 1, true) then assert.truthy(clause:find("notitle", 1, true), clause) end
      end
    end
    local _, n_key = gp:gsub("set key at screen", "")
    assert.equal(1, n_key)
    local _, n_margin = gp:gsub("set lmargin at screen", "")
    assert.equal(1, n_margin)   -- set once, before the panels: every panel has the same edges
    local key_x = tonumber(gp:match("set key at screen ([%d.]+)"))
    local right = tonumber(gp:match("set rmargin at screen ([%d.]+)"))
    assert.is_true(key_x > right, "the legend is right of the panels")
    assert.truthy(gp:find("set xrange [1:6]", 1, true))
    assert.same({"lr=1", "lr=2"}, select(2, fx.legend(root .. "/l")))
    assert.truthy(gp:find('title "best epoch"', 1, true))
  end)

  it("is readable at 80 columns: the legend under the curves, no line wider than the terminal", function()
    local d = root .. "/runs/t/"
    for i = 1, 6 do
      make_run(d .. i, {{"schedule", ({"constant", "step", "cosine", "warmup_cosine", "onecycle", "plateau"})[i]}},
        nil, fx.HEADER, fx.loss_rows(20, i))
    end
    local text = plot{runs = d, term = "dumb", width = 80}
    local lines = h.lines(text)
    local axis_line
    for i, l in ipairs(lines) do
      assert.is_true(#l <= 80, "line " .. i .. " is " .. #l .. " wide")
      if l:find("^%s+epoch$") then axis_line = i end
    end
    assert.truthy(axis_line, "the x label")
    for i, l in ipairs(lines) do
      if l:find("schedule=", 1, true) then assert.is_true(i > axis_line, "legend line " .. i .. " above the axis") end
    end
    assert.truthy(text:find("schedule=warmup_cosine", 1, true))
    assert.truthy(text:find("train_loss", 1, true) and text:find("valid_loss", 1, true))
  end)
end)

describe("plot --x step", function()
  local function stepped()
    local dir = make_run(root .. "/runs/b/1", nil, nil, {"epoch", "step", "train_loss", "valid_loss"},
      {{1, 4, 0.8, 0.9}, {2, 8, 0.6, 0.7}})
    h.write(dir .. "/steps.tsv", "step\tepoch\tbatch_loss\tlr\ttime\n2\t1\t1.0\t0.1\t0.01\n4\t1\t0.9\t0.1\t0.02\n"
      .. "6\t2\t0.7\t0.1\t0.03\n8\t2\t0.5\t0.1\t0.04\n")
    return dir
  end

  it("draws batch_loss from steps.tsv, and metrics.tsv's columns at their step", function()
    local dir = stepped()
    plot{runs = dir, x = "step", out = root .. "/s.svg"}
    assert.same({{2, 1}, {4, 0.9}, {6, 0.7}, {8, 0.5}}, block(root .. "/s.dat", 1))
    assert.same({"batch_loss"}, {fx.labels(root .. "/s.dat")[3]})
    plot{runs = dir, x = "step", metric = {"batch_loss", "valid_loss"}, out = root .. "/t.svg"}
    assert.same({{4, 0.9}, {8, 0.7}}, block(root .. "/t.dat", 2))
    -- by epoch, the default stays train and valid loss
    plot{runs = dir, out = root .. "/e.svg"}
    assert.same({{1, 0.8}, {2, 0.6}}, block(root .. "/e.dat", 1))
    local out = sink()
    assert.equal(0, plot.cli({dir, "--x", "step", "--out", root .. "/c.svg"}, {stdout = out}))
    assert.same({{2, 1}, {4, 0.9}, {6, 0.7}, {8, 0.5}}, block(root .. "/c.dat", 1))
  end)
end)

describe("ember plot filters and options", function()
  it("draws the runs a filter keeps from a mixed folder, and says when the filter is wrong", function()
    local d = root .. "/runs/mix/"
    make_run(d .. "1", {{"schedule", "constant"}}, nil, {"epoch", "loss"}, {{1, 1}, {2, 0.5}})
    make_run(d .. "2", {{"schedule", "cosine"}}, nil, {"epoch", "loss"}, {{1, 1}, {2, 0.4}})
    make_run(d .. "3", {{"schedule", "diverge"}}, {{"status", "diverged"}}, {"epoch", "loss"}, {{1, 1e30}, {2, "inf"}})
    local out, err = sink(), sink()
    assert.equal(0, plot.cli({d, "--by", "schedule", "--where", "status!=diverged", "--out", root .. "/f.svg"},
      {stdout = out, stderr = err}))
    assert.same({"schedule=constant", "schedule=cosine"}, select(2, fx.legend(root .. "/f")))
    assert.equal("", err.text)
    err = sink()
    assert.equal(2, plot.cli({d, "--where", "stat!=diverged"}, {stdout = sink(), stderr = err}))
    assert.matches("^ember plot: %-%-where stat!=diverged: no run has 'stat' %(params: schedule; meta: status", err.text)
    err = sink()
    assert.equal(1, plot.cli({d, "--where", "schedule=none", "--out", root .. "/n.svg"}, {stderr = err}))
    assert.equal("ember plot: ember.plot: the filter keeps none of the 3 run(s) found\n", err.text)
    assert.equal(0, plot.cli({d, "--match", "[12]", "--out", root .. "/m.svg"}, {stdout = sink()}))
    assert.same({"schedule=constant", "schedule=cosine"}, select(2, fx.legend(root .. "/m")))
  end)

  it("takes --log-y alone, with metric names, or before a path; and --band", function()
    local run = make_run(root .. "/runs/a/1", nil, {{"best_epoch", "1"}}, fx.HEADER, fx.loss_rows(4, 2))
    local function scales(args)
      assert.equal(0, plot.cli(args, {stdout = sink(), stderr = sink()}))
      local out = {}
      for word in h.read(root .. "/o.gp"):gmatch("\n(%a+) logscale y") do out[#out + 1] = word end
      return table.concat(out, " ")
    end
    local o = {"--metric", "train_loss,valid_loss", "--out", root .. "/o.svg"}
    local function with(...) local t = {table.unpack(o)}; for _, a in ipairs{...} do t[#t + 1] = a end return t end
    assert.equal("unset unset", scales(with(run)))
    assert.equal("set set", scales(with(run, "--log-y")))
    assert.equal("unset set", scales(with(run, "--log-y", "valid_loss")))
    assert.equal("set unset", scales(with("--log-y=train_loss", run)))
    assert.equal("set set", scales(with("--log-y", run)))                  -- a path is never a metric
    assert.equal("set set", scales(with(run, "--log-y", "train_loss,valid_loss")))
    local err = sink()
    assert.equal(2, plot.cli({run, "--band", "iqr"}, {stderr = err}))
    assert.matches("%-%-band must be one of minmax, std, ci95 %(got 'iqr'%)", err.text)
  end)
end)
