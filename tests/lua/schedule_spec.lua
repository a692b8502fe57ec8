-- Specs for ember.schedule: each curve at chosen epochs against hand-computed values, plateau decisions,
-- composition, hand edits, state round trips, preview and argument errors. Uses fake optimizers.
local schedule = require "ember.schedule"

-- a fake optimizer: one param group per lr given
local function fake(...)
  local groups = {}
  for i, lr in ipairs{...} do groups[i] = {lr = lr, params = {}} end
  return {param_groups = groups}
end

-- lr of group g at epochs 0 .. n-1 (step after reading), metrics[k] passed to the k-th step
local function curve(s, opt, n, metrics, g)
  local out = {}
  for e = 1, n do
    out[e] = opt.param_groups[g or 1].lr
    if e < n then s:step(metrics and metrics[e]) end
  end
  return out
end

local function close(expected, got, tol)
  tol = tol or 1e-12
  assert.are.equal(#expected, #got, "curve length")
  for i = 1, #expected do
    if math.abs(expected[i] - got[i]) > tol * math.max(1, math.abs(expected[i])) then
      error(string.format("at index %d (epoch %d): expected %.17g, got %.17g", i, i - 1, expected[i], got[i]), 2)
    end
  end
end

local errors_with = dofile("tests/lua/spec_helper.lua").errors_with

describe("schedule.step", function()
  it("halves every 3 epochs and records initial_lr", function()
    local opt = fake(1)
    local s = schedule.step{optimizer = opt, step_size = 3, gamma = 0.5}
    assert.are.equal(1, opt.param_groups[1].initial_lr)
    close({1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25}, curve(s, opt, 8))
  end)

  it("defaults gamma to 0.1 and handles several groups", function()
    local opt = fake(0.1, 1)
    local s = schedule.step{optimizer = opt, step_size = 2}
    for _ = 1, 4 do s:step() end  -- epoch 4: two decays
    close({0.001, 0.01}, s:get_lr())
    close({0.001, 0.01}, {opt.param_groups[1].lr, opt.param_groups[2].lr})
  end)
end)

describe("schedule.multistep", function()
  it("decays at each milestone", function()
    local opt = fake(1)
    local s = schedule.multistep{optimizer = opt, milestones = {5, 2}, gamma = 0.1}
    close({1, 1, 0.1, 0.1, 0.1, 0.01, 0.01}, curve(s, opt, 7))
  end)
end)

describe("schedule.exponential", function()
  it("is base * gamma^t", function()
    local opt = fake(2)
    local s = schedule.exponential{optimizer = opt, gamma = 0.9}
    -- 2, 1.8, 1.62, 1.458
    close({2, 1.8, 1.62, 1.458}, curve(s, opt, 4))
  end)
end)

describe("schedule.cosine", function()
  it("follows eta_min + (base - eta_min)(1 + cos(pi t / T)) / 2", function()
    local opt = fake(0.1)
    local c = curve(schedule.cosine{optimizer = opt, t_max = 10}, opt, 11)
    -- t = 2: 0.1 * (1 + cos(0.2 pi)) / 2 = 0.1 * 1.809017 / 2
    close({0.1, 0.0904508497187474, 0.05, 0}, {c[1], c[3], c[6], c[11]})
  end)

  it("respects eta_min and continues the cosine past t_max", function()
    local opt = fake(0.1)
    local c = curve(schedule.cosine{optimizer = opt, t_max = 10, eta_min = 0.01}, opt, 21)
    -- t = 5: 0.01 + 0.09 / 2; t = 10: eta_min; t = 15: back to 0.055; t = 20: base
    close({0.055, 0.01, 0.055, 0.1}, {c[6], c[11], c[16], c[21]})
  end)
end)

describe("schedule.cosine_restarts", function()
  it("restarts after t_0, t_0 * t_mult, ... epochs", function()
    local opt = fake(1)
    local c = curve(schedule.cosine_restarts{optimizer = opt, t_0 = 2, t_mult = 2}, opt, 11)
    -- cycles [0,2) [2,6) [6,14): t=1 -> 1/2; t=3 -> (1+cos(pi/4))/2; t=5 -> (1+cos(3pi/4))/2; t=10 -> 1/2
    close({1, 0.5, 1, 0.853553390593274, 0.146446609406726, 1, 0.5},
          {c[1], c[2], c[3], c[4], c[6], c[7], c[11]})
  end)

  it("with t_mult = 1 repeats cycles of t_0", function()
    local opt = fake(1)
    local c = curve(schedule.cosine_restarts{optimizer = opt, t_0 = 3, eta_min = 0.5}, opt, 8)
    -- t=4: t_cur = 1 of 3: 0.5 + 0.5 * (1 + cos(pi/3)) / 2 = 0.875; t=6: restart -> 1
    close({1, 0.875, 1}, {c[1], c[5], c[7]})
  end)
end)

describe("schedule.linear (warmup)", function()
  it("goes from start_factor to end_factor in total_iters steps, then holds", function()
    local opt = fake(0.5)
    local c = curve(schedule.linear{optimizer = opt, start_factor = 0.1, total_iters = 4}, opt, 10)
    -- t=1: 0.5 * (0.1 + 0.9/4) = 0.1625; t=2: 0.5 * 0.55 = 0.275
    close({0.05, 0.1625, 0.275, 0.5, 0.5}, {c[1], c[2], c[3], c[5], c[10]})
  end)

  it("has PyTorch's defaults (1/3 -> 1 over 5) and a warmup alias", function()
    local opt = fake(0.3)
    local c = curve(schedule.warmup{optimizer = opt}, opt, 6)
    -- t=0: 0.3/3 = 0.1; t=3: 0.3 * (1/3 + 2/3 * 3/5) = 0.3 * 0.7333.. = 0.22
    close({0.1, 0.22, 0.3}, {c[1], c[4], c[6]})
  end)
end)

describe("schedule.polynomial", function()
  it("is base * (1 - t/T)^power, then 0", function()
    local opt = fake(1)
    close({1, 0.5625, 0.25, 0.0625, 0, 0, 0},
          curve(schedule.polynomial{optimizer = opt, total_iters = 4, power = 2}, opt, 7))
  end)
end)

describe("schedule.lambda", function()
  it("multiplies the base lr by fn(epoch)", function()
    local opt = fake(2)
    local s = schedule.lambda{optimizer = opt, fn = function(e) return 0.5 ^ e end}
    close({2, 1, 0.5, 0.25}, curve(s, opt, 4))
  end)

  it("takes one function per group", function()
    local opt = fake(1, 10)
    local s = schedule.lambda{optimizer = opt, fn = {function(e) return e + 1 end, function() return 0.5 end}}
    s:step(); s:step()
    close({3, 5}, s:get_lr())
  end)

  it("names the epoch when fn returns a non-number", function()
    local opt = fake(1)
    local s = schedule.lambda{optimizer = opt, fn = function(e) if e < 2 then return 1 end end}
    s:step()
    errors_with("fn returned nil at epoch 2", s.step, s)
  end)
end)

describe("schedule.onecycle", function()
  it("matches OneCycleLR with cosine annealing", function()
    local opt = fake(123)
    local s = schedule.onecycle{optimizer = opt, max_lr = 1, total_steps = 10}
    assert.are.equal(0.04, opt.param_groups[1].initial_lr)
    local c = curve(s, opt, 10)
    -- phase 1 ends at step 0.3*10-1 = 2: 0.04 -> 1, t=1 halfway: 1 + (0.04-1)/2 = 0.52
    -- phase 2 from step 2 to 9: 1 -> 0.04/1e4 = 4e-6; t=5: pct 3/7: 4e-6 + (1-4e-6)(1+cos(3pi/7))/2
    close({0.04, 0.52, 1, 0.611262021936289, 4e-6}, {c[1], c[2], c[3], c[6], c[10]})
  end)

  it("supports linear annealing and errors past total_steps", function()
    local opt = fake(1)
    local s = schedule.onecycle{optimizer = opt, max_lr = 1, total_steps = 10, anneal = "linear"}
    local c = curve(s, opt, 10)
    -- t=5: 1 + (4e-6 - 1) * 3/7 = 0.5714302857...
    close({0.04, 0.52, 1, 0.571430285714286, 4e-6}, {c[1], c[2], c[3], c[6], c[10]})
    s:step()  -- step 10 is allowed, as in PyTorch (the last call of a loop), and holds the final lr
    close({4e-6}, {opt.param_groups[1].lr})
    errors_with("stepped 11 times but total_steps is 10", s.step, s)
  end)
end)

describe("schedule.plateau", function()
  it("reduces after more than `patience` bad epochs", function()
    local opt = fake(1)
    local s = schedule.plateau{optimizer = opt, factor = 0.5, patience = 1}
    -- 10, 9 improve; 9, 9 are bad (rel threshold 1e-4) -> reduce on the 2nd; 8 improves; 8.5, 8.5 -> reduce
    close({1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25}, curve(s, opt, 8, {10, 9, 9, 9, 8, 8.5, 8.5}))
    assert.are.equal(8, s.best)
  end)

  it("uses the relative threshold", function()
    local opt = fake(1)
    local s = schedule.plateau{optimizer = opt, factor = 0.5, patience = 0}
    s:step(9)
    s:step(8.9995)  -- not below 9 * (1 - 1e-4) = 8.9991: bad, patience 0 -> reduce
    assert.are.equal(0.5, opt.param_groups[1].lr)
    s:step(8.99)    -- below 8.9991: improves
    assert.are.equal(0.5, opt.param_groups[1].lr)
    assert.are.equal(8.99, s.best)
  end)

  it("uses an absolute threshold in mode max", function()
    local opt = fake(1)
    local s = schedule.plateau{optimizer = opt, mode = "max", factor = 0.5, patience = 0,
                               threshold = 0.1, threshold_mode = "abs"}
    s:step(0.5); s:step(0.65)   -- +0.15: improves
    assert.are.equal(1, opt.param_groups[1].lr)
    s:step(0.7)                 -- +0.05 only: bad -> reduce
    assert.are.equal(0.5, opt.param_groups[1].lr)
  end)

  it("waits `cooldown` epochs after a reduction", function()
    local opt = fake(1)
    local s = schedule.plateau{optimizer = opt, factor = 0.5, patience = 0, cooldown = 2}
    close({1, 1, 0.5, 0.5, 0.5, 0.25}, curve(s, opt, 6, {5, 5, 5, 5, 5}))
  end)

  it("never goes below min_lr", function()
    local opt = fake(1)
    local s = schedule.plateau{optimizer = opt, patience = 0, min_lr = 0.005}
    close({1, 1, 0.1, 0.01, 0.005, 0.005}, curve(s, opt, 6, {3, 3, 3, 3, 3}))
  end)

  it("needs a metric", function()
    local opt = fake(1)
    local s = schedule.plateau{optimizer = opt}
    errors_with("schedule.plateau:step: needs the monitored metric", s.step, s)
  end)

  it("accepts a 0-d tensor as the metric", function()
    local opt = fake(1)
    local s = schedule.plateau{optimizer = opt, patience = 0, factor = 0.5}
    local t = {item = function() return 2 end}
    s:step(t); s:step(t)
    assert.are.equal(0.5, opt.param_groups[1].lr)
  end)
end)

describe("composition", function()
  it("sequence: warmup for 5 epochs then plateau (which ignores warmup metrics)", function()
    local opt = fake(1)
    local s = schedule.sequence{optimizer = opt, milestones = {5},
      schedule.linear{optimizer = opt, start_factor = 0.1, total_iters = 5},
      schedule.plateau{optimizer = opt, factor = 0.5, patience = 1}}
    -- warmup 0.1 + 0.18 t; at t=5 the plateau takes over at the base lr; the metric of the entering step
    -- is not counted; t=6 sees 5 first (best), t=7 bad 1, t=8 bad 2 > 1 -> halve
    close({0.1, 0.28, 0.46, 0.64, 0.82, 1, 1, 1, 0.5},
          curve(s, opt, 9, {5, 5, 5, 5, 5, 5, 5, 5}), 1e-12)
  end)

  it("chain: warmup times plateau, the plateau counting every epoch", function()
    local opt = fake(1)
    local s = schedule.chain{
      schedule.linear{optimizer = opt, start_factor = 0.1, total_iters = 5},
      schedule.plateau{optimizer = opt, factor = 0.5, patience = 1}}
    -- metrics 5, 4 improve; 4, 4 bad -> halve at t=4 (0.82 * 0.5 = 0.41); t=5: 1 * 0.5; 3 improves
    close({0.1, 0.28, 0.46, 0.64, 0.41, 0.5, 0.5}, curve(s, opt, 7, {5, 4, 4, 4, 4, 3}))
  end)

  it("sequence: warmup then cosine, from spec tables", function()
    local opt = fake(1)
    local s = schedule.sequence{optimizer = opt, milestones = {3},
      {"linear", start_factor = 0.1, total_iters = 3}, {"cosine", t_max = 4}}
    -- warmup 0.1, 0.4, 0.7; cosine restarted at t=3: 1, (1+cos(pi/4))/2, 1/2, (1+cos(3pi/4))/2, 0
    close({0.1, 0.4, 0.7, 1, 0.853553390593274, 0.5, 0.146446609406726, 0}, curve(s, opt, 8))
  end)

  it("chain: warmup then cosine on the warmed-up lr", function()
    local opt = fake(1)
    local s = schedule.chain{optimizer = opt, {"linear", start_factor = 0.5, total_iters = 2},
                             {"cosine", t_max = 4}}
    -- t=1: 0.75 * (1+cos(pi/4))/2 = 0.640165...; t=2: 1 * 0.5
    close({0.5, 0.640165042944955, 0.5}, curve(s, opt, 3))
  end)

  it("chain multiplies multiplicative schedules", function()
    local opt = fake(1)
    local s = schedule.chain{schedule.exponential{optimizer = opt, gamma = 0.9},
                             schedule.step{optimizer = opt, step_size = 2, gamma = 0.5}}
    -- t=3: 0.9^3 * 0.5 = 0.3645
    close({1, 0.9, 0.405, 0.3645}, curve(s, opt, 4))
  end)

  it("accepts plain functions epoch -> lr as items", function()
    local opt = fake(1)
    local s = schedule.sequence{optimizer = opt, milestones = {2},
      function(e) return 0.01 * (e + 1) end, schedule.exponential{optimizer = opt, gamma = 0.5}}
    close({0.01, 0.02, 1, 0.5}, curve(s, opt, 4))
  end)

  it("refuses stepping a member and bad milestones", function()
    local opt = fake(1)
    local a = schedule.linear{optimizer = opt}
    local b = schedule.cosine{optimizer = opt, t_max = 5}
    schedule.sequence{a, b, milestones = {5}}
    errors_with("schedule.linear:step: this schedule is part of a sequence", a.step, a)
    local c, d = schedule.linear{optimizer = opt}, schedule.cosine{optimizer = opt, t_max = 5}
    errors_with("schedule.sequence: milestones must be a list of 1", schedule.sequence, {c, d, milestones = {}})
    local e = schedule.linear{optimizer = fake(1)}
    errors_with("item 2 is bound to a different optimizer", schedule.chain, {d, e})
  end)
end)

describe("hand edits", function()
  it("an lr set by hand between steps carries on with the schedule's shape", function()
    local opt = fake(1)
    local s = schedule.step{optimizer = opt, step_size = 2, gamma = 0.1}
    s:step()                                      -- t=1: 1
    opt.param_groups[1].lr = 0.5                  -- by hand
    s:step()                                      -- t=2: 0.5 * 0.1
    assert.are.equal(0.05, opt.param_groups[1].lr)
    s:step()                                      -- t=3: unchanged
    assert.are.equal(0.05, opt.param_groups[1].lr)
    s:step()                                      -- t=4: 0.5 * 0.01
    close({0.005}, s:get_lr())
  end)

  it("works on every group of an exponential schedule", function()
    local opt = fake(1, 4)
    local s = schedule.exponential{optimizer = opt, gamma = 0.5}
    s:step()                                      -- 0.5, 2
    for _, g in ipairs(opt.param_groups) do g.lr = g.lr * 2 end
    s:step()                                      -- base doubled: 2 * 0.25, 8 * 0.25
    close({0.5, 2}, s:get_lr())
  end)
end)

local function numbers_only(t)
  for k, v in pairs(t) do
    if type(v) == "table" then numbers_only(v)
    else assert.are.equal("number", type(v), "state field " .. tostring(k)) end
  end
end

describe("state_dict round trip", function()
  local function roundtrip(make, metrics, cut, n)
    local opt1 = fake(0.1, 1)
    local s1 = make(opt1)
    local full = {}
    for e = 1, n do full[e] = s1:get_lr(); s1:step(metrics[e]) end
    -- interrupted run: steps up to `cut`, save, rebuild from scratch, load, continue
    local opt2 = fake(0.1, 1)
    local s2 = make(opt2)
    for e = 1, cut do s2:step(metrics[e]) end
    local state = s2:state_dict()
    numbers_only(state)
    local opt3 = fake(0.1, 1)
    local s3 = make(opt3)
    s3:load_state_dict(state)
    for e = cut + 1, n do
      local lrs = s3:get_lr()
      assert.are.same(full[e], lrs)            -- identical, not just close
      assert.are.same(full[e], {opt3.param_groups[1].lr, opt3.param_groups[2].lr})
      s3:step(metrics[e])
    end
  end
  local metrics = {5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2}

  it("plateau", function()
    roundtrip(function(o) return schedule.plateau{optimizer = o, patience = 1, factor = 0.5} end, metrics, 5, 16)
  end)

  it("warmup + plateau sequence and chain", function()
    roundtrip(function(o)
      return schedule.sequence{optimizer = o, milestones = {3}, {"linear", total_iters = 3},
                               {"plateau", patience = 1, factor = 0.5}}
    end, metrics, 7, 16)
    roundtrip(function(o)
      return schedule.chain{optimizer = o, {"warmup", total_iters = 4}, {"plateau", patience = 0, factor = 0.5}}
    end, metrics, 3, 16)
  end)

  it("onecycle and cosine_restarts", function()
    roundtrip(function(o) return schedule.onecycle{optimizer = o, max_lr = {1, 2}, total_steps = 16} end,
              metrics, 6, 16)
    roundtrip(function(o) return schedule.cosine_restarts{optimizer = o, t_0 = 2, t_mult = 2} end, metrics, 9, 16)
  end)

  it("keeps a hand-edited base", function()
    local opt = fake(1)
    local s = schedule.exponential{optimizer = opt, gamma = 0.5}
    s:step()
    opt.param_groups[1].lr = 2                    -- pending edit, saved with the state
    local state = s:state_dict()
    local opt2 = fake(1)
    local s2 = schedule.exponential{optimizer = opt2, gamma = 0.5}:load_state_dict(state)
    assert.are.equal(2, opt2.param_groups[1].lr)
    s2:step()                                     -- base 4 * 0.25
    assert.are.equal(1, opt2.param_groups[1].lr)
  end)

  it("rejects a state for another number of groups", function()
    local s = schedule.step{optimizer = fake(1), step_size = 1}
    local s2 = schedule.step{optimizer = fake(1, 2), step_size = 1}
    errors_with("base_lrs must be a list of 2 numbers", s2.load_state_dict, s2, s:state_dict())
  end)
end)

describe("preview", function()
  it("gives the curve of a schedule without touching its optimizer", function()
    local opt = fake(0.1)
    local s = schedule.cosine{optimizer = opt, t_max = 4}
    s:step()
    local lr_before = opt.param_groups[1].lr
    local c = schedule.preview(s, 5)
    close({0.1, 0.0853553390593274, 0.05, 0.0146446609406726, 0}, c, 1e-12)
    assert.are.equal(lr_before, opt.param_groups[1].lr)
    assert.are.equal(1, s.last_epoch)
  end)

  it("builds from a spec table, a function, and composites", function()
    close({2, 2, 1, 1, 0.5}, (schedule.preview({"step", step_size = 2, gamma = 0.5}, 5, {lr = 2})))
    close({1, 0.5, 1 / 3}, (schedule.preview(function(e) return 1 / (e + 1) end, 3)))
    local opt = fake(1)
    local seq = schedule.sequence{optimizer = opt, milestones = {2}, {"linear", start_factor = 0.5, total_iters = 2},
                                  {"exponential", gamma = 0.5}}
    close({0.5, 0.75, 1, 0.5, 0.25}, (schedule.preview(seq, 5)))
    close({0.5, 0.75, 1, 0.5}, (schedule.preview({"sequence", milestones = {2},
      {"linear", start_factor = 0.5, total_iters = 2}, {"exponential", gamma = 0.5}}, 4)))
  end)

  it("feeds metrics to a plateau and gives one curve per group", function()
    local opt = fake(1, 10)
    local s = schedule.plateau{optimizer = opt, patience = 0, factor = 0.5}
    local c1, all = schedule.preview(s, 4, {metrics = {3, 3, 3}})
    close({1, 1, 0.5, 0.25}, c1)
    close({10, 10, 5, 2.5}, all[2])
    close({1, 1, 1}, (schedule.preview(s, 3)))  -- no metrics: no reductions
  end)
end)

describe("wrap", function()
  it("turns a function epoch -> lr into a schedule", function()
    local opt = fake(0.1)
    local s = schedule.wrap(function(e) return 0.1 / (e + 1) end, opt)
    close({0.1, 0.05, 0.1 / 3, 0.025}, curve(s, opt, 4))
    assert.are.equal(s, schedule.wrap(s))
    errors_with("schedule.wrap: expected a function", schedule.wrap, 3, opt)
  end)
end)

describe("argument errors", function()
  it("name the function, the option and the value", function()
    local opt = fake(1)
    errors_with("schedule.step: step_size must be a positive integer (got 0)", schedule.step,
                {optimizer = opt, step_size = 0})
    errors_with("schedule.cosine: optimizer must be an optimizer", schedule.cosine, {t_max = 3})
    errors_with("schedule.cosine: expected a table of options such as {optimizer = opt, ...} (got an optimizer)",
                schedule.cosine, opt)
    errors_with("schedule.cosine: unknown option \"T_max\"", schedule.cosine, {optimizer = opt, T_max = 3})
    errors_with('schedule.plateau: mode must be "min" or "max" (got "mni")', schedule.plateau,
                {optimizer = opt, mode = "mni"})
    errors_with("schedule.exponential: gamma is required", schedule.exponential, {optimizer = opt})
    errors_with("schedule.onecycle: max_lr is required", schedule.onecycle, {optimizer = opt, total_steps = 3})
    errors_with("schedule.onecycle: max_lr has 1 values but the optimizer has 2 param groups",
                schedule.onecycle, {optimizer = fake(1, 1), max_lr = {1}, total_steps = 3})
    errors_with("schedule.multistep: milestones[2] must be a positive integer (got 2.5)", schedule.multistep,
                {optimizer = opt, milestones = {1, 2.5}})
    errors_with("schedule.preview: n must be a positive integer (got 0)", schedule.preview,
                {"step", step_size = 1}, 0)
    errors_with("schedule.sequence: unknown schedule kind \"cosin\"", schedule.sequence,
                {optimizer = opt, {"cosin"}})
  end)
end)
