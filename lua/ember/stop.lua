-- ember.stop: early stopping. A rule sees one monitored value per epoch and says when training should
-- stop and why; `early` can also put the best weights back.
--
-- Semantics of stop.early (exact; README copies this):
--   * Call `stop:update(value, model)` once per epoch, after validation. It returns `true, reason` when
--     training should stop, else `false`. Reasons: "patience", "not finite", "diverged", "threshold reached".
--     Epochs are counted by the rule from 1 (`stop.epoch`).
--   * An epoch improves when its value beats `best` by more than `min_delta`: value < best - d in mode
--     "min", value > best + d in mode "max", where d = min_delta (min_delta_mode "abs") or
--     min_delta * |best| ("rel"). Before any value is seen, best is `baseline` if given, else +inf/-inf,
--     so the first monitored finite value always improves unless it fails to beat the baseline.
--   * `wait` counts consecutive monitored epochs without improvement. It persists across epochs and
--     returns to 0 only on an improvement.
--   * patience = k stops ("patience") at the end of the k-th consecutive epoch without improvement, i.e.
--     when wait reaches k. patience = 0 stops at the first epoch that does not improve. An epoch that
--     improves never stops for patience, whatever the patience (Keras's patience = 0 did: keras#16393).
--   * Checks, in this order, each epoch:
--       1. check_finite (default true): a NaN or infinite value stops with "not finite", at any epoch.
--       2. The first `start_from_epoch` epochs are not monitored further (no best, no wait).
--       3. divergence_threshold: a value worse than it (> in "min", < in "max") stops with "diverged";
--          such a value never becomes the best.
--       4. improvement bookkeeping: best, best_epoch, wait (and a copy of the weights with restore_best).
--       5. stopping_threshold: a value at or beyond it (<= in "min", >= in "max") stops with
--          "threshold reached".
--       6. patience, as above.
--   * restore_best: on an improvement the rule keeps a clone of `model:state_dict()`, and on any stop it
--     calls `model:load_state_dict(best weights)` (when a best exists).
--   * Once stopped, update returns `true, reason` again without looking at the value; `stop:reset()`
--     starts over.
--   * Fields: stop.best, stop.best_epoch (nil until an improvement), stop.wait, stop.epoch,
--     stop.stopped_epoch and stop.reason (nil until a stop).
--
-- User-defined rules: anything with a method `update(self, value, model)` returning `true, reason` or
-- false can be used wherever a stop rule is (ember.fit calls only `update`; `state_dict` and
-- `load_state_dict` are used when present). `stop.wrap(fn)` turns a function (value, model) -> stop,
-- reason into such an object, and `stop.any{r1, r2, ...}` stops when any of its rules does.
local M = {}

local huge = math.huge

local REASONS = {"patience", "not finite", "diverged", "threshold reached"}

local util = require "ember.util"
local fail = require("ember.error").module_fail("stop")
local show, is_finite = util.show, util.is_finite

local function is_int(v, min)
  return is_finite(v) and v == math.floor(v) and v >= min
end

local Early = {}
Early.__index = Early

local KEYS = {"monitor", "mode", "patience", "min_delta", "min_delta_mode", "baseline", "start_from_epoch",
  "restore_best", "check_finite", "divergence_threshold", "stopping_threshold"}

--- stop.early{monitor = "valid_loss", mode = "min", patience = 5, min_delta = 0, min_delta_mode = "abs",
-- baseline = nil, start_from_epoch = 0, restore_best = false, check_finite = true,
-- divergence_threshold = nil, stopping_threshold = nil} -> an early-stopping rule (see the module comment).
-- monitor names the metric the caller (e.g. ember.fit) passes to update.
function M.early(args)
  local where = "stop.early"
  if args == nil then args = {} end
  if type(args) ~= "table" then fail(where, "expected a table of options (got %s)", show(args)) end
  local known = {}
  for _, k in ipairs(KEYS) do known[k] = true end
  for k in pairs(args) do
    if not known[k] then fail(where, "unknown option %s (options: %s)", show(k), table.concat(KEYS, ", ")) end
  end
  local self = setmetatable({}, Early)
  -- what the caller chose, as opposed to the defaults: ember.fit gives the others its own monitor
  self._given = {monitor = args.monitor ~= nil, mode = args.mode ~= nil}
  self.monitor = args.monitor == nil and "valid_loss" or args.monitor
  if type(self.monitor) ~= "string" then fail(where, "monitor must be a string (got %s)", show(self.monitor)) end
  self.mode = args.mode == nil and "min" or args.mode
  if self.mode ~= "min" and self.mode ~= "max" then
    fail(where, 'mode must be "min" or "max" (got %s)', show(self.mode))
  end
  self.patience = args.patience == nil and 5 or args.patience
  if not is_int(self.patience, 0) then
    fail(where, "patience must be a non-negative integer (got %s)", show(self.patience))
  end
  self.min_delta = args.min_delta == nil and 0 or args.min_delta
  if not is_finite(self.min_delta) or self.min_delta < 0 then
    fail(where, "min_delta must be a finite number >= 0 (got %s)", show(self.min_delta))
  end
  self.min_delta_mode = args.min_delta_mode == nil and "abs" or args.min_delta_mode
  if self.min_delta_mode ~= "abs" and self.min_delta_mode ~= "rel" then
    fail(where, 'min_delta_mode must be "abs" or "rel" (got %s)', show(self.min_delta_mode))
  end
  self.start_from_epoch = args.start_from_epoch == nil and 0 or args.start_from_epoch
  if not is_int(self.start_from_epoch, 0) then
    fail(where, "start_from_epoch must be a non-negative integer (got %s)", show(self.start_from_epoch))
  end
  for _, k in ipairs{"baseline", "divergence_threshold", "stopping_threshold"} do
    if args[k] ~= nil and not is_finite(args[k]) then
      fail(where, "%s must be a finite number or nil (got %s)", k, show(args[k]))
    end
    self[k] = args[k]
  end
  for _, k in ipairs{"restore_best", "check_finite"} do
    if args[k] ~= nil and type(args[k]) ~= "boolean" then
      fail(where, "%s must be a boolean (got %s)", k, show(args[k]))
    end
  end
  self.restore_best = args.restore_best == true
  self.check_finite = args.check_finite ~= false
  return self:reset()
end

--- stop:reset() -- forget everything seen (best, wait, epoch, stop, kept weights). Returns the rule.
function Early:reset()
  self.epoch, self.wait = 0, 0
  self.best = self.baseline
  if self.best == nil then self.best = self.mode == "min" and huge or -huge end
  self.best_epoch, self.stopped_epoch, self.reason, self.best_weights = nil, nil, nil, nil
  return self
end

-- strictly better (a beats b), no delta
function Early:_beats(a, b)
  if self.mode == "min" then return a < b end
  return a > b
end

function Early:_improves(v)
  local best = self.best
  if best == huge or best == -huge then return self:_beats(v, best) end  -- nothing seen yet
  local d = self.min_delta
  if self.min_delta_mode == "rel" then d = d * math.abs(best) end
  if self.mode == "min" then return v < best - d end
  return v > best + d
end

-- a deep copy of a state dict, cloning tensors (anything with a clone method)
local function clone_state(where, t)
  local c = {}
  for k, v in pairs(t) do
    local tv = type(v)
    if tv == "table" or tv == "userdata" then
      local ok, f = pcall(function() return v.clone end)
      if ok and type(f) == "function" then
        c[k] = f(v)
      elseif tv == "table" then
        c[k] = clone_state(where, v)
      else
        fail(where, "state_dict entry %s cannot be cloned", show(k))
      end
    else
      c[k] = v
    end
  end
  return c
end

-- restore_best needs a model it can copy and load: anything else is the caller's mistake, said so
local function check_model(model)
  local ok = type(model) == "table" or type(model) == "userdata"
  if ok then
    local got, sd, load = pcall(function() return model.state_dict, model.load_state_dict end)
    ok = got and type(sd) == "function" and type(load) == "function"
  end
  if not ok then
    fail("stop.early:update", "restore_best needs the model as the second argument, an object with "
         .. "state_dict and load_state_dict (got %s): stop:update(value, model)", show(model))
  end
end

function Early:_keep(model)
  local where = "stop.early:update"
  check_model(model)
  local sd = model:state_dict()
  if type(sd) ~= "table" then fail(where, "model:state_dict() returned %s (expected a table)", show(sd)) end
  self.best_weights = clone_state(where, sd)
end

function Early:_stop(reason, model)
  self.reason, self.stopped_epoch = reason, self.epoch
  if self.restore_best and self.best_weights ~= nil then
    check_model(model)
    model:load_state_dict(self.best_weights)
  end
  return true, reason
end

--- stop:update(value, model) -- record this epoch's value (a number, a 0-d tensor, or a table holding
-- value[monitor]); model is needed with restore_best. Returns true, reason to stop, else false.
function Early:update(value, model)
  if self.reason ~= nil then return true, self.reason end
  local where = "stop.early:update"
  local v = value
  if type(v) == "table" and getmetatable(v) == nil and v[self.monitor] ~= nil then v = v[self.monitor] end
  if type(v) ~= "number" then
    local ok, x = pcall(function() return v:item() end)
    if not ok or type(x) ~= "number" then
      fail(where, "value must be a number (got %s)", show(v))
    end
    v = x
  end
  self.epoch = self.epoch + 1
  if self.check_finite and not is_finite(v) then return self:_stop("not finite", model) end
  if self.epoch <= self.start_from_epoch then return false end
  local dt = self.divergence_threshold
  if dt ~= nil and self:_beats(dt, v) then return self:_stop("diverged", model) end
  local improved = self:_improves(v)
  if improved then
    self.best, self.best_epoch, self.wait = v, self.epoch, 0
    if self.restore_best then self:_keep(model) end
  else
    self.wait = self.wait + 1
  end
  local st = self.stopping_threshold
  if st ~= nil and (self.mode == "min" and v <= st or self.mode == "max" and v >= st) then
    return self:_stop("threshold reached", model)
  end
  if not improved and self.wait >= self.patience then return self:_stop("patience", model) end
  return false
end

--- stop:state_dict() -- numbers (epoch, wait, best, best_epoch and stopped_epoch with 0 for none,
-- reason_code: 0 for none or the index in {"patience", "not finite", "diverged", "threshold reached"})
-- plus best_weights (the kept state dict, or absent).
function Early:state_dict()
  local code = 0
  for i, r in ipairs(REASONS) do
    if r == self.reason then code = i end
  end
  return {epoch = self.epoch, wait = self.wait, best = self.best, best_epoch = self.best_epoch or 0,
          stopped_epoch = self.stopped_epoch or 0, reason_code = code, best_weights = self.best_weights}
end

--- stop:load_state_dict(s) -- restore a state from state_dict on a rule built with the same options.
-- Returns the rule.
function Early:load_state_dict(s)
  local where = "stop.early:load_state_dict"
  if type(s) ~= "table" then fail(where, "expected a state table (got %s)", show(s)) end
  for _, k in ipairs{"epoch", "wait", "best_epoch", "stopped_epoch", "reason_code"} do
    if not is_int(s[k], 0) then fail(where, "%s must be a non-negative integer (got %s)", k, show(s[k])) end
  end
  if type(s.best) ~= "number" then fail(where, "best must be a number (got %s)", show(s.best)) end
  if s.reason_code > #REASONS then fail(where, "reason_code must be at most %d (got %s)", #REASONS, show(s.reason_code)) end
  if s.best_weights ~= nil and type(s.best_weights) ~= "table" then
    fail(where, "best_weights must be a table (got %s)", show(s.best_weights))
  end
  self.epoch, self.wait, self.best = math.tointeger(s.epoch), math.tointeger(s.wait), s.best
  self.best_epoch = s.best_epoch > 0 and math.tointeger(s.best_epoch) or nil
  self.stopped_epoch = s.stopped_epoch > 0 and math.tointeger(s.stopped_epoch) or nil
  self.reason = REASONS[s.reason_code]
  self.best_weights = s.best_weights
  return self
end

-- one monitor for a whole fit --------------------------------------------------------------------------

local Any

--- stop.claims(rule) -> a list with, for each rule in rule (itself, or every item of stop.any), the
-- monitored column and mode it chose: {monitor = name or nil, mode = "min" | "max" | nil}. An early
-- rule's defaults are not a choice; another rule's `monitor` and `mode` fields are.
function M.claims(rule, out)
  out = out or {}
  local mt = getmetatable(rule)
  if mt == Any then
    for _, r in ipairs(rule.rules) do M.claims(r, out) end
  elseif mt == Early then
    out[#out + 1] = {monitor = rule._given.monitor and rule.monitor or nil, mode = rule._given.mode and rule.mode or nil}
  elseif type(rule) == "table" then
    local mode = rule.mode
    out[#out + 1] = {monitor = type(rule.monitor) == "string" and rule.monitor or nil,
                     mode = (mode == "min" or mode == "max") and mode or nil}
  end
  return out
end

--- stop.share(rule, monitor, mode): every early rule in rule (itself, or the items of stop.any) that
-- did not choose its monitor or its mode takes these (ember.fit: one monitor for the stop rule and a
-- plateau schedule). A rule that has seen no value yet starts again from the new mode's best.
function M.share(rule, monitor, mode)
  local mt = getmetatable(rule)
  if mt == Any then
    for _, r in ipairs(rule.rules) do M.share(r, monitor, mode) end
  elseif mt == Early then
    if not rule._given.monitor then rule.monitor = monitor end
    if not rule._given.mode and rule.mode ~= mode then
      rule.mode = mode
      if rule.epoch == 0 then rule:reset() end
    end
  end
end

-- user-defined rules ---------------------------------------------------------------------------------

local Fn = {}
Fn.__index = Fn

--- stop.wrap(fn) -- a rule from a function fn(value, model) -> stop, reason (a rule with update is
-- returned unchanged).
function M.wrap(fn)
  if type(fn) == "table" and type(fn.update) == "function" then return fn end
  if type(fn) ~= "function" then
    fail("stop.wrap", "expected a function (value, model) -> stop, reason or an object with update (got %s)", show(fn))
  end
  return setmetatable({fn = fn}, Fn)
end

function Fn:update(value, model)
  local stop, reason = self.fn(value, model)
  if stop then return true, reason or "stopped by rule" end
  return false
end

Any = {}
Any.__index = Any

--- stop.any{r1, r2, ...} -- stops when any rule does (every rule sees every epoch; the first stopping
-- rule's reason is returned). Items: rules with update, or functions (wrapped with stop.wrap).
function M.any(rules)
  if type(rules) ~= "table" or #rules == 0 then
    fail("stop.any", "expected a non-empty list of rules (got %s)", show(rules))
  end
  local self = setmetatable({rules = {}}, Any)
  for i, r in ipairs(rules) do
    if type(r) ~= "function" and not (type(r) == "table" and type(r.update) == "function") then
      fail("stop.any", "item %d must be a function or an object with update (got %s)", i, show(r))
    end
    self.rules[i] = M.wrap(r)
  end
  return self
end

function Any:update(value, model)
  local stop, reason = false, nil
  for _, r in ipairs(self.rules) do
    local s, why = r:update(value, model)
    if s and not stop then stop, reason = true, why end
  end
  if stop then return true, reason end
  return false
end

function Any:state_dict()
  local s = {}
  for i, r in ipairs(self.rules) do s[i] = r.state_dict and r:state_dict() or {} end
  return s
end

function Any:load_state_dict(s)
  if type(s) ~= "table" then fail("stop.any:load_state_dict", "expected a state table (got %s)", show(s)) end
  for i, r in ipairs(self.rules) do
    if r.load_state_dict and s[i] ~= nil then r:load_state_dict(s[i]) end
  end
  return self
end

return M
