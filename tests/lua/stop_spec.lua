-- Specs for ember.stop: early-stopping decisions on scripted metric sequences, restore_best with a fake
-- model, state round trips, user-defined rules and argument errors.
local stop = require "ember.stop"

-- Feeds values one per epoch; returns the epoch at which the rule said stop (nil if never) and the reason.
local function run(rule, values, model)
  for e, v in ipairs(values) do
    local s, why = rule:update(v, model)
    if s then return e, why end
  end
  return nil
end

-- a fake tensor (a number with clone) and a fake model holding one weight `w`
local function tensor(v)
  return {v = v, clone = function(self) return tensor(self.v) end}
end

local function model(v)
  local m = {w = tensor(v), loads = 0}
  function m:state_dict() return {w = self.w} end
  function m:load_state_dict(t) self.w.v = t.w.v; self.loads = self.loads + 1 end
  return m
end

local errors_with = dofile("tests/lua/spec_helper.lua").errors_with

describe("stop.early patience", function()
  it("never stops while the metric improves, even with patience 0 (keras#16393)", function()
    local r = stop.early{patience = 0}
    assert.is_nil(run(r, {5, 4, 3, 2, 1, 0.5}))
    assert.are.equal(0.5, r.best)
    assert.are.equal(6, r.best_epoch)
    assert.are.equal(0, r.wait)
  end)

  it("patience 0 stops at the first epoch that does not improve", function()
    local e, why = run(stop.early{patience = 0}, {3, 2, 1, 1, 0})
    assert.are.equal(4, e)
    assert.are.equal("patience", why)
  end)

  it("patience 1 stops after one epoch without improvement", function()
    assert.are.equal(3, run(stop.early{patience = 1}, {3, 2, 3, 1, 1}))
  end)

  it("a flat metric stops after `patience` epochs", function()
    local r = stop.early{patience = 2}
    assert.are.equal(3, run(r, {1, 1, 1, 1}))
    assert.are.equal(1, r.best)
    assert.are.equal(1, r.best_epoch)
    assert.are.equal(3, r.stopped_epoch)
    assert.are.equal("patience", r.reason)
    assert.are.equal(2, r.wait)
  end)

  it("counts consecutive epochs: an improvement resets the count", function()
    -- waits: -, 1, 2, 0 (9 improves), 1, 2, 3 -> stop at epoch 7
    assert.are.equal(7, run(stop.early{patience = 3}, {10, 11, 12, 9, 10, 11, 12, 13}))
  end)

  it("keeps answering true once stopped", function()
    local r = stop.early{patience = 0}
    run(r, {1, 2})
    local s, why = r:update(0)
    assert.is_true(s)
    assert.are.equal("patience", why)
    assert.are.equal(2, r.epoch)
    r:reset()
    assert.is_false(r:update(0))
  end)
end)

describe("stop.early min_delta", function()
  it("absolute: must beat best by more than min_delta", function()
    local r = stop.early{patience = 2, min_delta = 0.5}
    -- 9.6 is not below 10 - 0.5 (wait 1); 9.4 is (best 9.4); 9.0 is not below 8.9 (wait 1, 2)
    assert.are.equal(5, run(r, {10, 9.6, 9.4, 9.0, 9.0, 1}))
    assert.are.equal(9.4, r.best)
    assert.are.equal(3, r.best_epoch)
  end)

  it("relative: must beat best by more than min_delta * |best|", function()
    local r = stop.early{patience = 2, min_delta = 0.1, min_delta_mode = "rel"}
    -- 95 > 100 - 10 (wait 1); 89 < 90 improves; 81 > 89 - 8.9 = 80.1 (wait 1); 80 < 80.1 improves
    assert.is_nil(run(r, {100, 95, 89, 81, 80}))
    assert.are.equal(80, r.best)
    assert.are.equal(5, r.best_epoch)
    assert.are.equal(7, run(r, {80, 79}) and r.stopped_epoch)  -- 80, 79 > 80 - 8: waits 1, 2
  end)
end)

describe("stop.early mode max", function()
  it("tracks the largest value", function()
    local r = stop.early{mode = "max", patience = 2}
    assert.are.equal(4, run(r, {0.5, 0.6, 0.6, 0.55, 0.9}))
    assert.are.equal(0.6, r.best)
    assert.are.equal(2, r.best_epoch)
  end)
end)

describe("stop.early guards", function()
  it("stops on NaN and infinity with 'not finite'", function()
    local e, why = run(stop.early{patience = 10}, {1, 0 / 0, 1})
    assert.are.equal(2, e)
    assert.are.equal("not finite", why)
    assert.are.equal("not finite", select(2, run(stop.early{}, {math.huge})))
  end)

  it("with check_finite = false a NaN is just an epoch without improvement", function()
    local r = stop.early{patience = 2, check_finite = false}
    assert.are.equal(3, run(r, {1, 0 / 0, 0 / 0}))
    assert.are.equal("patience", r.reason)
  end)

  it("stops with 'diverged' when worse than divergence_threshold", function()
    local r = stop.early{patience = 10, divergence_threshold = 10}
    assert.is_false(r:update(5))
    assert.is_false(r:update(10))   -- equal is not worse
    local s, why = r:update(11)
    assert.is_true(s)
    assert.are.equal("diverged", why)
    assert.are.equal(5, r.best)
    local rm = stop.early{mode = "max", divergence_threshold = 0.1}
    assert.are.equal(2, run(rm, {0.5, 0.05}))
    assert.are.equal("diverged", rm.reason)
  end)

  it("stops with 'threshold reached' at or beyond stopping_threshold", function()
    local r = stop.early{patience = 10, stopping_threshold = 0.1}
    local e, why = run(r, {0.5, 0.2, 0.1, 0.05})
    assert.are.equal(3, e)
    assert.are.equal("threshold reached", why)
    assert.are.equal(0.1, r.best)
    assert.are.equal(2, run(stop.early{mode = "max", stopping_threshold = 0.9}, {0.5, 0.95}))
  end)

  it("baseline: must beat the baseline within patience epochs", function()
    local r = stop.early{patience = 2, baseline = 1.0}
    assert.are.equal(2, run(r, {1.2, 1.1, 0.5}))
    assert.are.equal(1.0, r.best)
    assert.is_nil(r.best_epoch)
    local r2 = stop.early{patience = 2, baseline = 1.0}
    -- 1.2 wait 1; 0.9 beats the baseline; 0.95, 0.95 waits 1, 2
    assert.are.equal(4, run(r2, {1.2, 0.9, 0.95, 0.95}))
    assert.are.equal(0.9, r2.best)
    assert.are.equal(2, r2.best_epoch)
  end)

  it("start_from_epoch ignores the first epochs (except non-finite values)", function()
    local r = stop.early{patience = 0, start_from_epoch = 2}
    -- without it, 6 after 5 would stop at epoch 2; epochs 1-2 are skipped, 4 is the first best
    assert.are.equal(4, run(r, {5, 6, 4, 5}))
    assert.are.equal(4, r.best)
    assert.are.equal(3, r.best_epoch)
    assert.are.equal(2, run(stop.early{start_from_epoch = 5}, {1, 0 / 0}))
  end)
end)

describe("stop.early restore_best", function()
  it("keeps a clone of the best weights and loads them back on stop", function()
    local m = model(0)
    local r = stop.early{patience = 2, restore_best = true}
    local losses = {3, 2, 2.5, 2.7}
    local stopped
    for e, loss in ipairs(losses) do
      m.w.v = loss            -- "training" changes the weight in place
      if r:update(loss, m) then stopped = e; break end
    end
    assert.are.equal(4, stopped)
    assert.are.equal(2, m.w.v)        -- the weights of epoch 2, not the in-place 2.7
    assert.are.equal(1, m.loads)
  end)

  it("restores on 'not finite' too, and needs the model", function()
    local m = model(1)
    local r = stop.early{restore_best = true}
    r:update(1, m)
    m.w.v = 0 / 0
    assert.are.equal("not finite", select(2, r:update(0 / 0, m)))
    assert.are.equal(1, m.w.v)
    errors_with("stop.early:update: restore_best needs the model", stop.early{restore_best = true}.update,
                stop.early{restore_best = true}, 1)
  end)

  it("says what the model must be when it is not one (stop:update(1, 5))", function()
    local r = stop.early{restore_best = true}
    errors_with("ember.stop.early:update: restore_best needs the model as the second argument, an object "
                .. "with state_dict and load_state_dict (got 5)", r.update, r, 1, 5)
    errors_with("(got table)", r.update, stop.early{restore_best = true}, 1, {})
  end)

  it("does not touch the model without restore_best", function()
    local m = model(5)
    local r = stop.early{patience = 0}
    run(r, {1, 2}, m)
    assert.are.equal(0, m.loads)
  end)
end)

describe("stop.early values", function()
  it("accepts a 0-d tensor or a metrics row holding the monitored key", function()
    local r = stop.early{monitor = "valid_acc", mode = "max", patience = 0}
    assert.is_false(r:update({item = function() return 0.5 end}))
    assert.is_false(r:update({valid_acc = 0.7, train_loss = 9}))
    assert.is_true((r:update({valid_acc = 0.6})))
    errors_with("stop.early:update: value must be a number (got nil)", r.update, stop.early{}, nil)
  end)
end)

describe("stop.early state_dict", function()
  it("a resumed rule makes the same decisions", function()
    local values = {5, 4, 4.5, 3, 3.5, 3.6, 3.7, 3.8}
    local full = stop.early{patience = 3, restore_best = true}
    local m1 = model(0)
    local e_full = nil
    for e, v in ipairs(values) do m1.w.v = v; if full:update(v, m1) then e_full = e; break end end
    assert.are.equal(7, e_full)

    local first = stop.early{patience = 3, restore_best = true}
    local m2 = model(0)
    for e = 1, 5 do m2.w.v = values[e]; first:update(values[e], m2) end
    local state = first:state_dict()
    assert.are.same({epoch = 5, wait = 1, best = 3, best_epoch = 4, stopped_epoch = 0, reason_code = 0,
                     best_weights = state.best_weights}, state)
    local resumed = stop.early{patience = 3, restore_best = true}:load_state_dict(state)
    local e_res
    for e = 6, #values do m2.w.v = values[e]; if resumed:update(values[e], m2) then e_res = e; break end end
    assert.are.equal(e_full, e_res)
    assert.are.equal(3, m2.w.v)
    assert.are.equal(full.best, resumed.best)
    assert.are.equal("patience", resumed.reason)
  end)

  it("restores a stopped state", function()
    local r = stop.early{patience = 0}
    run(r, {1, 0 / 0})
    local r2 = stop.early{patience = 0}:load_state_dict(r:state_dict())
    assert.are.equal("not finite", r2.reason)
    assert.are.equal(2, r2.stopped_epoch)
    assert.is_true((r2:update(0)))
    errors_with("stop.early:load_state_dict: wait must be a non-negative integer", r2.load_state_dict, r2,
                {epoch = 1, best = 1, best_epoch = 0, stopped_epoch = 0, reason_code = 0})
  end)
end)

describe("user-defined rules", function()
  it("wraps a function and combines rules with any", function()
    local budget = stop.wrap(function(v) return v < 0.1, "good enough" end)
    assert.is_false(budget:update(0.5))
    local r = stop.any{stop.early{patience = 1}, function(_, _) return false end, budget}
    assert.is_false(r:update(0.5))
    local s, why = r:update(0.05)
    assert.is_true(s)
    assert.are.equal("good enough", why)
    local obj = {update = function() return true, "custom" end}
    assert.are.equal(obj, stop.wrap(obj))
  end)
end)

describe("stop.early argument errors", function()
  it("name the option and the value", function()
    errors_with('stop.early: mode must be "min" or "max" (got "mni")', stop.early, {mode = "mni"})
    errors_with("stop.early: patience must be a non-negative integer (got -1)", stop.early, {patience = -1})
    errors_with('stop.early: unknown option "pateince"', stop.early, {pateince = 3})
    errors_with("stop.early: min_delta must be a finite number >= 0 (got -0.1)", stop.early, {min_delta = -0.1})
    errors_with('stop.early: min_delta_mode must be "abs" or "rel" (got "pct")', stop.early, {min_delta_mode = "pct"})
  end)
end)
