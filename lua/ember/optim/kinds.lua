-- ember.optim.kinds: the optimizers ember has (sgd, adam, adamw, rmsprop, adagrad): for each, its options
-- and defaults, the check of a resolved param group, the tensors its per-parameter state must hold, and
-- one step of one group over the fused C kernels (core/optim.c).
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local type, ipairs, pairs = type, ipairs, pairs
local has_grad = ember._has_grad
local sgd_step, adam_step = ember._sgd_step, ember._adam_step
local rmsprop_step, adagrad_step = ember._rmsprop_step, ember._adagrad_step
local is_tensor, is_finite, show = util.is_tensor, util.is_finite, util.show

--- kinds.fail(where, group_index or nil, fmt, ...) raises "ember.optim.adam: param group 2: lr must be ..."
-- (where: "optim.sgd" or "optim.sgd:step"; the group when it matters)
local function fail(where, gi, fmt, ...)
  local msg = string.format(fmt, ...)
  if gi then msg = "param group " .. gi .. ": " .. msg end
  local e = E.new("value", E.public_name("optim", where), msg)
  e.where = E.where(2)
  error(e, 0)
end
M.fail = fail

-- a copy of an option value (betas is a table: a group must not share it with the user's config)
local function copy_value(v)
  if type(v) ~= "table" or is_tensor(v) then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = x end
  return c
end

-- option checks: each raises "<where>[: param group i]: <key> must be ... (got ...)"

local function nonneg(where, gi, g, key)
  local v = g[key]
  if not is_finite(v) or v < 0 then
    fail(where, gi, "%s must be a finite number >= 0 (got %s)", key, show(v))
  end
end

local function finite(where, gi, g, key)
  if not is_finite(g[key]) then fail(where, gi, "%s must be a finite number (got %s)", key, show(g[key])) end
end

local function unit(where, gi, g, key)       -- [0, 1]
  local v = g[key]
  if not is_finite(v) or v < 0 or v > 1 then
    fail(where, gi, "%s must be a number in [0, 1] (got %s)", key, show(v))
  end
end

local function bool(where, gi, g, key)
  if type(g[key]) ~= "boolean" then fail(where, gi, "%s must be true or false (got %s)", key, show(g[key])) end
end

local function betas(where, gi, g)
  local b = g.betas
  if type(b) ~= "table" or is_tensor(b) or #b ~= 2 then
    fail(where, gi, "betas must be a list of two numbers in [0, 1) (got %s)",
         type(b) == "table" and not is_tensor(b) and (#b .. " values") or show(b))
  end
  for i = 1, 2 do
    local v = b[i]
    if not is_finite(v) or v < 0 or v >= 1 then
      fail(where, gi, "betas[%d] must be a number in [0, 1) (got %s)", i, show(v))
    end
  end
end
M.copy_value = copy_value

-- the kinds ------------------------------------------------------------------------------------------
-- Each kind: options (ordered names), defaults, check(where, gi, g) of a resolved group,
-- update(g, params, state) one step of one group, state_keys (tensors every state must have).

local kinds = {}

local function state_of(state, p)
  local s = state[p]
  if not s then
    s = {step = 0}
    state[p] = s
  end
  return s
end

local function zeros(p, v)
  local t = ember.zeros_like(p)
  if v and v ~= 0 then t:fill(v) end
  return t
end

kinds.sgd = {
  options = {"lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize", "l1"},
  defaults = {momentum = 0, dampening = 0, nesterov = false, weight_decay = 0, maximize = false, l1 = 0},
  state_keys = {},
  check = function(where, gi, g)
    if g.lr == nil then fail(where, gi, "lr is required (for example optim.sgd(params, {lr = 0.01}))") end
    nonneg(where, gi, g, "lr"); nonneg(where, gi, g, "momentum"); finite(where, gi, g, "dampening")
    bool(where, gi, g, "nesterov"); nonneg(where, gi, g, "weight_decay"); bool(where, gi, g, "maximize")
    nonneg(where, gi, g, "l1")
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      fail(where, gi, "nesterov = true requires momentum > 0 and dampening = 0 (got momentum %s, dampening %s)",
           show(g.momentum), show(g.dampening))
    end
  end,
  update = function(g, params, state)
    local lr, mom, damp, wd, nest, maxi, l1 = g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov,
                                             g.maximize, g.l1
    for _, p in ipairs(params) do
      if has_grad(p) then
        local s = state_of(state, p)
        local buf, first = s.momentum_buffer, false
        if mom ~= 0 and buf == nil then   -- PyTorch: the buffer starts as the first gradient
          buf, first = zeros(p), true
          s.momentum_buffer = buf
        end
        sgd_step(p, nil, buf, first, lr, mom, damp, wd, nest, maxi, l1)
        s.step = s.step + 1
      end
    end
  end,
}

local function adam_kind(decoupled, wd)
  return {
    options = {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "l1"},
    defaults = {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = wd, amsgrad = false,
                maximize = false, l1 = 0},
    state_keys = {"exp_avg", "exp_avg_sq"},
    check = function(where, gi, g)
      nonneg(where, gi, g, "lr"); betas(where, gi, g); nonneg(where, gi, g, "eps")
      nonneg(where, gi, g, "weight_decay"); bool(where, gi, g, "amsgrad"); bool(where, gi, g, "maximize")
      nonneg(where, gi, g, "l1")
    end,
    update = function(g, params, state)
      local lr, b1, b2, eps, wdecay, ams, maxi, l1 = g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay,
                                                     g.amsgrad, g.maximize, g.l1
      for _, p in ipairs(params) do
        if has_grad(p) then
          local s = state_of(state, p)
          if s.exp_avg == nil then s.exp_avg, s.exp_avg_sq = zeros(p), zeros(p) end
          if ams and s.max_exp_avg_sq == nil then s.max_exp_avg_sq = zeros(p) end
          local n = s.step + 1
          adam_step(p, nil, s.exp_avg, s.exp_avg_sq, s.max_exp_avg_sq, n, lr, b1, b2, eps, wdecay, ams, maxi,
                    l1, decoupled)
          s.step = n
        end
      end
    end,
  }
end
kinds.adam = adam_kind(false, 0)
kinds.adamw = adam_kind(true, 1e-2)

kinds.rmsprop = {
  options = {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize", "l1"},
  defaults = {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false,
              maximize = false, l1 = 0},
  state_keys = {"square_avg"},
  check = function(where, gi, g)
    nonneg(where, gi, g, "lr"); unit(where, gi, g, "alpha"); nonneg(where, gi, g, "eps")
    nonneg(where, gi, g, "weight_decay"); nonneg(where, gi, g, "momentum"); bool(where, gi, g, "centered")
    bool(where, gi, g, "maximize"); nonneg(where, gi, g, "l1")
  end,
  update = function(g, params, state)
    local lr, alpha, eps, wd, mom, cen, maxi, l1 = g.lr, g.alpha, g.eps, g.weight_decay, g.momentum,
                                                   g.centered, g.maximize, g.l1
    for _, p in ipairs(params) do
      if has_grad(p) then
        local s = state_of(state, p)
        if s.square_avg == nil then s.square_avg = zeros(p) end
        if mom > 0 and s.momentum_buffer == nil then s.momentum_buffer = zeros(p) end
        if cen and s.grad_avg == nil then s.grad_avg = zeros(p) end
        rmsprop_step(p, nil, s.square_avg, s.grad_avg, s.momentum_buffer, lr, alpha, eps, wd, mom, cen, maxi,
                     l1)
        s.step = s.step + 1
      end
    end
  end,
}

kinds.adagrad = {
  options = {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize", "l1"},
  defaults = {lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10,
              maximize = false, l1 = 0},
  state_keys = {"sum"},
  check = function(where, gi, g)
    nonneg(where, gi, g, "lr"); nonneg(where, gi, g, "lr_decay"); nonneg(where, gi, g, "weight_decay")
    nonneg(where, gi, g, "initial_accumulator_value"); nonneg(where, gi, g, "eps")
    bool(where, gi, g, "maximize"); nonneg(where, gi, g, "l1")
  end,
  update = function(g, params, state)
    local lr, decay, wd, init, eps, maxi, l1 = g.lr, g.lr_decay, g.weight_decay, g.initial_accumulator_value,
                                               g.eps, g.maximize, g.l1
    for _, p in ipairs(params) do
      if has_grad(p) then
        local s = state_of(state, p)
        if s.sum == nil then s.sum = zeros(p, init) end
        local n = s.step + 1
        adagrad_step(p, nil, s.sum, n, lr, decay, wd, eps, maxi, l1)
        s.step = n
      end
    end
  end,
}

-- group keys that are not options but may sit in a group: schedules add initial_lr; a name is handy
local extra_keys = {initial_lr = true, name = true}

local function known_options(kind)
  local known = {}
  for _, k in ipairs(kinds[kind].options) do known[k] = true end
  return known
end

local function unknown_option(where, gi, kind, key)
  fail(where, gi, "unknown option %s (options: %s)", show(key), table.concat(kinds[kind].options, ", "))
end

M.kinds, M.extra_keys, M.known_options, M.unknown_option = kinds, extra_keys, known_options, unknown_option

return M
