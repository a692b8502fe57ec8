-- fit_resume_spec.lua - what ember.fit saves and how `ember run --resume` continues: the checkpoint
-- policy (when last.ckpt and best.ckpt are written), damaged checkpoints, exact resume at any step, a
-- script with two fits interrupted in either, and kill -9 of a real `ember run` at several moments.
local ember = require "ember"
local fit = require "ember.fit"
local runs = require "ember.runs"
local session = require "ember.session"
local E = require "ember.error"
local h = dofile("tests/lua/spec_helper.lua")
local F = dofile("tests/lua/fit_fakes.lua")
local read, exists, lines, kv = h.read, h.exists, h.lines, h.kv
local fake_model, fake_opt, dataset, mean_loss = F.fake_model, F.fake_opt, F.dataset, F.mean_loss

local root
local real_interrupts, real_save = ember._interrupts, ember.save

before_each(function()
  root = h.tmpdir()
  session.finish()
end)

after_each(function()
  session.current():close_runs()
  session.finish()
  ember._interrupts, ember.save = real_interrupts, real_save
  h.rmdir(root)
end)

-- the only run directory below root/runs/name
local function only_run(name)
  local found = runs.find(root .. "/runs/" .. name)
  assert.equal(1, #found)
  return found[1]
end

-- a fresh process resuming dir: the session --resume gives
local function resume_session(dir) session.begin({resume = dir, set = {}, set_order = {}}) end

-- the rows of a TSV file with its time column dropped, as text (bit-exact comparison)
local function rows_without_time(path)
  local out, time_col = {}, nil
  for i, line in ipairs(lines(read(path))) do
    local fields = {}
    for f in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = f end
    if i == 1 then
      for j, name in ipairs(fields) do if name == "time" then time_col = j end end
    end
    if time_col then table.remove(fields, time_col) end
    out[#out + 1] = table.concat(fields, "\t")
  end
  return out
end

describe("ember.fit checkpoint policy", function()
  -- trains 5 epochs whose valid_loss improves at epoch 1 only; returns the checkpoint writes in order
  local function writes(extra)
    local model = fake_model()
    local run = ember.run{name = "policy", runs = root .. "/runs"}
    local w = {}
    ember.save = function(path, v)
      w[#w + 1] = ("%s@%d%s"):format(path:match("[^/]*$"), v.epoch, v.status and (":" .. v.status) or "")
      return real_save(path, v)
    end
    local o = {model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2},
               valid = dataset{2, 4}, epochs = 5, batch = 2, run = run, quiet = true}
    for k, v in pairs(extra) do o[k] = v end
    fit(o)
    ember.save = real_save
    return w, run
  end

  it("by default writes a short run's checkpoints once, at the end, best.ckpt first", function()
    local w, run = writes{}
    assert.same({"best.ckpt@1", "last.ckpt@5:finished"}, w)
    assert.equal(1, ember.load(run.dir .. "/best.ckpt").epoch)
  end)

  it("with checkpoint_every = 2 writes last.ckpt after epochs 2 and 4 and at the end", function()
    assert.same({"best.ckpt@1", "last.ckpt@2", "last.ckpt@4", "last.ckpt@5:finished"}, writes{checkpoint_every = 2})
  end)

  it("with checkpoint_seconds = 0 writes last.ckpt after every epoch", function()
    assert.same({"best.ckpt@1", "last.ckpt@1", "last.ckpt@2", "last.ckpt@3", "last.ckpt@4", "last.ckpt@5:finished"},
                writes{checkpoint_seconds = 0})
  end)

  it("writes on an interrupt and on divergence", function()
    local calls = 0
    ember._interrupts = function() calls = calls + 1; return calls >= 2 and 1 or 0 end
    local ok, err = pcall(writes, {})
    assert.is_false(ok)
    assert.equal("interrupted", E.kind(err))
    local model = fake_model()
    local run = ember.run{name = "dv", runs = root .. "/runs"}
    ember._interrupts = real_interrupts
    local n = 0
    local h2 = fit{model = model, optimizer = fake_opt(model, 1), train = dataset{1, 2, 3}, epochs = 3, batch = 1,
                   run = run, quiet = true, diverge = "return",
                   loss = function(out) n = n + 1; return n == 5 and out:mean() / 0 or out:mean() end}
    assert.equal("diverged", h2.status)
    local ck = ember.load(run.dir .. "/last.ckpt")
    assert.equal("diverged", ck.status)
    assert.matches("training diverged at epoch 2, step 5", ck.error)
  end)
end)

describe("ember.fit --resume of a damaged checkpoint", function()
  it("names the missing field instead of failing inside the loop", function()
    local model = fake_model()
    local run = ember.run{name = "miss", runs = root .. "/runs"}
    fit{model = model, loss = mean_loss, optimizer = fake_opt(model, 0.1), train = dataset{1, 2}, epochs = 1,
        batch = 2, run = run, quiet = true}
    local ck = ember.load(run.dir .. "/last.ckpt")
    ck.batch = nil
    ember.save(run.dir .. "/last.ckpt", ck)
    run:set_status("interrupted")
    run:finish()
    session.begin({resume = run.dir, set = {}, set_order = {}})
    local r2 = ember.run{name = "miss", runs = root .. "/runs"}
    local m2 = fake_model()
    local ok, err = pcall(fit, {model = m2, loss = mean_loss, optimizer = fake_opt(m2, 0.1), train = dataset{1, 2},
                                epochs = 2, batch = 2, run = r2, quiet = true})
    assert.is_false(ok)
    assert.equal("format", E.kind(err))
    assert.matches("^ember.fit: cannot resume from '.-last.ckpt': its field batch is missing %(expected an integer >= 0%)",
                   E.message(err))
  end)
end)

---------------------------------------------------------------------------------------------------------------
-- Exact resume: the linear model of fit_fakes.lua (real SGD + momentum, shuffled batches, noise from ember's
-- RNG in every training forward). Interrupting at any step and resuming must give the same rows as an
-- uninterrupted run, bit for bit.
describe("ember.fit resume", function()
  local function interrupt_at(k)
    local calls = 0
    ember._interrupts = function()
      calls = calls + 1
      return calls >= k and 1 or 0
    end
  end

  local function train(name, interrupt_after, extra)
    session.current().seeded = nil   -- each call stands for a fresh process
    local m, opt, tr, va = F.linear()
    local run = ember.run{name = name, runs = root .. "/runs", seed = 5}
    if interrupt_after then interrupt_at(interrupt_after) end
    local o = {model = m, loss = F.mse, optimizer = opt, train = tr, valid = va, epochs = 4, batch = 3, run = run,
               quiet = true, log_every = 3, schedule = ember.schedule.cosine{optimizer = opt, t_max = 4}}
    for k, v in pairs(extra or {}) do o[k] = v end
    local ok, hist = pcall(fit, o)
    ember._interrupts = real_interrupts
    return ok, hist, run
  end

  it("continues an interrupted run to the same numbers, whatever step it stopped at", function()
    local ok, full = train("full")
    assert.is_true(ok)
    assert.equal(4, #full)
    local dir = only_run("full")
    local expected, expected_steps = rows_without_time(dir .. "/metrics.tsv"), rows_without_time(dir .. "/steps.tsv")
    assert.equal(1 + 5, #expected_steps)   -- 16 steps, a row every 3
    -- 4 batches per epoch (3, 3, 3, 1 samples): stop mid-epoch 1, at the end of epoch 1, and mid-epoch 3
    for _, k in ipairs{2, 5, 11} do
      local name = "cut" .. k
      local ok2, err, run = train(name, k)
      assert.is_false(ok2)
      assert.equal("interrupted", E.kind(err))
      assert.matches("^ember.fit: interrupted: training stopped at", E.message(err))
      assert.equal("interrupted", kv(run.dir .. "/meta.tsv").status)
      assert.is_true(exists(run.dir .. "/last.ckpt"))
      run:finish()
      assert.is_true(#runs.read(run.dir).rows < 4)
      resume_session(run.dir)   -- the script runs again from the top with --resume
      local ok3, hist = train(name)
      assert.is_true(ok3, tostring(hist))
      session.finish()
      assert.equal(4, #hist)
      assert.same(expected, rows_without_time(run.dir .. "/metrics.tsv"))
      assert.same(expected_steps, rows_without_time(run.dir .. "/steps.tsv"))
      local meta = kv(run.dir .. "/meta.tsv")
      assert.equal("finished", meta.status)
      assert.equal("1", meta.resumes)
    end
  end)

  it("keeps in best.ckpt the state after the best epoch when it writes it later", function()
    local ok1 = train("every", nil, {checkpoint_seconds = 0})
    local ok2 = train("end")
    assert.is_true(ok1 and ok2)
    local a, b = ember.load(only_run("every") .. "/best.ckpt"), ember.load(only_run("end") .. "/best.ckpt")
    assert.equal(a.epoch, b.epoch)
    assert.equal(a.rng, b.rng)
    assert.same(a.model.w:totable(), b.model.w:totable())
    assert.same(a.optimizer.state[1].momentum_buffer:totable(), b.optimizer.state[1].momentum_buffer:totable())
    assert.equal(#a.history, #b.history)
  end)
end)

---------------------------------------------------------------------------------------------------------------
-- A script with two fits on one run: training, then fine-tuning with another optimizer after a draw from
-- ember's RNG. Every fit resumes: one that had ended gives back its state and history without training.
describe("ember.fit resume of a script with two fits", function()
  local function script(name, interrupt_after, trained)
    session.current().seeded = nil
    local m, opt, tr, va = F.linear()
    local run = ember.run{name = name, runs = root .. "/runs", seed = 5}
    if interrupt_after then
      local calls = 0
      ember._interrupts = function() calls = calls + 1; return calls >= interrupt_after and 1 or 0 end
    end
    local function counted(k) return function(out, y) trained[k] = trained[k] + 1; return F.mse(out, y) end end
    local o = {model = m, optimizer = opt, train = tr, valid = va, epochs = 3, batch = 3, run = run, quiet = true,
               log_every = 2}
    o.loss = counted(1)
    local ok, h1 = pcall(fit, o)
    if ok then
      local w = m:parameters()[1]
      ember.no_grad(function() w:copy(w + ember.randn(3, 1) * 0.01) end)   -- the RNG after fit 1 matters
      o.optimizer = ember.optim.sgd(m:parameters(), {lr = 0.01, momentum = 0.5})
      o.schedule = ember.schedule.plateau{optimizer = o.optimizer, patience = 0}
      o.loss = counted(2)
      ok, h1 = pcall(fit, o)
    end
    ember._interrupts = real_interrupts
    return ok, h1, run
  end

  it("continues from an interrupt in the first fit or in the second to the same numbers", function()
    local ok, _, full_run = script("full", nil, {0, 0})
    assert.is_true(ok)
    local expected = rows_without_time(full_run.dir .. "/metrics.tsv")
    local expected_steps = rows_without_time(full_run.dir .. "/steps.tsv")
    assert.equal(1 + 6, #expected)
    assert.is_true(exists(full_run.dir .. "/last-2.ckpt"))
    -- fit 1 checks for interrupts 15 times (3 epochs of 4 batches and an end); then fit 2
    for _, case in ipairs{{k = 6, fit1 = true}, {k = 15, fit1 = false}, {k = 18, fit1 = false},
                          {k = 24, fit1 = false}} do
      local name = "cut" .. case.k
      local ok2, err, run = script(name, case.k, {0, 0})
      assert.is_false(ok2)
      assert.equal("interrupted", E.kind(err))
      run:finish()
      resume_session(run.dir)
      local trained = {0, 0}
      local ok3, hist = script(name, nil, trained)
      session.finish()
      assert.is_true(ok3, tostring(hist))
      assert.equal(3, #hist)
      assert.same(expected, rows_without_time(run.dir .. "/metrics.tsv"))
      assert.same(expected_steps, rows_without_time(run.dir .. "/steps.tsv"))
      -- interrupted in fit 2: fit 1 gave its result back without a single forward pass
      assert.equal(case.fit1, trained[1] > 0, name)
      assert.equal("finished", kv(run.dir .. "/meta.tsv").status)
    end
  end)
end)

---------------------------------------------------------------------------------------------------------------
-- kill -9 of a real `ember run` at several moments, then --resume: metrics.tsv and steps.tsv equal an
-- uninterrupted run's, bit for bit (the time column aside).
describe("ember run killed with SIGKILL", function()
  local function absolute(p) return p:sub(1, 1) == "/" and p or (os.getenv("PWD") .. "/" .. p) end
  local EMBER = absolute(os.getenv("EMBER_BIN") or "build/ember")
  local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

  -- KILL_AT=N makes the script kill itself with SIGKILL in its N-th loss evaluation (training and
  -- validation batches of both fits count): a moment chosen by progress, the same on any machine load
  local SCRIPT = [[
local ember = require "ember"
local nn = ember.nn
local cfg = ember.config{epochs = 12, seed = 3}
local run = ember.run{}
local x = ember.randn(1200, 8)
local y = x:matmul(ember.randn(8, 1)) + ember.randn(1200, 1) * 0.1
local train, valid = ember.data.tensor_dataset(x, y):split(0.75)
local model = nn.Sequential{nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 1)}
local kill_at, calls = tonumber(os.getenv("KILL_AT") or ""), 0
local function loss(out, target)
  calls = calls + 1
  if calls == kill_at then os.execute("kill -9 " .. ember.getpid()) end
  return ember.loss.mse(out, target)
end
local opt = ember.optim.adam(model:parameters(), {lr = 3e-3})
ember.fit{model = model, loss = loss, optimizer = opt, train = train, valid = valid, epochs = cfg.epochs,
  batch = 8, run = run, log_every = 7, checkpoint_seconds = 0.02,
  schedule = ember.schedule.cosine{optimizer = opt, t_max = cfg.epochs}}
local opt2 = ember.optim.sgd(model:parameters(), {lr = 1e-3, momentum = 0.9})
ember.fit{model = model, loss = loss, optimizer = opt2, train = train, valid = valid, epochs = cfg.epochs,
  batch = 8, run = run, log_every = 7, checkpoint_seconds = 0.02, stop = ember.stop.early{patience = 100}}
]]

  it("resumes to the same metrics and steps whatever moment it was killed at", function()
    local script = root .. "/two_fits.lua"
    h.write(script, SCRIPT)
    local function ember_run(args)
      return os.execute(("cd %s && timeout 120 %s --threads 1 run %s %s >/dev/null 2>&1"):format(q(root), q(EMBER),
                        q(script), args))
    end
    assert.is_true(ember_run("--runs runs --name full"))
    local full = only_run("full")
    local expected = rows_without_time(full .. "/metrics.tsv")
    local expected_steps = rows_without_time(full .. "/steps.tsv")
    assert.equal(1 + 24, #expected)
    -- moments by progress: 113 training and 38 validation batches per epoch, so 50 is in fit 1's first
    -- epoch (before any checkpoint), 600 mid fit 1, 1812 the last loss of fit 1 (12 epochs x 151),
    -- 1900 and 3000 in fit 2
    for _, k in ipairs{50, 600, 1812, 1900, 3000} do
      local name = "kill" .. k
      os.execute(("cd %s && KILL_AT=%d %s --threads 1 run %s --runs runs --name %s >/dev/null 2>&1"):format(
        q(root), k, q(EMBER), q(script), name))
      local dir = only_run(name)
      assert.not_equal("finished", kv(dir .. "/meta.tsv").status, name .. " finished before the kill")
      assert.is_true(ember_run("--resume " .. q(dir)), name)
      assert.same(expected, rows_without_time(dir .. "/metrics.tsv"), name)
      assert.same(expected_steps, rows_without_time(dir .. "/steps.tsv"), name)
      assert.equal("finished", kv(dir .. "/meta.tsv").status)
    end
  end)
end)
