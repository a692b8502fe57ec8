-- fit_spec.lua - ember.fit on tiny data: sample-weighted epoch loss, eval mode under no_grad, schedule
-- after optimizer, plateau and early stopping, divergence, checkpoints, interrupt and exact resume.
-- Expected numbers are worked out by hand in the comments.
local ember = require "ember"
local fit = require "ember.fit"
local runs = require "ember.runs"
local session = require "ember.session"
local E = require "ember.error"
local h = dofile("tests/lua/spec_helper.lua")
local read, exists, lines, kv, errmsg = h.read, h.exists, h.lines, h.kv, h.errmsg

local root
local real_interrupts = ember._interrupts

before_each(function()
  root = h.tmpdir()
  session.finish()
end)

after_each(function()
  session.current():close_runs()
  session.finish()
  ember._interrupts = real_interrupts
  h.rmdir(root)
end)

-- the only run directory below root/runs/name
local function only_run(name)
  local found = runs.find(root .. "/runs/" .. name)
  assert.equal(1, #found)
  return found[1]
end

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
