-- fit_spec.lua - ember.fit on tiny data: sample-weighted epoch loss, eval mode under no_grad, schedule
-- after optimizer, one monitor for plateau and early stopping, divergence, per-batch logging, the values
-- recorded in meta.tsv, the progress display, Ctrl-C in the REPL. Checkpoints and resume:
-- fit_resume_spec.lua. Expected numbers are worked out by hand in the comments.
local ember = require "ember"
local fit = require "ember.fit"
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

local F = dofile("tests/lua/fit_fakes.lua")
local fake_model, fake_opt, dataset, mean_loss = F.fake_model, F.fake_opt, F.dataset, F.mean_loss

-- the message of the error fit raises on the options base with extra's keys set over them
local function fit_error(base, extra)
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in pairs(extra) do o[k] = v end
  return errmsg(fit, o)
end

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

  it("gives a plateau the stop rule's monitor and mode: a rising score in mode max keeps the lr", function()
    -- on_epoch adds score = epoch (rising); in mode "min" the plateau would halve the lr from epoch 3
    local model = fake_model()
    local opt = fake_opt(model, 1)
    local run = ember.run{name = "mon", runs = root .. "/runs"}
    local h = fit{model = model, loss = mean_loss, optimizer = opt, train = dataset{1, 2}, epochs = 4, batch = 2,
                  quiet = true, run = run, on_epoch = function(ctx) ctx.row.score = ctx.epoch end,
                  schedule = ember.schedule.plateau{optimizer = opt, patience = 0, factor = 0.5},
                  stop = ember.stop.early{monitor = "score", mode = "max", patience = 10}}
    assert.same({1, 1, 1, 1}, {h[1].lr, h[2].lr, h[3].lr, h[4].lr})
    assert.equal(4, h.best_epoch)
    local meta = kv(run.dir .. "/meta.tsv")
    assert.equal("score", meta.monitor)
    assert.equal("max", meta.mode)
  end)

  it("gives a stop rule without a monitor fit's monitor and mode", function()
    -- score falls 3, 2, 1 then rises: in mode max with patience 1 the rule stops at epoch 2
    local model = fake_model()
    local rule = ember.stop.early{patience = 1}
    local h = fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 1), train = dataset{1, 2},
                  epochs = 6, batch = 2, quiet = true, monitor = "score", mode = "max", stop = rule,
                  on_epoch = function(ctx) ctx.row.score = 4 - ctx.epoch end}
    assert.equal(2, #h)
    assert.equal("score", rule.monitor)
    assert.equal("max", rule.mode)
    assert.equal(1, rule.best_epoch)
  end)

  it("refuses a stop rule and a plateau that watch different columns or directions", function()
    local model = fake_model()
    local opt = fake_opt(model, 1)
    local base = {model = model, loss = mean_loss, optimizer = opt, train = dataset{1}, epochs = 1, batch = 1,
                  quiet = true}
    local function with(extra) return fit_error(base, extra) end
    assert.matches('ember.fit: the stop rule monitors "train_loss" but monitor is "valid_loss"',
                   with{monitor = "valid_loss", stop = ember.stop.early{monitor = "train_loss"}})
    assert.matches('ember.fit: schedule.plateau has mode "min" but the stop rule\'s mode is "max"',
                   with{stop = ember.stop.early{mode = "max"},
                        schedule = ember.schedule.plateau{optimizer = opt, mode = "min"}})
    assert.matches('ember.fit: the stop rule\'s mode is "min" but mode is "max"',
                   with{mode = "max", stop = ember.stop.any{ember.stop.early{mode = "min"}}})
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
    local function with(k, v) return fit_error(base, {[k] = v}) end
    assert.matches("ember.fit: unknown option \"epoch\"", with("epoch", 3))
    assert.matches("ember.fit: epochs must be a positive integer %(got 0%)", with("epochs", 0))
    assert.matches("ember.fit: batch must be a positive integer %(got 1.5%)", with("batch", 1.5))
    assert.matches("ember.fit: train must be a dataset", with("train", {}))
    assert.matches("unknown metric \"acc\"", with("metrics", {"acc"}))
    assert.matches("clip must be a positive number", with("clip", -1))
    assert.matches("monitor \"valid_loss\" is not a column", with("monitor", "valid_loss"))
  end)

  it("takes no best from a value its stop rule calls diverged, nor from a non-finite one", function()
    -- valid_loss is 3 from epoch 1: beyond divergence_threshold 1, so the rule stops at once ("diverged")
    local model = fake_model()
    local run = ember.run{name = "dvs", runs = root .. "/runs"}
    local h = fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2},
                  valid = dataset{2, 4}, epochs = 5, batch = 2, run = run, quiet = true,
                  stop = ember.stop.early{divergence_threshold = 1}}
    assert.equal("stopped-early", h.status)
    assert.equal("diverged", h.stop_reason)
    assert.is_nil(h.best_epoch)
    assert.is_nil(h.best)
    local meta = kv(run.dir .. "/meta.tsv")
    assert.is_nil(meta.best_epoch)
    assert.equal("1", meta.stop_epoch)
    assert.is_false(exists(run.dir .. "/best.ckpt"))
    -- mode max: an infinite valid_loss is not the best either
    local m2 = fake_model()
    local h2 = fit{model = m2, loss = mean_loss, optimizer = fake_opt(m2, 0.1), train = dataset{1},
                   valid = dataset{1 / 0}, epochs = 1, batch = 1, quiet = true, mode = "max"}
    assert.equal(math.huge, h2[1].valid_loss)
    assert.is_nil(h2.best_epoch)
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

  it("refuses the checkpoint and logging options when they are wrong", function()
    local model = fake_model()
    local run = ember.run{name = "bad", runs = root .. "/runs"}
    local base = {model = model, loss = mean_loss, optimizer = fake_opt(model, 1), train = dataset{1}, epochs = 1,
                  batch = 1, quiet = true, run = run}
    local function with(extra) return fit_error(base, extra) end
    assert.matches("ember.fit: checkpoint_every must be a positive integer %(got 0%)", with{checkpoint_every = 0})
    assert.matches("ember.fit: checkpoint_seconds must be a finite number >= 0 %(got %-1%)",
                   with{checkpoint_seconds = -1})
    assert.matches("ember.fit: give checkpoint_every %(epochs%) or checkpoint_seconds, not both",
                   with{checkpoint_every = 1, checkpoint_seconds = 1})
    assert.matches("ember.fit: log_every must be a positive integer %(got 0.5%)", with{log_every = 0.5})
    base.run = nil
    assert.matches("ember.fit: log_every needs a run", with{log_every = 1})
  end)
end)

describe("ember.fit{log_every = N}", function()
  it("appends to steps.tsv every N steps the sample-weighted loss of the batches since the last row", function()
    -- samples 1..6 in batches of 2 (no shuffle): batch losses 1.5, 3.5, 5.5 every epoch.
    -- step 2: (1.5*2 + 3.5*2)/4 = 2.5 (epoch 1); step 4: (5.5*2 + 1.5*2)/4 = 3.5 (epoch 2);
    -- step 6: (3.5*2 + 5.5*2)/4 = 4.5 (epoch 2)
    local model = fake_model()
    local run = ember.run{name = "steps", runs = root .. "/runs"}
    fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2, 3, 4, 5, 6},
        epochs = 2, batch = 2, shuffle = false, run = run, quiet = true, log_every = 2}
    local l = lines(read(run.dir .. "/steps.tsv"))
    assert.equal("step\tepoch\tbatch_loss\tlr\ttime", l[1])
    assert.equal(4, #l)
    assert.matches("^2\t1\t2.5\t0.1\t[%d.]+$", l[2])
    assert.matches("^4\t2\t3.5\t0.1\t", l[3])
    assert.matches("^6\t2\t4.5\t0.1\t", l[4])
    -- a second fit of the run appends to the same file
    fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.2), train = dataset{1, 2}, epochs = 1,
        batch = 1, shuffle = false, run = run, quiet = true, log_every = 1}
    l = lines(read(run.dir .. "/steps.tsv"))
    assert.equal(6, #l)
    assert.matches("^1\t1\t1\t0.2\t", l[5])
    assert.matches("^2\t1\t2\t0.2\t", l[6])
  end)
end)

describe("ember.fit and meta.tsv", function()
  it("records the optimizer and the values it used, and used.<key> where the config said otherwise", function()
    local model = fake_model()
    local cfg = {lr = 0, momentum = 0.9, weight_decay = 0, opt = "adam"}   -- lr 0: "the default"
    local run = ember.run{name = "used", runs = root .. "/runs", config = cfg}
    local opt = ember.optim.adam(model:parameters(), cfg.lr > 0 and {lr = cfg.lr} or {})
    fit{model = model, loss = mean_loss, optimizer = opt, train = dataset{1}, epochs = 1, batch = 1, quiet = true,
        run = run, schedule = ember.schedule.linear{optimizer = opt, start_factor = 0.5}}
    local meta = kv(run.dir .. "/meta.tsv")
    assert.equal("adam", meta.optimizer)
    assert.equal("0.001", meta["optimizer.lr"])        -- the base lr, not warmup's first 0.0005
    assert.equal("0.9,0.999", meta["optimizer.betas"])
    assert.equal("1e-08", meta["optimizer.eps"])
    assert.equal("false", meta["optimizer.amsgrad"])
    assert.equal("0.001", meta["used.lr"])
    assert.is_nil(meta["used.weight_decay"])          -- the same value
    assert.is_nil(meta["used.momentum"])              -- adam has no momentum
  end)
end)

describe("ember.fit progress", function()
  it("estimates the epoch's time left and the whole run's", function()
    local progress = require "ember.fit.progress"
    -- 2 of 4 batches in 1 s: 1 s left in the epoch; 2 more epochs of 2 s each before one has completed
    local e, r = progress.eta{k = 2, n = 4, epoch = 1, epochs = 3, dt = 1, ran = 2}
    assert.equal(1, e)
    assert.equal(5, r)
    -- once epochs have completed (validation included), their mean time estimates the rest
    e, r = progress.eta{k = 2, n = 4, epoch = 2, epochs = 3, dt = 1, ran = 2, epoch_time = 3}
    assert.equal(1, e)
    assert.equal(4, r)
    local text = progress.bar_text({epoch = 2, epochs = 3, k = 2, n = 4, loss = 0.5, rate = 120, eta = e,
                                    run_eta = r}, 120)
    assert.matches("^%[=+ +%] epoch 2/3 2/4 loss 0.5 120 samples/s ETA 1.00s %(run 4.00s%)$", text)
  end)
end)

describe("ember.fit in the REPL", function()
  it("returns the history with status interrupted on Ctrl-C instead of raising", function()
    session.current().interactive = true
    local model = fake_model()
    local run = ember.run{name = "repl", runs = root .. "/runs"}
    local calls = 0
    ember._interrupts = function() calls = calls + 1; return calls >= 6 and 1 or 0 end
    -- 3 batches per epoch, one check after each and one at each epoch's end: call 6 is epoch 2, batch 2
    local h = fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2, 3},
                  epochs = 5, batch = 1, shuffle = false, run = run, quiet = true}
    assert.equal("interrupted", h.status)
    assert.equal(1, #h)
    assert.equal("interrupted", kv(run.dir .. "/meta.tsv").status)
    assert.is_true(exists(run.dir .. "/last.ckpt"))
    assert.equal(2, ember.load(run.dir .. "/last.ckpt").batch)
  end)

  it("still raises under ember run or a plain script", function()
    local model = fake_model()
    ember._interrupts = function() return 1 end
    local ok, err = pcall(fit, {model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1),
                                train = dataset{1, 2}, epochs = 2, batch = 1, quiet = true})
    assert.is_false(ok)
    assert.equal("interrupted", E.kind(err))
  end)
end)
