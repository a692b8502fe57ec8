-- Specs for ember.plot: figures from run directories the tests create, batch mode, the command line,
-- and safety: user text (run names, params, titles, metric names) must never run a shell command.
local lfs = require "lfs"
local h = dofile("tests/lua/spec_helper.lua")
local fx = dofile("tests/lua/plot_fixtures.lua")
local plot = require "ember.plot"
local args = require "ember.cli.args"

local read, write, exists = h.read, h.write, h.exists
local make_run, loss_rows, sink, block = fx.make_run, fx.loss_rows, fx.sink, fx.block
local HEADER, PNG_MAGIC = fx.HEADER, fx.PNG_MAGIC

local function mkdirs(path) assert(require("ember.util").mkdir_p(path)) end

local root
local uniq = tostring(os.time()) .. tostring(math.random(1e9))

before_each(function() root = h.tmpdir() end)
after_each(function() h.rmdir(root) end)

describe("plot.plot", function()
  it("draws a PNG with its .gp script and data beside it, and the script re-runs by hand", function()
    local run = make_run(root .. "/runs/mlp/20240101-000000-aaaa", {{"lr", "0.1"}}, nil, HEADER, loss_rows(10, 2))
    local out = root .. "/fig.png"
    assert.equal(out, plot{runs = run, metric = "valid_loss", out = out})
    local png = read(out)
    assert.equal(PNG_MAGIC, png:sub(1, 8))
    assert.is_true(#png > 5000 and #png < 2e6, "png size " .. #png)
    -- PNG IHDR: width and height, big-endian, at bytes 17..24
    local w, h = string.unpack(">I4I4", png, 17)
    assert.same({900, 540}, {w, h})
    assert.is_true(exists(root .. "/fig.gp") and exists(root .. "/fig.dat"))
    -- curve data: x and y, 1/epoch * 2 + 0.5
    assert.same({{1, 2.5}, {2, 1.5}, {4, 1}}, {block(root .. "/fig.dat", 1)[1], block(root .. "/fig.dat", 1)[2],
                                              block(root .. "/fig.dat", 1)[4]})
    os.remove(out)
    assert.is_true(os.execute("cd '" .. root .. "' && gnuplot fig.gp 2>/dev/null"))
    assert.equal(PNG_MAGIC, read(out):sub(1, 8))
  end)

  it("draws SVG labelled by the params that differ between runs", function()
    make_run(root .. "/runs/mlp/1", {{"lr", "0.1"}, {"bs", "64"}}, nil, HEADER, loss_rows(5, 2))
    make_run(root .. "/runs/mlp/2", {{"lr", "0.01"}, {"bs", "64"}}, nil, HEADER, loss_rows(5, 3))
    local out = plot{runs = {root .. "/runs"}, metric = "train_loss", out = root .. "/c.svg"}
    local svg = read(out)
    assert.truthy(svg:find("<svg", 1, true))
    assert.truthy(svg:find(">lr=0.1<", 1, true))
    assert.truthy(svg:find(">lr=0.01<", 1, true))
    assert.falsy(svg:find("bs=64", 1, true))
    assert.truthy(svg:find(">mlp<", 1, true))       -- default title: the shared experiment name
  end)

  it("draws PDF", function()
    local run = make_run(root .. "/r/1", nil, nil, HEADER, loss_rows(5, 2))
    local out = plot{runs = run, metric = "train_loss", out = root .. "/c.pdf"}
    assert.equal("%PDF", read(out):sub(1, 4))
  end)

  it("draws in the terminal with the axis labels and metric name", function()
    local run = make_run(root .. "/runs/mlp/1", nil, nil, HEADER, loss_rows(8, 2))
    local text = plot{runs = run, metric = "train_loss", term = "dumb", width = 70, height = 20}
    assert.truthy(text:find("train_loss", 1, true))
    assert.truthy(text:find("epoch", 1, true))
    assert.truthy(text:find("+---", 1, true))      -- the frame
    assert.truthy(text:find(" 2 ", 1, true))       -- y tick at the top value 2/1
    assert.falsy(text:find("\f", 1, true))
    local n = 0
    for _ in text:gmatch("\n") do n = n + 1 end
    assert.is_true(n >= 15 and n <= 20, "lines: " .. n)
    -- no files left behind for a preview without out: the temp folder is removed
    assert.falsy(exists(root .. "/runs/mlp/1/plots"))
  end)

  it("takes x = step and time", function()
    local run = make_run(root .. "/r/1", nil, nil, HEADER, loss_rows(4, 2))
    plot{runs = run, metric = "train_loss", x = "step", out = root .. "/s.png"}
    assert.same({10, 2}, block(root .. "/s.dat", 1)[1])
    plot{runs = run, metric = "train_loss", x = "time", out = root .. "/t.png"}
    assert.same({1, 1}, block(root .. "/t.dat", 1)[2])
  end)

  it("draws several metrics as several panels", function()
    local run = make_run(root .. "/r/1", nil, nil, HEADER, loss_rows(6, 2))
    local out = plot{runs = run, metric = {"train_loss", "lr"}, out = root .. "/p.svg"}
    assert.equal(2, #fx.plots(root .. "/p"))
    local svg = read(out)
    assert.truthy(svg:find(">train_loss<", 1, true))
    assert.truthy(svg:find(">lr<", 1, true))
    local text = plot{runs = run, metric = {"train_loss", "valid_loss"}, term = "dumb", width = 70, height = 36}
    assert.truthy(text:find("train_loss", 1, true) and text:find("valid_loss", 1, true))
  end)

  it("defaults to train_loss and valid_loss panels", function()
    local run = make_run(root .. "/r/1", nil, nil, HEADER, loss_rows(6, 2))
    local text = plot{runs = run, term = "dumb", width = 70, height = 36}
    assert.truthy(text:find("train_loss", 1, true) and text:find("valid_loss", 1, true))
    assert.falsy(text:find("\nlr", 1, true))
  end)

  it("groups runs by a param: mean with a min-max band over seeds", function()
    make_run(root .. "/runs/g/1", {{"lr", "0.1"}, {"seed", "1"}}, nil, {"epoch", "loss"}, {{1, 1}, {2, 0.5}})
    make_run(root .. "/runs/g/2", {{"lr", "0.1"}, {"seed", "2"}}, nil, {"epoch", "loss"}, {{1, 2}, {2, 1.5}})
    make_run(root .. "/runs/g/3", {{"lr", "0.1"}, {"seed", "3"}}, nil, {"epoch", "loss"}, {{1, 3}, {2, 1}})
    make_run(root .. "/runs/g/4", {{"lr", "0.01"}, {"seed", "1"}}, nil, {"epoch", "loss"}, {{1, 4}, {2, 4}})
    local out = plot{runs = root .. "/runs", metric = "loss", by = "lr", out = root .. "/by.svg"}
    -- groups sorted by value: 0.01 first (one run, a plain line), then 0.1 (three runs, a band):
    -- x, mean, min, max and the number of runs
    assert.same({{1, 4}, {2, 4}}, block(root .. "/by.dat", 1))
    assert.same({{1, 2, 1, 3, 3}, {2, 1, 0.5, 1.5, 3}}, block(root .. "/by.dat", 2))
    local gp = read(root .. "/by.gp")
    assert.truthy(gp:find("using 1:3:4 with filledcurves", 1, true))
    local svg = read(out)
    assert.truthy(svg:find(">lr=0.1 (3 runs)<", 1, true))
    assert.truthy(svg:find(">lr=0.01<", 1, true))
    assert.equal("ember.plot: no run has a param 'wd' (params that differ: lr, seed)",
      h.errmsg(function() plot{runs = root .. "/runs", metric = "loss", by = "wd", out = root .. "/x.png"} end))
  end)

  it("marks the best epoch and the early-stopping point from meta.tsv", function()
    local run = make_run(root .. "/r/1", nil, {{"best_epoch", "3"}, {"stop_epoch", "5"}, {"monitor", "valid_loss"}},
      HEADER, loss_rows(5, 2))
    plot{runs = run, metric = "valid_loss", out = root .. "/m.png"}
    local gp = read(root .. "/m.gp")
    assert.truthy(gp:find('title "best epoch"', 1, true))
    assert.truthy(gp:find('title "early stop"', 1, true))
    -- x, y and the colour's linetype
    local best = block(root .. "/m.dat", 2)
    assert.equal(1, #best)
    assert.equal(3, best[1][1])
    assert.near(2 / 3 + 0.5, best[1][2], 1e-9)
    assert.equal(1, best[1][3])
    assert.same({{5, 0.9, 1}}, block(root .. "/m.dat", 3))
    plot{runs = run, metric = "valid_loss", out = root .. "/n.png", marks = false}
    assert.falsy(read(root .. "/n.gp"):find("best epoch", 1, true))
  end)

  it("smooths with a trailing moving average and keeps the raw values", function()
    local run = make_run(root .. "/r/1", nil, nil, {"epoch", "loss"}, {{1, 4}, {2, 2}, {3, 1}, {4, 3}})
    plot{runs = run, metric = "loss", smooth = 2, out = root .. "/s.png"}
    assert.same({{1, 4, 4}, {2, 3, 2}, {3, 1.5, 1}, {4, 2, 3}}, block(root .. "/s.dat", 1))
  end)

  it("skips missing values and writes log scale when asked", function()
    local run = make_run(root .. "/r/1", nil, nil, {"epoch", "loss"}, {{1, 4}, {2, ""}, {3, 1}, {4, "nan"}})
    plot{runs = run, metric = "loss", log_y = true, out = root .. "/l.png"}
    assert.same({{1, 4}, {3, 1}}, block(root .. "/l.dat", 1))
    assert.truthy(read(root .. "/l.gp"):find("set logscale y", 1, true))
  end)

  it("puts the figure in plots/ of the first path when out is omitted", function()
    local run = make_run(root .. "/runs/a/1", {{"lr", "0.1"}}, nil, HEADER, loss_rows(4, 2))
    assert.equal(run .. "/plots/train_loss+valid_loss.png", plot{runs = {run}})
    assert.equal(root .. "/runs/plots/valid_loss_by_lr.png",
      plot{runs = root .. "/runs/", metric = "valid_loss", by = "lr"})
    assert.truthy(exists(root .. "/runs/plots/valid_loss_by_lr.gp"))
  end)

  it("reports bad options, unknown metrics and columns with the values", function()
    local run = make_run(root .. "/r/1", nil, nil, HEADER, loss_rows(4, 2))
    assert.equal("ember.plot: no values for metric 'nope' in the 1 run(s) given (columns: epoch, step, time, train_loss, valid_loss, lr)",
      h.errmsg(function() plot{runs = run, metric = "nope", out = root .. "/x.png"} end))
    assert.equal("ember.plot: run '" .. run .. "' has no column 'iter' (columns: epoch, step, time, train_loss, valid_loss, lr)",
      h.errmsg(function() plot{runs = run, x = "iter", out = root .. "/x.png"} end))
    assert.equal("ember.plot: term must be png, svg, pdf or dumb (got gif)",
      h.errmsg(function() plot{runs = run, term = "gif"} end))
    assert.equal("ember.plot: smooth must be a positive integer (got 0)",
      h.errmsg(function() plot{runs = run, smooth = 0} end))
    assert.equal('ember.plot: out must be a file name without a NUL byte (got "x\\0.png")',
      h.errmsg(function() plot{runs = run, out = "x\0.png"} end))
    assert.equal("ember.runs.find: no such directory '" .. root .. "/none'",
      h.errmsg(function() plot{runs = root .. "/none"} end))
    mkdirs(root .. "/empty")
    assert.equal("ember.plot: no runs (folders with metrics.tsv) below '" .. root .. "/empty'",
      h.errmsg(function() plot{runs = root .. "/empty"} end))
  end)

  it("says how to install gnuplot when it is missing", function()
    local run = make_run(root .. "/r/1", nil, nil, HEADER, loss_rows(4, 2))
    assert.equal("ember.plot: gnuplot not found at '/nonexistent'; install it with: apt-get install gnuplot-nox",
      h.errmsg(function() plot{runs = run, out = root .. "/x.png", gnuplot = "/nonexistent"} end))
  end)
end)

describe("plot safety", function()
  local pwned = {"/tmp/pwned_" .. uniq, "/tmp/pwned2_" .. uniq, "/tmp/pwned3_" .. uniq, "/tmp/pwned4_" .. uniq}
  local evil_name = "x`touch " .. pwned[1] .. "`'\"y"
  -- closes a naive "..." literal, so the next line would run as a shell command
  local evil_title = "t\"\n!touch " .. pwned[2] .. "\n#"
  local evil_param = "$(touch " .. pwned[3] .. ")' . system(\"touch " .. pwned[4] .. "\") . '"

  local function check_clean()
    for _, p in ipairs(pwned) do
      assert.is_false(exists(p), p .. " was created: user text ran as a command")
    end
  end

  before_each(function() for _, p in ipairs(pwned) do os.remove(p) end end)
  after_each(function() for _, p in ipairs(pwned) do os.remove(p) end end)

  it("runs nothing from run names, params, titles or metric names", function()
    local dir = root .. "/runs/" .. evil_name
    make_run(dir .. "/1", {{"opt", evil_param}, {"lr", "0.1"}}, nil, {"epoch", "a\"b`touch " .. pwned[4] .. "`"},
      {{1, 1}, {2, 0.5}})
    make_run(dir .. "/2", {{"opt", "sgd"}, {"lr", "0.1"}}, nil, {"epoch", "a\"b`touch " .. pwned[4] .. "`"},
      {{1, 2}, {2, 1}})
    -- default output in the hostile folder, a hostile title, labels from the hostile param
    local out = plot{runs = {dir}, title = evil_title}
    check_clean()
    assert.equal(PNG_MAGIC, read(out):sub(1, 8))
    assert.equal(dir .. "/plots/a_b_touch__tmp_pwned4_" .. uniq .. "_.png", out)
    local gp = read((out:gsub("%.png$", ".gp")))
    for _, bad in ipairs{"`", "$(", "system", "!touch", "x'", "'y"} do
      assert.falsy(gp:find(bad, 1, true), bad)
    end
    -- the texts arrive intact: SVG shows the param value and the name, dumb shows them as well
    local svg = read(plot{runs = {dir}, title = evil_title, out = root .. "/e.svg"})
    check_clean()
    assert.truthy(svg:find("opt=$(touch " .. pwned[3] .. ")", 1, true))
    local text = plot{runs = {dir .. "/1"}, term = "dumb", width = 120, height = 20}
    check_clean()
    -- the name has slashes, so the run's name is its last part
    assert.truthy(text:find("pwned_" .. uniq .. "`'\"y", 1, true))
    plot{runs = {dir}, by = "opt", term = "dumb", title = evil_title}
    plot{runs = {dir}, by = "opt", out = root .. "/o'ut dir/$(touch " .. pwned[1] .. ").svg"}
    assert.truthy(exists(root .. "/o'ut dir/$(touch " .. pwned[1] .. ").svg"))
    check_clean()
    -- batch mode and the command line over the same runs
    assert.equal(0, plot.cli({root .. "/runs", "--each"}, {stdout = sink(), stderr = sink()}))
    assert.equal(0, plot.cli({dir, "--title", evil_title, "--out", root .. "/cli.png"}, {stdout = sink()}))
    check_clean()
    -- groups split by a hostile param (labels and notes carry it), bands, filters on hostile values,
    -- a log axis named by a hostile metric, marks
    make_run(dir .. "/3", {{"opt", "sgd"}, {"lr", evil_param}, {"seed", "2"}}, {{"best_epoch", "1"}, {"stop_epoch", "2"}},
      {"epoch", "a\"b`touch " .. pwned[4] .. "`"}, {{1, 3}, {2, 2}})
    local notes = {}
    local metric = "a\"b`touch " .. pwned[4] .. "`"
    out = plot{runs = {dir}, by = "opt", band = "ci95", where = {"opt!=" .. evil_param, "lr!=" .. evil_name},
               log_y = metric, title = evil_title, out = root .. "/g.svg", notes = function(n) notes[#notes + 1] = n end}
    check_clean()
    assert.truthy(notes[1]:find(evil_param, 1, true) == nil and notes[1]:find("lr", 1, true))
    local gp2 = read(root .. "/g.gp")
    for _, bad in ipairs{"`", "$(", "system", "!touch", "pwned"} do
      assert.falsy(gp2:find(bad, 1, true), bad)
    end
    assert.truthy(read(out):find("lr=$(touch " .. pwned[3] .. ")", 1, true))
    assert.equal(0, plot.cli({dir, "--by", "opt", "--band", "std", "--log-y=" .. metric, "--where", "lr=" .. evil_param,
      "--term", "dumb"}, {stdout = sink(), stderr = sink()}))
    check_clean()
  end)

  it("never starts a data or output path with < or |", function()
    local run = make_run(root .. "/r/1", nil, nil, {"epoch", "loss"}, {{1, 1}, {2, 0.5}})
    local cwd = lfs.currentdir()
    assert(lfs.chdir(root))
    local ok, err = pcall(plot, {runs = "r/1", metric = "loss", out = "|touch " .. pwned[1] .. ".png"})
    local made = exists(root .. "/|touch " .. pwned[1] .. ".png")
    lfs.chdir(cwd)
    assert.is_true(ok, err)
    assert.is_true(made)
    check_clean()
  end)
end)

describe("plot.series", function()
  it("draws any numbers in the terminal by default", function()
    local text = plot.series{y = {1, 4, 9, 16}, ylabel = "squares", width = 60, height = 15}
    assert.truthy(text:find("squares", 1, true))
    assert.truthy(text:find("16", 1, true))
  end)

  it("draws named curves against x to a file", function()
    local out = plot.series{x = {0, 1, 2}, ys = {b = {3, 2, 1}, a = {1, 2, 3}}, out = root .. "/s.svg",
                            title = "two", xlabel = "epoch"}
    local svg = read(out)
    assert.truthy(svg:find(">a<", 1, true) and svg:find(">b<", 1, true) and svg:find(">two<", 1, true))
    -- curves in name order: a then b
    assert.same({{0, 1}, {1, 2}, {2, 3}}, block(root .. "/s.dat", 1))
    assert.same({{0, 3}, {1, 2}, {2, 1}}, block(root .. "/s.dat", 2))
    plot.series{ys = {{name = "z", y = {5, 6}}}, out = root .. "/z.png"}
    assert.same({{1, 5}, {2, 6}}, block(root .. "/z.dat", 1))
  end)

  it("checks its arguments", function()
    assert.equal("ember.plot.series: x has 2 values but y has 3",
      h.errmsg(function() plot.series{x = {1, 2}, y = {1, 2, 3}} end))
    assert.equal("ember.plot.series: give y = {...} or ys = {name = {...}}",
      h.errmsg(function() plot.series{} end))
    assert.equal("ember.plot.series: out is required for term png",
      h.errmsg(function() plot.series{y = {1}, term = "png"} end))
  end)
end)

describe("plot.dumb_curve", function()
  it("previews rows, a run directory or a run table", function()
    local rows = {}
    for e = 1, 6 do rows[e] = {epoch = e, train_loss = 1 / e} end
    local text = plot.dumb_curve(rows, "train_loss", 60, 15)
    assert.truthy(text:find("train_loss", 1, true) and text:find("epoch", 1, true))
    local run = make_run(root .. "/r/1", nil, nil, HEADER, loss_rows(5, 2))
    assert.truthy(plot.dumb_curve(run, "valid_loss", 60, 15):find("valid_loss", 1, true))
    assert.truthy(plot.dumb_curve(require("ember.runs").read(run)):find("train_loss", 1, true))
  end)

  it("returns nil and a message instead of raising", function()
    local text, err = plot.dumb_curve({{epoch = 1, loss = 1}}, "loss", 60, 15, {gnuplot = "/nonexistent"})
    assert.is_nil(text)
    assert.truthy(err:find("apt-get install gnuplot-nox", 1, true))
  end)
end)

describe("ember plot --each", function()
  local function setup()
    local a1 = make_run(root .. "/runs/a/1", {{"lr", "0.1"}}, nil, {"epoch", "loss", "acc"}, {{1, 1, 0.5}, {2, 0.5, 0.75}})
    local a2 = make_run(root .. "/runs/a/2", {{"lr", "0.2"}}, nil, {"epoch", "loss", "acc"}, {{1, 2, 0.25}, {2, 1, 0.5}})
    local b1 = make_run(root .. "/runs/b/1", nil, nil, {"epoch", "loss"}, {{1, 3}, {2, 2}})
    return a1, a2, b1
  end

  it("writes one figure per metric per run and per experiment, then skips up-to-date ones", function()
    local a1, a2, b1 = setup()
    local out = sink()
    assert.equal(0, plot.cli({root .. "/runs", "--each"}, {stdout = out, stderr = sink()}))
    local expect = {a1 .. "/plots/loss.png", a1 .. "/plots/acc.png", a2 .. "/plots/loss.png", a2 .. "/plots/acc.png",
                    b1 .. "/plots/loss.png", root .. "/runs/a/plots/loss.png", root .. "/runs/a/plots/acc.png"}
    for _, p in ipairs(expect) do
      assert.equal(PNG_MAGIC, (read(p) or ""):sub(1, 8), p)
      assert.truthy(out.text:find(p .. "\n", 1, true), p)
    end
    assert.truthy(out.text:find("7 figure(s) written, 0 up to date", 1, true))
    assert.falsy(exists(root .. "/runs/b/plots"))   -- one run: nothing to compare
    -- make every figure clearly newer than the metrics, then change one run's metrics
    local now = os.time()
    for _, d in ipairs{a1, a2, b1} do lfs.touch(d .. "/metrics.tsv", now - 100, now - 100) end
    out = sink()
    assert.equal(0, plot.cli({root .. "/runs", "--each"}, {stdout = out}))
    assert.equal("0 figure(s) written, 7 up to date\n", out.text)
    lfs.touch(a2 .. "/metrics.tsv", now + 100, now + 100)
    out = sink()
    assert.equal(0, plot.cli({root .. "/runs", "--each", "--metric", "loss"}, {stdout = out}))
    assert.equal(a2 .. "/plots/loss.png\n" .. root .. "/runs/a/plots/loss.png\n"
      .. "2 figure(s) written, 2 up to date\n", out.text)
  end)

  it("applies a log axis named by --log-y to that metric's figures only, and filters runs", function()
    local a1, a2 = setup()
    local out = sink()
    assert.equal(0, plot.cli({root .. "/runs/a", "--each", "--log-y", "acc", "--where", "lr=0.1"}, {stdout = out}))
    assert.equal(a1 .. "/plots/loss.png\n" .. a1 .. "/plots/acc.png\n2 figure(s) written, 0 up to date\n", out.text)
    assert.truthy(read(a1 .. "/plots/acc.gp"):find("\nset logscale y", 1, true))
    assert.falsy(read(a1 .. "/plots/loss.gp"):find("\nset logscale y", 1, true))
    assert.falsy(exists(a2 .. "/plots"))
  end)

  it("batch mode from Lua returns what it wrote", function()
    setup()
    local res = plot.each{paths = {root .. "/runs/b"}, term = "svg"}
    assert.same({root .. "/runs/b/1/plots/loss.svg"}, res.written)
    assert.equal(0, res.skipped)
  end)
end)

describe("ember plot (command line)", function()
  it("prints the figure path, or the text for --term dumb", function()
    local run = make_run(root .. "/runs/a/1", {{"lr", "0.1"}}, nil, HEADER, loss_rows(5, 2))
    local out = sink()
    assert.equal(0, plot.cli({run}, {stdout = out}))
    assert.equal(run .. "/plots/train_loss+valid_loss.png\n", out.text)
    out = sink()
    assert.equal(0, plot.cli({"--metric=valid_loss,train_loss", "--x", "step", "--out", root .. "/f.svg",
                              "--log-y", "--smooth", "2", "--title", "T", "--width", "600", "--height", "400", run},
                             {stdout = out}))
    assert.equal(root .. "/f.svg\n", out.text)
    local gp = read(root .. "/f.gp")
    assert.truthy(gp:find("size 600,400", 1, true) and gp:find("set logscale y", 1, true))
    out = sink()
    assert.equal(0, plot.cli({run, "--term", "dumb", "--metric", "train_loss", "--width", "60", "--height", "15"},
                             {stdout = out}))
    assert.truthy(out.text:find("train_loss", 1, true) and out.text:find("epoch", 1, true))
  end)

  it("exits 2 on bad usage with the usage text", function()
    local run = make_run(root .. "/runs/a/1", nil, nil, HEADER, loss_rows(3, 2))
    local cases = {
      {{}, "give at least one run directory or folder of runs"},
      {{run, "--bogus"}, "unknown option '--bogus'"},
      {{run, "--term", "gif"}, "--term must be one of png, svg, pdf, dumb (got 'gif')"},
      {{run, "--smooth", "0"}, "--smooth needs a positive integer (got '0')"},
      {{run, "--width", "5"}, "--width needs an integer from 10 to 20000 (got '5')"},
      {{run, "--metric"}, "--metric needs a value (M)"},
      {{run, "--each", "--out", "x.png"}, "--each writes its own files; --out cannot be used with it"},
    }
    for _, c in ipairs(cases) do
      local err = sink()
      assert.equal(2, plot.cli(c[1], {stdout = sink(), stderr = err}), c[2])
      assert.equal("ember plot: " .. c[2] .. "\n" .. args.usage_lines(plot.spec)
                   .. "\n(ember plot --help for the options)\n", err.text)
    end
    local out = sink()
    assert.equal(0, plot.cli({"--help"}, {stdout = out}))
    assert.equal(args.help(plot.spec) .. "\n", out.text)
  end)

  it("exits 1 with a message for errors", function()
    local run = make_run(root .. "/runs/a/1", nil, nil, HEADER, loss_rows(3, 2))
    local err = sink()
    assert.equal(1, plot.cli({root .. "/missing"}, {stderr = err}))
    assert.equal("ember plot: '" .. root .. "/missing' is not a run directory or a folder of runs\n", err.text)
    err = sink()
    assert.equal(1, plot.cli({run, "--metric", "nope", "--out", root .. "/x.png"}, {stderr = err}))
    assert.truthy(err.text:find("^ember plot: ember.plot: no values for metric 'nope'"))
  end)

  it("exits 1 and says how to install gnuplot when it is missing", function()
    local run = make_run(root .. "/runs/a/1", nil, nil, HEADER, loss_rows(3, 2))
    local err = sink()
    assert.equal(1, plot.cli({run}, {stderr = err, gnuplot = "/nonexistent"}))
    assert.equal("ember plot: gnuplot not found at '/nonexistent'; install it with: apt-get install gnuplot-nox\n",
      err.text)
    -- and through PATH: a fresh Lua with a PATH that holds no gnuplot
    local lua = arg and arg[-1] or "lua5.4"
    local p = io.popen("command -v lua5.4")
    local lua_path = (p:read("l") or lua)
    p:close()
    local cmd = ("cd %s && env -u EMBER_GNUPLOT PATH=/nonexistent %s -e %s 2>&1; echo \"rc=$?\""):format(
      lfs.currentdir(), lua_path,
      "'package.path = \"lua/?.lua;lua/?/init.lua;\" .. package.path; os.exit(require(\"ember.plot\").cli({\"" .. run .. "\"}))'")
    p = io.popen(cmd)
    local text = p:read("a")
    p:close()
    assert.equal("ember plot: gnuplot not found on PATH; install it with: apt-get install gnuplot-nox\nrc=1\n", text)
  end)
end)

describe("the README's figures", function()
  it("are drawn by the commands the READMEs print beside them", function()
    local script = read("tools/make-figures.sh")
    local readme, experiments = read("README.md"), read("experiments/README.md")
    local n = 0
    for name, cmd in script:gmatch("\n%s*fig (%S+) (ember plot [^\n]+)") do
      n = n + 1
      assert.truthy(experiments:find(cmd, 1, true), "experiments/README.md does not print: " .. cmd)
      if readme:find("docs/figures/" .. name .. ".png", 1, true) then
        assert.truthy(readme:find(cmd, 1, true), "README.md shows " .. name .. ".png but not: " .. cmd)
      end
      assert.truthy(h.exists("docs/figures/" .. name .. ".png"), name)
    end
    assert.is_true(n >= 10, "figures found in tools/make-figures.sh: " .. n)
  end)
end)
