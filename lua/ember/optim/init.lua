-- ember.optim: optimizers (sgd, adam, adamw, rmsprop, adagrad) as Lua objects over fused C kernels
-- (core/optim.c), an L1 proximal step for all of them, and gradient clipping.
--
-- How an optimizer works
--   * `opt.param_groups` is a list of plain Lua tables, one per group: `params` (a list of tensors), `lr`
--     and every other option. They are copies: the config and group tables you pass are read, never
--     written. step() reads each group's options afresh, so an edit between steps
--       for _, g in ipairs(opt.param_groups) do g.lr = g.lr * 0.1 end
--     takes effect on the next step (schedules rely on this), and is validated then.
--   * Per-parameter state (step counts, moment buffers) lives in `opt.state[param]`, created at a
--     parameter's first step. Parameters whose .grad is nil are skipped (no state change at all).
--   * Update rules are those of the PyTorch documentation's algorithm boxes (pages cited in
--     core/optim.c), evaluated in PyTorch's order in float32, so trajectories agree with torch.optim.
--     `maximize` negates the gradient before weight decay is added, as torch.optim's code does.
--   * l1 = lambda (any optimizer): after each update, w <- sign(w) * max(|w| - lr * l1, 0), the proximal
--     step of lr * lambda * |w|. Weights whose gradient pull is weaker than lambda land exactly on 0
--     and stay there. lr is the group's lr (for adagrad the decayed lr of that step).
--   * opt:zero_grad() sets every .grad to nil (PyTorch 2's default); opt:zero_grad(false) fills the
--     existing gradients with zeros instead.
--
-- Optimizers and options (defaults)
--   sgd      lr (required), momentum = 0, dampening = 0, nesterov = false, weight_decay = 0
--   adam     lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0 (coupled L2), amsgrad = false
--   adamw    as adam, weight_decay = 1e-2 decoupled: w <- w * (1 - lr * weight_decay) before the update
--   rmsprop  lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false
--   adagrad  lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10
--   all      maximize = false, l1 = 0
--
-- State (opt:state_dict()) holds, per parameter index (counting through the groups in order):
--   step (integer) and sgd: momentum_buffer; adam/adamw: exp_avg, exp_avg_sq [, max_exp_avg_sq];
--   rmsprop: square_avg [, momentum_buffer] [, grad_avg]; adagrad: sum — tensors cloned.
local ember = require "ember"
local util = require "ember.util"
local K = require "ember.optim.kinds"

-- The folder: kinds.lua (each optimizer's options, checks and update), clip.lua (gradient norms and
-- clipping); the optimizer class and the constructors here.
local M = {}

local type, ipairs, pairs = type, ipairs, pairs
local zero_grad = ember._zero_grad
local is_tensor, is_finite, shape_str, show = util.is_tensor, util.is_finite, util.shape_str, util.show
local fail, kinds, extra_keys, copy_value = K.fail, K.kinds, K.extra_keys, K.copy_value
local known_options, unknown_option = K.known_options, K.unknown_option

-- the optimizer class --------------------------------------------------------------------------------

local Optimizer = {}
Optimizer.__index = Optimizer

-- A list of parameters from a tensor or a list of tensors; checks each one.
local function param_list(where, gi, ps)
  if is_tensor(ps) then ps = {ps} end
  if type(ps) ~= "table" then fail(where, gi, "params must be a list of tensors (got %s)", show(ps)) end
  local n = #ps
  for k in pairs(ps) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail(where, gi, "params must be a list of tensors (it has the key %s)", show(k))
    end
  end
  if n == 0 then fail(where, gi, "params is an empty list (nothing to optimize)") end
  local list = {}
  for i = 1, n do
    local p = ps[i]
    if not is_tensor(p) then fail(where, gi, "params[%d] is not a tensor (got %s)", i, show(p)) end
    if not p.is_leaf then
      fail(where, gi, "params[%d] is not a leaf tensor (it is the result of %s); optimize the tensors you "
           .. "created, or detach() it", i, tostring(p.grad_fn))
    end
    list[i] = p
  end
  return list
end

-- A resolved copy of a group table: its params, its own options, the rest from defaults.
function Optimizer:_make_group(where, gi, src)
  local known = known_options(self.kind)
  local g = {}
  for k, v in pairs(src) do
    if k ~= "params" then
      if not known[k] and not extra_keys[k] then unknown_option(where, gi, self.kind, k) end
      g[k] = copy_value(v)
    end
  end
  for k, v in pairs(self.defaults) do
    if g[k] == nil then g[k] = copy_value(v) end
  end
  kinds[self.kind].check(where, gi, g)
  g.params = param_list(where, gi, src.params)
  -- a parameter in two groups would be stepped twice; check them all before marking any, so a
  -- refused add_param_group leaves the optimizer as it was
  local seen = {}
  for _, p in ipairs(g.params) do
    if self._owner[p] or seen[p] then
      fail(where, gi, "a parameter %s appears in more than one param group (or twice in a list)", shape_str(p))
    end
    seen[p] = true
  end
  for p in pairs(seen) do self._owner[p] = true end
  return g
end

local function is_group_list(ps)
  return type(ps) == "table" and not is_tensor(ps) and type(ps[1]) == "table" and not is_tensor(ps[1])
end

local function new(kind, params, config)
  local where = "optim." .. kind
  local spec = kinds[kind]
  if config == nil then config = {} end
  if type(config) ~= "table" or is_tensor(config) then
    fail(where, nil, "config must be a table of options such as {lr = 0.01} (got %s)", show(config))
  end
  local known = known_options(kind)
  local defaults = {}
  for k, v in pairs(spec.defaults) do defaults[k] = copy_value(v) end
  for k, v in pairs(config) do
    if not known[k] then unknown_option(where, nil, kind, k) end
    defaults[k] = copy_value(v)
  end
  local self = setmetatable({kind = kind, defaults = defaults, param_groups = {}, state = {}, _owner = {}},
                            Optimizer)
  if is_group_list(params) then
    for i, src in ipairs(params) do
      if type(src) ~= "table" or is_tensor(src) then
        fail(where, nil, "params mixes group tables and %s (item %d)", show(src), i)
      end
      if src.params == nil then fail(where, i, "a group table needs params = {...}") end
      self.param_groups[i] = self:_make_group(where, i, src)
    end
  else
    self.param_groups[1] = self:_make_group(where, nil, {params = params})
  end
  return self
end

--- opt:step([closure]) -- one update of every parameter that has a .grad, with each group's options as
-- they are now. closure: an optional function that recomputes the loss (called with grad mode on,
-- before the update) — its result is returned. Returns the closure's result or nil.
function Optimizer:step(closure)
  local loss
  if closure ~= nil then
    if type(closure) ~= "function" then
      fail("optim." .. self.kind .. ":step", nil, "closure must be a function (got %s)", show(closure))
    end
    local old = ember.set_grad_enabled(true)
    local ok, r = pcall(closure)
    ember.set_grad_enabled(old)
    if not ok then error(r, 0) end
    loss = r
  end
  local spec, state = kinds[self.kind], self.state
  local where = "optim." .. self.kind .. ":step"
  for gi, g in ipairs(self.param_groups) do
    spec.check(where, gi, g)
    spec.update(g, g.params, state)
  end
  return loss
end

--- opt:zero_grad([set_to_none = true]) -- clears the gradients of every parameter: sets .grad to nil
-- (as PyTorch 2 does), or with set_to_none = false fills existing gradients with zeros.
function Optimizer:zero_grad(set_to_none)
  if set_to_none == nil then set_to_none = true end
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do zero_grad(p, set_to_none) end
  end
end

--- opt:add_param_group(group) -- adds {params = {...}, <options>}; options not given come from the
-- optimizer's defaults. The table is copied. Returns the optimizer.
function Optimizer:add_param_group(src)
  local where = "optim." .. self.kind .. ":add_param_group"
  if type(src) ~= "table" or is_tensor(src) or src.params == nil then
    fail(where, nil, "expected a group table such as {params = {...}, lr = 0.01} (got %s)",
         type(src) == "table" and "a table without params" or show(src))
  end
  local gi = #self.param_groups + 1
  self.param_groups[gi] = self:_make_group(where, gi, src)
  return self
end

--- opt:state_dict() -- a plain table {optimizer = kind, param_groups = {...}, state = {...}}: every
-- group's options (params replaced by their indices, counting through the groups), and per parameter
-- index its step count and buffers (cloned tensors). ember.save can write it.
function Optimizer:state_dict()
  local groups, state, idx = {}, {}, 0
  for gi, g in ipairs(self.param_groups) do
    local sg, ids = {}, {}
    for k, v in pairs(g) do
      if k ~= "params" then sg[k] = copy_value(v) end
    end
    for _, p in ipairs(g.params) do
      idx = idx + 1
      ids[#ids + 1] = idx
      local s = self.state[p]
      if s then
        local c = {}
        for k, v in pairs(s) do c[k] = is_tensor(v) and v:clone() or v end
        state[idx] = c
      end
    end
    sg.params = ids
    groups[gi] = sg
  end
  return {optimizer = self.kind, param_groups = groups, state = state}
end

local function same_shape(a, b)
  local sa, sb = a:shape(), b:shape()
  if #sa ~= #sb then return false end
  for i = 1, #sa do
    if sa[i] ~= sb[i] then return false end
  end
  return true
end

-- The saved groups checked against this optimizer's: their options (resolved copies) and the parameter
-- each saved index names.
function Optimizer:_read_groups(where, saved)
  local spec, groups = kinds[self.kind], self.param_groups
  local by_index, new_groups = {}, {}
  for gi, sg in ipairs(saved) do
    if type(sg) ~= "table" or type(sg.params) ~= "table" then
      fail(where, gi, "expected a table with params (got %s)", show(sg))
    end
    local g = groups[gi]
    if #sg.params ~= #g.params then
      fail(where, gi, "the state has %d parameters but the optimizer's group has %d", #sg.params, #g.params)
    end
    -- options are checked; other keys (initial_lr from a schedule, a name, ...) come back as they were
    local ng = {}
    for k, v in pairs(sg) do
      if k ~= "params" then ng[k] = copy_value(v) end
    end
    spec.check(where, gi, ng)
    new_groups[gi] = ng
    for i, id in ipairs(sg.params) do
      if math.type(id) ~= "integer" and not (is_finite(id) and id == math.floor(id)) then
        fail(where, gi, "params[%d] must be a parameter index (got %s)", i, show(id))
      end
      by_index[math.tointeger(id)] = g.params[i]
    end
  end
  return by_index, new_groups
end

-- One parameter's saved state checked against the parameter p: a copy with its tensors cloned.
local function read_param_state(where, spec, key, st, p)
  if type(st) ~= "table" then fail(where, nil, "state[%d] must be a table (got %s)", key, show(st)) end
  local step = math.tointeger(st.step)
  if not step or step < 0 then
    fail(where, nil, "state[%d].step must be an integer >= 0 (got %s)", key, show(st.step))
  end
  for _, k in ipairs(spec.state_keys) do
    if not is_tensor(st[k]) then fail(where, nil, "state[%d].%s must be a tensor (got %s)", key, k, show(st[k])) end
  end
  local c, keys = {}, {}
  for k in pairs(st) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)   -- the same message every time
  for _, k in ipairs(keys) do
    local v = st[k]
    if is_tensor(v) then
      if not same_shape(v, p) then
        fail(where, nil, "state[%d].%s has shape %s but the parameter has shape %s", key, tostring(k),
             shape_str(v), shape_str(p))
      end
      c[k] = v:clone()
    else
      c[k] = v
    end
  end
  c.step = step
  return c
end

--- opt:load_state_dict(s) -- restores a state from opt:state_dict() (or ember.load of one) into an
-- optimizer of the same kind over the same parameters (same groups, same sizes): group options and
-- per-parameter state (tensors cloned), so training continues exactly. Returns the optimizer.
function Optimizer:load_state_dict(s)
  local where = "optim." .. self.kind .. ":load_state_dict"
  if type(s) ~= "table" or type(s.param_groups) ~= "table" or type(s.state) ~= "table" then
    fail(where, nil, "expected a table from opt:state_dict() with param_groups and state (got %s)", show(s))
  end
  if s.optimizer ~= nil and s.optimizer ~= self.kind then
    fail(where, nil, "the state is from optim.%s, not optim.%s", tostring(s.optimizer), self.kind)
  end
  local groups = self.param_groups
  if #s.param_groups ~= #groups then
    fail(where, nil, "the state has %d param groups but the optimizer has %d", #s.param_groups, #groups)
  end
  local by_index, new_groups = self:_read_groups(where, s.param_groups)
  local new_state = {}
  for id, st in pairs(s.state) do
    local key = math.tointeger(id)
    local p = key and by_index[key]
    if not p then fail(where, nil, "state[%s] does not name a parameter of any group", show(id)) end
    new_state[p] = read_param_state(where, kinds[self.kind], key, st, p)
  end
  -- everything checked: now write (group tables are updated in place; others may hold them)
  for gi, g in ipairs(groups) do
    for k in pairs(g) do
      if k ~= "params" then g[k] = nil end
    end
    for k, v in pairs(new_groups[gi]) do g[k] = v end
  end
  self.state = new_state
  return self
end

function Optimizer:__tostring()
  local n = 0
  for _, g in ipairs(self.param_groups) do n = n + #g.params end
  return string.format("optim.%s (%d param group%s, %d parameters, lr %s)", self.kind, #self.param_groups,
                       #self.param_groups == 1 and "" or "s", n, tostring(self.param_groups[1].lr))
end

-- constructors ---------------------------------------------------------------------------------------

--- optim.sgd(params, {lr, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0,
-- maximize = false, l1 = 0}) -- stochastic gradient descent. params: a list of tensors, or a list of
-- group tables {params = {...}, <options>} whose options override the config. Returns the optimizer.
function M.sgd(params, config) return new("sgd", params, config) end

--- optim.adam(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, amsgrad = false,
-- maximize = false, l1 = 0}) -- Adam; weight_decay is coupled (added to the gradient). Returns the optimizer.
function M.adam(params, config) return new("adam", params, config) end

--- optim.adamw(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2,
-- amsgrad = false, maximize = false, l1 = 0}) -- Adam with decoupled weight decay. Returns the optimizer.
function M.adamw(params, config) return new("adamw", params, config) end

--- optim.rmsprop(params, {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0,
-- centered = false, maximize = false, l1 = 0}) -- RMSprop. Returns the optimizer.
function M.rmsprop(params, config) return new("rmsprop", params, config) end

--- optim.adagrad(params, {lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0,
-- eps = 1e-10, maximize = false, l1 = 0}) -- Adagrad. Returns the optimizer.
function M.adagrad(params, config) return new("adagrad", params, config) end

local names = {"adagrad", "adam", "adamw", "rmsprop", "sgd"}

--- optim.get(name) -- the constructor called name ("sgd", "adam", ...; case does not matter), for
-- configs: optim.get(cfg.optimizer)(params, {lr = cfg.lr}).
function M.get(name)
  local key = type(name) == "string" and name:lower() or nil
  if not key or not kinds[key] then
    fail("optim.get", nil, "unknown optimizer %s (known: %s)", show(name), table.concat(names, ", "))
  end
  return M[key]
end

--- optim.hyperparameters(opt [, group = 1]) -> names, values: the options of one param group of opt,
-- names in the optimizer's own order (sgd: lr, momentum, dampening, ...) and values by name. For an
-- optimizer not made here: the group's number, boolean and number-list fields, sorted by name.
function M.hyperparameters(opt, gi)
  local g = opt.param_groups[gi or 1]
  local names, values = {}, {}
  local spec = kinds[opt.kind]
  if spec then
    for _, k in ipairs(spec.options) do
      if g[k] ~= nil then names[#names + 1] = k end
    end
  else
    for k, v in pairs(g) do
      local t = type(v)
      if type(k) == "string" and k ~= "params" and (t == "number" or t == "boolean"
         or (t == "table" and #v > 0 and type(v[1]) == "number")) then
        names[#names + 1] = k
      end
    end
    table.sort(names)
  end
  for _, k in ipairs(names) do values[k] = copy_value(g[k]) end
  return names, values
end

--- optim.is_optimizer(x) -- true when x was made by this module.
function M.is_optimizer(x)
  return type(x) == "table" and getmetatable(x) == Optimizer
end

for k, f in pairs(require "ember.optim.clip") do M[k] = f end

return M
