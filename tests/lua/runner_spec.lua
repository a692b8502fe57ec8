-- Specs for the experiment runner: ember.config (overrides and their types), ember.run (run directory
-- contents, per-row flushing, header rewrites, stdout.log) and ember.fit on tiny data (sample-weighted
-- epoch loss, eval mode under no_grad, schedule after optimizer, plateau and early stopping, divergence,
-- checkpoints, interrupt and exact resume). Expected numbers are worked out by hand in the comments.
local lfs = require "lfs"
local ember = require "ember"
local config = require "ember.config"
local runmod = require "ember.run"
local fit = require "ember.fit"
local runs = require "ember.runs"
local session = require "ember.session"
local E = require "ember.error"

local function tmpdir()
  local name = os.tmpname()
  os.remove(name)
  assert(lfs.mkdir(name))
  return name
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path) return lfs.attributes(path, "mode") ~= nil end

local function lines(text)
  local out = {}
  for l in text:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local function kv(path)
  local m = {}
  for _, l in ipairs(lines(read(path))) do
    local k, v = l:match("^([^\t]+)\t(.*)$")
    m[k] = v
  end
  return m
end

-- the message of the error f raises, without its "file:line: " (ember errors start with the public name)
local function errmsg(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return E.message(e)
end

local root
local real_interrupts = ember._interrupts

before_each(function()
  root = tmpdir()
  session.finish()
end)

after_each(function()
  session.current():close_runs()
  session.finish()
  ember._interrupts = real_interrupts
  os.execute("rm -rf '" .. root .. "'")
end)

-- the only run directory below root/runs/name
local function only_run(name)
  local found = runs.find(root .. "/runs/" .. name)
  assert.equal(1, #found)
  return found[1]
end

---------------------------------------------------------------------------------------------------------------
describe("ember.config", function()
  it("returns a new table equal to the defaults when nothing is overridden, and never writes the defaults", function()
    local d = {lr = 0.01, epochs = 10, name = "mlp", flag = true, betas = {0.9, 0.999}}
    local c = ember.config(d)
    assert.are_not.equal(d, c)
    assert.same(d, c)
    assert.are_not.equal(d.betas, c.betas)
    c.lr = 5
    assert.equal(0.01, d.lr)
  end)

  it("parses --set values by the type of the default", function()
    session.begin({set = {lr = "1e-3", epochs = "20", flag = "false", on = "YES", name = "big net",
                                  betas = "0.8, 0.99", tag = "007"},
                           set_order = {"lr", "epochs", "flag", "on", "name", "betas", "tag"}})
    local c = ember.config{lr = 0.01, epochs = 10, flag = true, on = false, name = "mlp", betas = {0.9, 0.999},
                           tag = "x"}
    assert.equal(0.001, c.lr)
    assert.equal("float", math.type(c.lr))
    assert.equal(20, c.epochs)
    assert.equal("integer", math.type(c.epochs))
    assert.equal(false, c.flag)
    assert.equal(true, c.on)
    assert.equal("big net", c.name)
    assert.same({0.8, 0.99}, c.betas)
    assert.equal("007", c.tag)   -- a string default keeps the text, even when it looks like a number
  end)

  it("rejects an unknown key, listing the known ones, and marks it as bad usage", function()
    session.begin{set = {lrr = "1"}, set_order = {"lrr"}}
    local ok, e = pcall(ember.config, {lr = 0.1, epochs = 3, batch = 8})
    assert.is_false(ok)
    assert.equal("ember.config: unknown key 'lrr' in --set lrr=1 (known keys: batch, epochs, lr)", E.message(e))
    assert.equal("usage", E.kind(e))
  end)

  it("rejects a value of the wrong type, naming key, expected type and default", function()
    session.begin({set = {lr = "fast"}, set_order = {"lr"}})
    assert.equal("ember.config: --set lr=fast: lr must be a number (default 0.1)", errmsg(ember.config, {lr = 0.1}))
    session.begin({set = {flag = "maybe"}, set_order = {"flag"}})
    assert.matches("flag must be a boolean", errmsg(ember.config, {flag = true}))
    session.begin({set = {b = "0.9,x"}, set_order = {"b"}})
    assert.matches("b must be a comma%-separated list of numbers", errmsg(ember.config, {b = {0.9, 0.99}}))
  end)

  it("refuses defaults it cannot override", function()
    assert.matches("expected a table of defaults", errmsg(ember.config, 3))
    assert.matches("default f must be a number, boolean, string or list %(got function%)",
      errmsg(ember.config, {f = print}))
    assert.matches("keys must be strings", errmsg(ember.config, {1, 2}))
  end)

  it("--seed sets the seed key, and a conflicting --set seed is refused", function()
    session.begin({seed = 7, set = {}, set_order = {}})
    assert.equal(7, ember.config{seed = 1, lr = 0.1}.seed)
    session.begin({seed = 7, set = {seed = "8"}, set_order = {"seed"}})
    assert.matches("disagree", errmsg(ember.config, {seed = 1}))
  end)

  it("format and parse round-trip every double exactly", function()
    for _, v in ipairs{0.1, 1 / 3, 1e-7, 2 ^ -30, 123456789.123, -0.75, 3} do
      local back = config.parse(config.format(v), 1.5)
      assert.equal(v, back)
    end
    assert.equal("0.1", config.format(0.1))
    assert.equal("3", config.format(3))
    assert.equal("0.9,0.999", config.format({0.9, 0.999}))
  end)

  it("with --resume applies the run's params.tsv, and refuses a --set that disagrees", function()
    local dir = root .. "/r"
    lfs.mkdir(dir)
    local f = io.open(dir .. "/params.tsv", "w")
    f:write("epochs\t7\nlr\t0.05\nflag\tfalse\n")
    f:close()
    session.begin({resume = dir, set = {}, set_order = {}})
    local c = ember.config{lr = 0.1, epochs = 3, flag = true, extra = "new"}
    assert.same({lr = 0.05, epochs = 7, flag = false, extra = "new"}, c)
    session.begin({resume = dir, set = {lr = "0.05"}, set_order = {"lr"}})
    assert.equal(0.05, ember.config{lr = 0.1, epochs = 3, flag = true}.lr)   -- same value: fine
    session.begin({resume = dir, set = {lr = "0.2"}, set_order = {"lr"}})
    assert.matches("differs from the resumed run's params.tsv %(lr=0.05%)",
      errmsg(ember.config, {lr = 0.1, epochs = 3, flag = true}))
  end)
end)

---------------------------------------------------------------------------------------------------------------
describe("ember.run", function()
  it("creates runs/<name>/<YYYYmmdd-HHMMSS>-<id>/ with params, meta, metrics and stdout.log", function()
    local cfg = {lr = 0.1, epochs = 3, name = "tab\there"}
    local run = ember.run{name = "exp", config = cfg, runs = root .. "/runs", seed = 3}
    assert.matches("^" .. root:gsub("%p", "%%%0") .. "/runs/exp/%d%d%d%d%d%d%d%d%-%d%d%d%d%d%d%-%x%x%x%x%x%x$", run.dir)
    -- sorted keys, tabs in values turned into spaces
    assert.equal("epochs\t3\nlr\t0.1\nname\ttab here\n", read(run.dir .. "/params.tsv"))
    local meta = kv(run.dir .. "/meta.tsv")
    assert.equal("running", meta.status)
    assert.equal("exp", meta.name)
    assert.equal(run.id, meta.id)
    assert.equal("3", meta.seed)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", meta.start_time)
    assert.is_nil(meta.end_time)
    assert.equal(ember.version, meta.ember_version)
    assert.equal(tostring(ember.get_num_threads()), meta.threads)
    assert.equal(ember.blas().kernel, meta.blas_kernel)
    assert.equal(ember.hostname(), meta.host)
    assert.equal("", read(run.dir .. "/metrics.tsv"))
    assert.is_true(exists(run.dir .. "/stdout.log"))
    run:finish()
    meta = kv(run.dir .. "/meta.tsv")
    assert.equal("finished", meta.status)
    assert.matches("^%d%d%d%d%-", meta.end_time)
  end)

  it("seeds ember's RNG with its seed", function()
    ember.run{name = "a", runs = root .. "/runs", seed = 11}
    local a = ember.randn(3):totable()
    session.current().seeded = nil   -- as in a fresh process
    ember.run{name = "b", runs = root .. "/runs", seed = 11}
    assert.same(a, ember.randn(3):totable())
  end)

  it("takes name, runs root and seed from the command line over its arguments", function()
    session.begin({name = "cli_name", runs = root .. "/other", seed = 42, set = {}, set_order = {}})
    local run = ember.run{name = "arg_name", runs = root .. "/runs", seed = 1}
    assert.matches("/other/cli_name/", run.dir)
    assert.equal("42", kv(run.dir .. "/meta.tsv").seed)
  end)

  it("flushes every row: another reader sees it before the run ends", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    run:log{epoch = 1, train_loss = 0.5, time = 0.25}
    assert.equal("epoch\ttrain_loss\ttime\n1\t0.5\t0.25\n", read(run.dir .. "/metrics.tsv"))
    run:log{epoch = 2, train_loss = 0.25, time = 0.5}
    assert.equal("epoch\ttrain_loss\ttime\n1\t0.5\t0.25\n2\t0.25\t0.5\n", read(run.dir .. "/metrics.tsv"))
  end)

  it("orders the first header (epoch, step, losses, others, lr, time) and writes numbers exactly", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    run:log{time = 1, lr = 0.1, zeta = 1, valid_loss = 2, alpha = 0 / 0, train_loss = 1 / 3, step = 10, epoch = 1}
    assert.equal("epoch\tstep\ttrain_loss\tvalid_loss\talpha\tzeta\tlr\ttime\n"
      .. "1\t10\t0.3333333333333333\t2\tnan\t1\t0.1\t1\n", read(run.dir .. "/metrics.tsv"))
  end)

  it("adds a time column (seconds since the start) when a row has none", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    run:log{loss = 1}
    local l = lines(read(run.dir .. "/metrics.tsv"))
    assert.equal("loss\ttime", l[1])
    local t = tonumber(l[2]:match("\t(.*)$"))
    assert.is_true(t >= 0 and t < 5)
  end)

  it("rewrites the header when new columns appear, padding earlier rows, and ember.runs reads it", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    run:log{epoch = 1, train_loss = 0.5, time = 1}
    run:log{epoch = 2, train_loss = 0.4, time = 2, test_acc = 0.75}
    run:log{epoch = 3, train_loss = 0.3, time = 3}
    assert.equal("epoch\ttrain_loss\ttime\ttest_acc\n1\t0.5\t1\t\n2\t0.4\t2\t0.75\n3\t0.3\t3\t\n",
      read(run.dir .. "/metrics.tsv"))
    local r = runs.read(run.dir)
    assert.same({"epoch", "train_loss", "time", "test_acc"}, r.columns)
    assert.same({epoch = 2, train_loss = 0.4, time = 2, test_acc = 0.75}, r.rows[2])
    assert.is_nil(r.rows[3].test_acc)
  end)

  it("refuses bad rows, options and statuses with messages naming them", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    assert.matches("run:log: value of column 'x' must be a number, string or boolean %(got table%)",
      errmsg(run.log, run, {x = {}}))
    assert.matches("column names must be non%-empty strings", errmsg(run.log, run, {[1] = 2}))
    assert.matches("unknown status \"done\"", errmsg(run.set_status, run, "done"))
    assert.matches("ember.run: unknown option \"nmae\"", errmsg(ember.run, {nmae = "x"}))
    assert.matches("name must be a non%-empty string without '/'", errmsg(ember.run, {name = "a/b", runs = root}))
    run:finish()
    assert.matches("is closed", errmsg(run.log, run, {a = 1}))
  end)

  it("says which folder it cannot create", function()
    local f = io.open(root .. "/file", "w")
    f:close()
    assert.matches("ember.run: cannot create run folder '" .. root:gsub("%p", "%%%0") .. "/file/x'",
      errmsg(ember.run, {name = "x", runs = root .. "/file"}))
  end)

  it("says which file it cannot write when the disk is full, and keeps the rows written before", function()
    local run = ember.run{name = "full", runs = root .. "/runs"}
    run:log{a = 1, time = 0}
    local real = run._mf
    run._mf = assert(io.open("/dev/full", "ab"))
    local e = errmsg(run.log, run, {a = 2, time = 1})
    assert.matches("^run:log: cannot write '" .. run.dir:gsub("%p", "%%%0") .. "/metrics.tsv': No space left on device", e)
    run._mf:close()
    run._mf = real
    assert.equal("a\ttime\n1\t0\n", read(run.dir .. "/metrics.tsv"))
  end)

  it("copies what print and io.write send to stdout into stdout.log while it is open", function()
    local p0, w0 = print, io.write
    local run = ember.run{name = "p", runs = root .. "/runs"}
    assert.are_not.equal(p0, print)
    print("hello", 1, 2.5)
    io.write("x=", 3, " y=", 0.5, "\n")
    run:finish()
    print("after")
    assert.equal("hello\t1\t2.5\nx=3 y=0.5\n", read(run.dir .. "/stdout.log"))
    assert.equal(p0, print)
    assert.equal(w0, io.write)
  end)

  it("as a to-be-closed variable marks a failing block failed, with the message", function()
    local dir
    local ok = pcall(function()
      local run <close> = ember.run{name = "c", runs = root .. "/runs"}
      dir = run.dir
      error("boom", 0)
    end)
    assert.is_false(ok)
    local meta = kv(dir .. "/meta.tsv")
    assert.equal("failed", meta.status)
    assert.equal("boom", meta.error)
    assert.matches("boom\n$", read(dir .. "/stdout.log"))
  end)

  it("hashes the script with FNV-1a 64 (reference vectors)", function()
    assert.equal("cbf29ce484222325", runmod.fnv1a64(""))
    assert.equal("af63dc4c8601ec8c", runmod.fnv1a64("a"))
    assert.equal("85944171f73967e8", runmod.fnv1a64("foobar"))
  end)
end)

---------------------------------------------------------------------------------------------------------------
-- Fakes: a model out = x * p (p = 1 stays 1: the fake optimizer only counts), a recording optimizer and a
-- dataset of 1-D samples. They make every logged number computable by hand.

local function fake_model(events)
  local p = ember.ones(1):requires_grad()
  local m = {p = p, mode = "train", calls = {}}
  setmetatable(m, {__call = function(self, x)
    self.calls[#self.calls + 1] = {mode = self.mode, grad = ember.is_grad_enabled()}
    return x * self.p
  end})
  function m:parameters() return {self.p} end
  function m:train() self.mode = "train" end
  function m:eval() self.mode = "eval" end
  function m:state_dict() return {p = self.p} end
  function m:load_state_dict(s) ember.no_grad(function() self.p:copy(s.p) end) end
  m.events = events
  return m
end

local function fake_opt(model, lr, events)
  local o = {param_groups = {{params = model:parameters(), lr = lr}}, steps = 0}
  function o:zero_grad() for _, q in ipairs(self.param_groups[1].params) do q.grad = nil end end
  function o:step()
    self.steps = self.steps + 1
    if events then events[#events + 1] = "opt" end
  end
  function o:state_dict() return {steps = self.steps} end
  function o:load_state_dict(s) self.steps = s.steps end
  return o
end

local function dataset(values, y)
  local n = #values
  local x = ember.tensor(values)
  local ds = {x = x}
  function ds:size() return n end
  function ds:batches(b, opts)
    local order = {}
    for i = 1, n do order[i] = i end
    if opts and opts.shuffle then   -- draws from ember's RNG, as ember.data does
      local r = ember.rand(n):totable()
      table.sort(order, function(i, j) return r[i] < r[j] end)
    end
    local pos = 1
    return function()
      if pos > n then return nil end
      local idx = {}
      for i = pos, math.min(n, pos + b - 1) do idx[#idx + 1] = order[i] end
      pos = pos + b
      local xb = x:index_select(1, ember.tensor(idx))
      return xb, y and y:index_select(1, ember.tensor(idx)) or xb
    end
  end
  return ds
end

local function mean_loss(out) return out:mean() end

describe("ember.fit", function()
  it("averages the epoch loss over samples, not over batches", function()
    -- batches of 2, 2, 1 samples: {1, 2}, {3, 4}, {10} -> batch means 1.5, 3.5, 10.
    -- over samples: (1.5*2 + 3.5*2 + 10*1) / 5 = 4; a mean of batch means would give 5.
    local model = fake_model()
    local h = fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2, 3, 4, 10},
                  epochs = 1, batch = 2, shuffle = false, quiet = true}
    assert.equal(1, #h)
    assert.equal(4, h[1].train_loss)
    assert.equal(3, h[1].step)
    assert.equal(1, h[1].epoch)
  end)

  it("validates in eval mode with gradients off, and trains in train mode with them on", function()
    local model = fake_model()
    local h = fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2, 3},
                  valid = dataset{2, 4}, epochs = 2, batch = 2, quiet = true}
    -- per epoch: 2 training calls, then 1 validation call
    assert.equal(6, #model.calls)
    for i, c in ipairs(model.calls) do
      local valid = i % 3 == 0
      assert.equal(valid and "eval" or "train", c.mode)
      assert.equal(not valid, c.grad)
    end
    assert.equal(3, h[2].valid_loss)   -- mean of {2, 4}
    assert.is_true(ember.is_grad_enabled())
  end)

  it("steps the schedule after the optimizer, once per epoch, and logs the lr the epoch trained with", function()
    local events = {}
    local model = fake_model()
    local opt = fake_opt(model, 1, events)
    local sched = ember.schedule.step{optimizer = opt, step_size = 1, gamma = 0.5}
    local real_step = sched.step
    sched.step = function(self, m) events[#events + 1] = "sched"; return real_step(self, m) end
    local h = fit{model = model, loss = mean_loss, optimizer = opt, schedule = sched, train = dataset{1, 2, 3, 4},
                  epochs = 3, batch = 2, quiet = true}
    assert.same({"opt", "opt", "sched", "opt", "opt", "sched", "opt", "opt", "sched"}, events)
    assert.same({1, 0.5, 0.25}, {h[1].lr, h[2].lr, h[3].lr})
  end)

  it("feeds plateau the monitored metric", function()
    -- valid_loss is 3 every epoch: epoch 1 sets the best, epoch 2 is one bad epoch > patience 0,
    -- so the lr is halved for epoch 3: 1, 1, 0.5
    local model = fake_model()
    local opt = fake_opt(model, 1)
    local h = fit{model = model, loss = mean_loss, optimizer = opt, train = dataset{1, 2},
                  valid = dataset{2, 4}, epochs = 3, batch = 2, quiet = true,
                  schedule = ember.schedule.plateau{optimizer = opt, patience = 0, factor = 0.5}}
    assert.same({1, 1, 0.5}, {h[1].lr, h[2].lr, h[3].lr})
  end)

  it("accepts a plain function epoch -> lr as the schedule", function()
    local model = fake_model()
    local opt = fake_opt(model, 1)
    local h = fit{model = model, loss = mean_loss, optimizer = opt, train = dataset{1, 2}, epochs = 3, batch = 2,
                  quiet = true, schedule = function(e) return 1 / (e + 1) end}
    assert.same({1, 0.5, 1 / 3}, {h[1].lr, h[2].lr, h[3].lr})
  end)

  it("stops early, records status and the stop in meta.tsv, and keeps both checkpoints", function()
    -- a constant valid_loss: epoch 1 improves, epoch 2 does not, patience 1 stops at epoch 2
    local model = fake_model()
    local run = ember.run{name = "es", runs = root .. "/runs"}
    local h = fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2},
                  valid = dataset{2, 4}, epochs = 10, batch = 2, run = run, quiet = true,
                  stop = ember.stop.early{patience = 1}}
    assert.equal(2, #h)
    assert.equal("stopped-early", h.status)
    assert.equal("patience", h.stop_reason)
    local meta = kv(run.dir .. "/meta.tsv")
    assert.equal("stopped-early", meta.status)
    assert.equal("1", meta.best_epoch)
    assert.equal("2", meta.stop_epoch)
    assert.equal("valid_loss", meta.monitor)
    assert.equal("patience", meta.stop_reason)
    assert.equal(3, #lines(read(run.dir .. "/metrics.tsv")))
    local last, best = ember.load(run.dir .. "/last.ckpt"), ember.load(run.dir .. "/best.ckpt")
    assert.equal(2, last.epoch)
    assert.equal(1, best.epoch)
    assert.equal(0, last.batch)
    assert.equal(2, last.step)
    assert.equal(2, #last.history)
    assert.equal(2, last.rows)
    assert.equal(ember.get_rng_state(), last.rng)
    assert.equal(2, last.optimizer.steps)   -- one step per epoch
  end)

  it("logs train and valid accuracy", function()
    -- outputs are x itself (2 classes); argmax per row vs y
    local model = fake_model()
    local x = {{1, 0}, {0, 1}, {1, 0}, {1, 0}}
    local y = ember.tensor{1, 2, 2, 2}    -- rows 1 and 2 right, 3 and 4 wrong: 0.5
    local h = fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset(x, y),
                  valid = dataset({{0, 1}, {0, 1}}, ember.tensor{2, 1}), epochs = 1, batch = 3,
                  shuffle = false, metrics = {"accuracy"}, quiet = true}
    assert.equal(0.5, h[1].train_accuracy)
    assert.equal(0.5, h[1].valid_accuracy)
  end)

  it("stops a diverging run: status diverged, message with epoch, step, lr and a hint, rows kept", function()
    local model = fake_model()
    local calls = 0
    local function loss(out)
      calls = calls + 1
      if calls == 4 then return ember.tensor(0 / 0) end
      return out:mean()
    end
    local run = ember.run{name = "dv", runs = root .. "/runs"}
    local e = errmsg(fit, {model = model, loss = loss, optimizer = fake_opt(model, 0.5), train = dataset{1, 2, 3, 4, 5, 6},
                           epochs = 5, batch = 2, run = run, quiet = true})
    -- 3 batches per epoch: call 4 is epoch 2, batch 1, step 4
    assert.matches("diverged at epoch 2, step 4 %(batch 1/3, lr 0.5%): the loss is nan", e)
    assert.matches("Hint: lower the learning rate", e)
    local meta = kv(run.dir .. "/meta.tsv")
    assert.equal("diverged", meta.status)
    local l = lines(read(run.dir .. "/metrics.tsv"))
    assert.equal(3, #l)
    assert.matches("^1\t3\t3.5\t", l[2])    -- epoch 1, step 3, train_loss (3 + 7 + 11) / 6
    assert.matches("^2\t4\tnan\t", l[3])
  end)

  it("with diverge = \"return\" returns the history instead of raising", function()
    local model = fake_model()
    local h = fit{model = model, loss = function() return ember.tensor(1 / 0) end, optimizer = fake_opt(model, 1),
                  train = dataset{1}, epochs = 2, batch = 1, quiet = true, diverge = "return"}
    assert.equal("diverged", h.status)
    assert.equal(1, #h)
    assert.equal(math.huge, h[1].train_loss)
  end)

  it("refuses bad options by name", function()
    local model = fake_model()
    local base = {model = model, loss = mean_loss, optimizer = fake_opt(model, 1), train = dataset{1}, epochs = 1,
                  batch = 1, quiet = true}
    local function with(k, v)
      local o = {}
      for a, b in pairs(base) do o[a] = b end
      o[k] = v
      return errmsg(fit, o)
    end
    assert.matches("ember.fit: unknown option \"epoch\"", with("epoch", 3))
    assert.matches("ember.fit: epochs must be a positive integer %(got 0%)", with("epochs", 0))
    assert.matches("ember.fit: batch must be a positive integer %(got 1.5%)", with("batch", 1.5))
    assert.matches("ember.fit: train must be a dataset", with("train", {}))
    assert.matches("unknown metric \"acc\"", with("metrics", {"acc"}))
    assert.matches("clip must be a positive number", with("clip", -1))
    assert.matches("monitor \"valid_loss\" is not a column", with("monitor", "valid_loss"))
  end)

  it("writes the epoch lines into stdout.log (one plain line per epoch when not on a terminal)", function()
    local model = fake_model()
    local run = ember.run{name = "log", runs = root .. "/runs"}
    fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2},
        epochs = 2, batch = 2, run = run, quiet = true}
    run:finish()
    local l = lines(read(run.dir .. "/stdout.log"))
    assert.equal(2, #l)
    assert.matches("^epoch 1/2  train_loss 1.5  lr 0.1", l[1])
    assert.matches("^epoch 2/2  train_loss 1.5  lr 0.1", l[2])
  end)
end)

---------------------------------------------------------------------------------------------------------------
-- Exact resume: a small linear model trained with real SGD + momentum on shuffled data, with noise drawn
-- from ember's RNG in every training forward (as dropout would). Interrupting at any step and resuming
-- must give the same rows as an uninterrupted run, bit for bit.
describe("ember.fit resume", function()
  local function build()
    ember.manual_seed(5)
    local w = (ember.randn(3, 1) * 0.1):requires_grad()
    local m = {mode = "train"}
    setmetatable(m, {__call = function(self, x)
      local out = x:matmul(w)
      if self.mode == "train" then out = out + ember.randn(x:shape()[1], 1) * 0.01 end
      return out
    end})
    function m:parameters() return {w} end
    function m:train() self.mode = "train" end
    function m:eval() self.mode = "eval" end
    function m:state_dict() return {w = w} end
    function m:load_state_dict(s) ember.no_grad(function() w:copy(s.w) end) end
    local x = ember.randn(10, 3)
    local y = x:matmul(ember.tensor{{1}, {-2}, {0.5}})
    local opt = ember.optim.sgd(m:parameters(), {lr = 0.05, momentum = 0.9})
    return m, opt, dataset(x:totable(), y), dataset(x:narrow(1, 1, 4):totable(), y:narrow(1, 1, 4))
  end

  local function mse(out, y) return ((out - y) ^ 2):mean() end

  local function train(name, interrupt_after)
    session.current().seeded = nil   -- each call stands for a fresh process
    local m, opt, tr, va = build()
    local run = ember.run{name = name, runs = root .. "/runs", seed = 5}
    local steps = 0
    if interrupt_after then
      ember._interrupts = function()
        steps = steps + 1
        return steps >= interrupt_after and 1 or 0
      end
    end
    local ok, h = pcall(fit, {model = m, loss = mse, optimizer = opt, train = tr, valid = va, epochs = 4, batch = 3,
                              run = run, quiet = true,
                              schedule = ember.schedule.cosine{optimizer = opt, t_max = 4}})
    ember._interrupts = real_interrupts
    return ok, h, run
  end

  local function rows_without_time(dir)
    local r = runs.read(dir)
    for _, row in ipairs(r.rows) do row.time = nil end
    return r.rows
  end

  it("continues an interrupted run to the same numbers, whatever step it stopped at", function()
    local ok, full = train("full")
    assert.is_true(ok)
    assert.equal(4, #full)
    local expected = rows_without_time(only_run("full"))
    -- 4 batches per epoch (3, 3, 3, 1 samples): stop mid-epoch 1, at the end of epoch 1, and mid-epoch 3
    for _, k in ipairs{2, 4, 11} do
      local name = "cut" .. k
      local ok2, err, run = train(name, k)
      assert.is_false(ok2)
      assert.equal("interrupted", E.kind(err))
      assert.matches("^ember.fit: interrupted: training stopped at", E.message(err))
      assert.equal("interrupted", kv(run.dir .. "/meta.tsv").status)
      assert.is_true(exists(run.dir .. "/last.ckpt"))
      run:finish()
      assert.is_true(#runs.read(run.dir).rows < 4)
      -- resume: the script runs again from the top with --resume
      session.begin({resume = run.dir, set = {}, set_order = {}})   -- a fresh process
      local ok3, h = train(name)
      assert.is_true(ok3, tostring(h))
      session.finish()
      assert.equal(4, #h)
      assert.same(expected, rows_without_time(run.dir))
      local meta = kv(run.dir .. "/meta.tsv")
      assert.equal("finished", meta.status)
      assert.equal("1", meta.resumes)
    end
  end)
end)
