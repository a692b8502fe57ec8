-- ember.loss: loss functions, each `ember.loss.NAME(input, target [, opts]) -> tensor`, matching PyTorch's
-- loss of the same name (values and gradients to float32 precision). The fused ones run as single C
-- kernels with their own backward (core/loss.c); the margin losses are composed from tensor ops here.
--
-- ## Losses
--
-- Every loss takes `opts.reduction`: "mean" (default), "sum" or "none" (one value per element, or per
-- sample for the class losses); kl_div also takes "batchmean". Options are read, never written.
--
-- | loss | input, target | options |
-- |---|---|---|
-- | `mse` | any shape, same shape | |
-- | `rmse` | same shape | `eps = 1e-8`: sqrt(mse + eps), see below |
-- | `mae` (alias `l1`) | same shape | |
-- | `huber` | same shape | `delta = 1.0` (PyTorch HuberLoss) |
-- | `smooth_l1` | same shape | `beta = 1.0` (PyTorch SmoothL1Loss; beta = 0 is mae) |
-- | `cross_entropy` | logits (N, C), (N, C, d...) or (C); class labels 1..C shaped (N), (N, d...) or a number, as a tensor or a Lua table of integers; or class probabilities shaped like the input | `weight` (C), `ignore_index = -100`, `label_smoothing = 0` |
-- | `nll` | log-probabilities as for cross_entropy; class labels | `weight`, `ignore_index` |
-- | `bce` | probabilities in [0, 1], same shape | `weight` (broadcastable) |
-- | `bce_with_logits` | logits, same shape | `weight`, `pos_weight` (broadcastable, e.g. (C)) |
-- | `kl_div` | log-probabilities, probabilities | `log_target = false`; reduction "batchmean" is the true KL divergence |
-- | `hinge_embedding` | distances x, targets 1 or -1 | `margin = 1.0` |
-- | `margin_ranking(x1, x2, y)` | two scores, targets 1 (x1 should rank higher) or -1 | `margin = 0` |
--
-- Notes:
--   * Shapes must match exactly: `mse(output [64 x 1], y [64])` is an error (PyTorch only warns and
--     broadcasts to [64 x 64]), so reshape one side.
--   * rmse is sqrt(mse + eps) with mse reduced as `reduction` says: "mean" gives sqrt(mean((x-y)^2) + eps),
--     "sum" gives sqrt(sum((x-y)^2) + eps) (the Euclidean norm of the error) and "none" gives the
--     elementwise sqrt((x-y)^2 + eps). eps keeps the gradient finite at zero error (it is 0 there).
--   * cross_entropy weights: the "mean" is a weighted mean, sum of w[y_n] * l_n over sum of w[y_n]
--     (rows whose label is ignore_index count in neither), as in PyTorch; with probability targets the
--     mean divides by the number of samples. A batch where every label is ignored gives NaN, as PyTorch.
--   * Class labels are 1..C, like everywhere in ember. A label out of range or not an integer is an error
--     naming the label, its position and C.
--   * Gradients flow to `input`; for mse, rmse, mae, huber and smooth_l1 also to `target` when it requires
--     grad. bce, bce_with_logits, kl_div and cross_entropy with probabilities refuse a target that requires
--     grad (detach it) rather than drop its gradient silently.
--   * NaN in the input gives a NaN loss (no error), so a runner can detect divergence.
--
-- Losses by name, for configs and sweeps: `ember.loss.get("huber")` returns the function (and passes a
-- function through); `ember.loss.names()` lists them.
--
-- ## Writing your own loss
--
-- A loss is a plain Lua function `(input, target [, opts]) -> 0-d tensor` built from tensor operations;
-- autograd differentiates it, so `loss:backward()` works with no more code. Example: the log-cosh loss,
-- mean(log(cosh(x - y))), which behaves like mse for small errors and like mae for large ones. cosh
-- overflows float32 beyond |d| = 89, so write it as log(cosh(d)) = d + softplus(-2d) - log(2):
--
-- ```lua
-- local ember = require "ember"
--
-- local function log_cosh(input, target, opts)
--   local d = input - target
--   local l = d + (d * -2):softplus() - math.log(2)
--   return ember.loss.reduce(l, opts and opts.reduction)   -- "mean" (default), "sum" or "none"
-- end
--
-- local loss = log_cosh(model(x), y)
-- loss:backward()                                -- d/dx log(cosh(x - y)) = tanh(x - y), per element / N
-- ember.loss.register("log_cosh", log_cosh)      -- now ember.loss.get("log_cosh") and --set loss=log_cosh work
-- ```
--
-- A quantile (pinball) loss for quantile q is as short: with d = target - input,
-- `ember.loss.reduce((d * q):max(d * (q - 1)), opts and opts.reduction)`.
local ember = require "ember"

local M = {}

local E = require "ember.error"
local fail, fail_type = E.module_fail("loss"), E.module_fail("loss", "type")
local util = require "ember.util"
local shape_str, show = util.shape_str, util.show

local REDUCTIONS = {mean = true, sum = true, none = true}
local REDUCTIONS_KL = {mean = true, sum = true, none = true, batchmean = true}

-- Checks opts against the option names a loss knows (a typo such as `reducton` is an error, not a
-- silently ignored option) and returns it (or an empty table). Never writes it.
local function options(fn, opts, known, reductions)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail_type(fn, "options must be a table (got %s)", show(opts)) end
  local all = {reduction = true}
  for k, kind in pairs(known) do all[k] = kind end
  local kind, problem = util.option_problem(opts, all)
  if kind then E.raise(kind, E.public_name("loss", fn), "%s", problem) end
  local r = opts.reduction
  if r ~= nil and not (reductions or REDUCTIONS)[r] then
    fail(fn, "reduction must be %s (got %s)",
         reductions and '"mean", "sum", "none" or "batchmean"' or '"mean", "sum" or "none"', show(r))
  end
  return opts
end

local function check_input(fn, x, what)
  if not ember.is_tensor(x) then fail_type(fn, "%s must be a tensor (got %s)", what or "input", type(x)) end
  return x
end

-- v as a tensor: a tensor, a number or a nested table of numbers, as the kernels take them; nil stays
-- nil when optional. Converted here so that a bad value is an error of the loss the user called.
local function tensor_arg(fn, what, v, optional)
  if ember.is_tensor(v) then return v end
  if v == nil and optional then return nil end
  if type(v) ~= "number" and type(v) ~= "table" then
    fail_type(fn, "%s must be a tensor, a number or a table of numbers (got %s)", what, show(v))
  end
  local ok, t = pcall(ember.tensor, v)
  if not ok then fail(fn, "%s is not a table of numbers: %s", what, E.message(t)) end
  return t
end

-- the input (a tensor) and the target (as tensor_arg takes it) of loss fn
local function operands(fn, input, target)
  return check_input(fn, input), tensor_arg(fn, "target", target)
end

local function check_number(fn, name, v, default, ok, requirement)
  if v == nil then return default end
  if type(v) ~= "number" or not ok(v) then fail(fn, "%s must be %s (got %s)", name, requirement, show(v)) end
  return v
end

local function check_integer(fn, name, v, default)
  if v == nil then return default end
  local i = type(v) == "number" and math.tointeger(v)
  if not i then fail(fn, "%s must be an integer (got %s)", name, show(v)) end
  return i
end

local function positive(v) return v > 0 end
local function non_negative(v) return v >= 0 end
local function unit(v) return v >= 0 and v <= 1 end

--- Applies a reduction to a tensor of per-element losses (for user-defined losses).
-- loss: tensor; reduction: "mean" (default), "sum" or "none". Returns a 0-d tensor, or loss for "none".
function M.reduce(loss, reduction)
  check_input("loss.reduce", loss, "loss")
  reduction = reduction or "mean"
  if reduction == "mean" and loss:numel() == 0 then return loss:sum() / 0 end   -- NaN, as the fused losses
  if reduction == "mean" then return loss:mean() end
  if reduction == "sum" then return loss:sum() end
  if reduction == "none" then return loss end
  fail("loss.reduce", 'reduction must be "mean", "sum" or "none" (got %s)', show(reduction))
end

--- Mean squared error, mean((input - target)^2) (PyTorch MSELoss,
-- https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html).
-- input: tensor; target: tensor or table, same shape; opts.reduction. Returns a tensor.
function M.mse(input, target, opts)
  local o = options("mse", opts, {})
  local x, y = operands("mse", input, target)
  return ember._mse(x, y, o.reduction)
end

--- Root mean squared error, sqrt(mse + eps): finite (zero) gradient at zero error.
-- opts.eps (default 1e-8, >= 0), opts.reduction: "mean" sqrt(mean(d^2) + eps), "sum" sqrt(sum(d^2) + eps),
-- "none" elementwise sqrt(d^2 + eps). Returns a tensor.
function M.rmse(input, target, opts)
  local o = options("rmse", opts, {eps = true})
  local eps = check_number("rmse", "eps", o.eps, 1e-8, non_negative, "a number >= 0")
  local x, y = operands("rmse", input, target)
  return ember._rmse(x, y, o.reduction, eps)
end

--- Mean absolute error, mean(|input - target|) (PyTorch L1Loss,
-- https://pytorch.org/docs/stable/generated/torch.nn.L1Loss.html); the gradient at zero error is 0.
-- opts.reduction. Returns a tensor.
function M.mae(input, target, opts)
  local o = options("mae", opts, {})
  local x, y = operands("mae", input, target)
  return ember._mae(x, y, o.reduction)
end
M.l1 = M.mae

--- Huber loss (PyTorch HuberLoss, https://pytorch.org/docs/stable/generated/torch.nn.HuberLoss.html):
-- 0.5 d^2 where |d| < delta, else delta * (|d| - 0.5 delta).
-- opts.delta (default 1.0, > 0), opts.reduction. Returns a tensor.
function M.huber(input, target, opts)
  local o = options("huber", opts, {delta = true})
  local delta = check_number("huber", "delta", o.delta, 1.0, positive, "a number > 0")
  local x, y = operands("huber", input, target)
  return ember._huber(x, y, o.reduction, delta)
end

--- Smooth L1 loss (PyTorch SmoothL1Loss, https://pytorch.org/docs/stable/generated/torch.nn.SmoothL1Loss.html):
-- 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta.
-- opts.beta (default 1.0, >= 0; 0 is mae), opts.reduction. Returns a tensor.
function M.smooth_l1(input, target, opts)
  local o = options("smooth_l1", opts, {beta = true})
  local beta = check_number("smooth_l1", "beta", o.beta, 1.0, non_negative, "a number >= 0")
  local x, y = operands("smooth_l1", input, target)
  return ember._smooth_l1(x, y, o.reduction, beta)
end

--- Cross entropy of logits (PyTorch CrossEntropyLoss,
-- https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html), log-softmax fused in: stable for
-- any logits.
-- input: (N, C), (N, C, d...) or (C); target: class labels 1..C shaped (N) / (N, d...) / a number, as a
-- tensor or a Lua table of integers, or class probabilities shaped like input.
-- opts.weight (C) per-class weights (tensor or table), opts.ignore_index (default -100), opts.label_smoothing
-- (default 0, in [0, 1]), opts.reduction. Returns a tensor.
function M.cross_entropy(input, target, opts)
  local o = options("cross_entropy", opts, {weight = true, ignore_index = true, label_smoothing = true})
  local ii = check_integer("cross_entropy", "ignore_index", o.ignore_index, -100)
  local ls = check_number("cross_entropy", "label_smoothing", o.label_smoothing, 0, unit, "a number in [0, 1]")
  local x, y = operands("cross_entropy", input, target)
  return ember._cross_entropy(x, y, o.reduction, tensor_arg("cross_entropy", "weight", o.weight, true), ii, ls)
end

--- Negative log likelihood of log-probabilities (PyTorch NLLLoss,
-- https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html): -weight[y] * input[y] per sample.
-- input: log-probabilities shaped as for cross_entropy; target: class labels 1..C.
-- opts.weight, opts.ignore_index (default -100), opts.reduction. Returns a tensor.
function M.nll(input, target, opts)
  local o = options("nll", opts, {weight = true, ignore_index = true})
  local ii = check_integer("nll", "ignore_index", o.ignore_index, -100)
  local x, y = operands("nll", input, target)
  return ember._nll(x, y, o.reduction, tensor_arg("nll", "weight", o.weight, true), ii)
end

--- Binary cross entropy of probabilities (PyTorch BCELoss,
-- https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html); each log is clamped at -100, so
-- probabilities 0 and 1 give finite losses. input in [0, 1] (else an error); target same shape.
-- opts.weight (broadcastable to input), opts.reduction. Returns a tensor.
function M.bce(input, target, opts)
  local o = options("bce", opts, {weight = true})
  local x, y = operands("bce", input, target)
  return ember._bce(x, y, o.reduction, tensor_arg("bce", "weight", o.weight, true))
end

--- Binary cross entropy of logits (PyTorch BCEWithLogitsLoss,
-- https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html), computed stably as
-- max(x, 0) - x y + log(1 + exp(-|x|)) (with pos_weight: (1 - y) x + (1 + (pw - 1) y) softplus(-x)).
-- opts.weight, opts.pos_weight (broadcastable to input, e.g. one per class), opts.reduction.
function M.bce_with_logits(input, target, opts)
  local o = options("bce_with_logits", opts, {weight = true, pos_weight = true})
  local x, y = operands("bce_with_logits", input, target)
  return ember._bce_with_logits(x, y, o.reduction,
                                tensor_arg("bce_with_logits", "weight", o.weight, true),
                                tensor_arg("bce_with_logits", "pos_weight", o.pos_weight, true))
end

--- Kullback-Leibler divergence (PyTorch KLDivLoss, https://pytorch.org/docs/stable/generated/torch.nn.KLDivLoss.html):
-- target * (log(target) - input), 0 where target = 0.
-- input: log-probabilities; target: probabilities (log-probabilities with opts.log_target = true).
-- opts.reduction: "mean" (over all elements, PyTorch's default), "batchmean" (sum / batch size: the KL
-- divergence), "sum", "none". Returns a tensor.
function M.kl_div(input, target, opts)
  local o = options("kl_div", opts, {log_target = "boolean"}, REDUCTIONS_KL)
  local x, y = operands("kl_div", input, target)
  return ember._kl_div(x, y, o.reduction, o.log_target)
end

-- a target for the margin losses: a tensor of 1 and -1 shaped like input
local function sign_target(fn, target, input)
  target = tensor_arg(fn, "target", target)
  if shape_str(target) ~= shape_str(input) then
    fail(fn, "input %s and target %s have different shapes", shape_str(input), shape_str(target))
  end
  local ok = ember.no_grad(function() return target:eq(1) + target:eq(-1) end)
  if ok:numel() > 0 and ok:min():item() == 0 then
    local flat = target:reshape(-1):totable()
    for i, v in ipairs(flat) do
      if v ~= 1 and v ~= -1 then fail(fn, "target must hold 1 or -1 (got %s at position %d)", tostring(v), i) end
    end
  end
  return target:detach()
end

--- Hinge embedding loss (PyTorch HingeEmbeddingLoss,
-- https://pytorch.org/docs/stable/generated/torch.nn.HingeEmbeddingLoss.html): x where y = 1,
-- max(0, margin - x) where y = -1.
-- input: tensor (e.g. distances); target: 1 or -1, same shape; opts.margin (default 1.0), opts.reduction.
function M.hinge_embedding(input, target, opts)
  local o = options("hinge_embedding", opts, {margin = true})
  local margin = check_number("hinge_embedding", "margin", o.margin, 1.0, function() return true end, "a number")
  check_input("hinge_embedding", input)
  local y = sign_target("hinge_embedding", target, input)
  -- clamp, not relu: its gradient passes at the kink (margin = input), as PyTorch's clamp_min
  local l = ember.where(y:eq(1), input, (margin - input):clamp(0))
  return M.reduce(l, o.reduction)
end

--- Margin ranking loss (PyTorch MarginRankingLoss,
-- https://pytorch.org/docs/stable/generated/torch.nn.MarginRankingLoss.html): max(0, -y (x1 - x2) + margin).
-- input1, input2: tensors of the same shape; target: 1 where x1 should rank higher, -1 where x2 should;
-- opts.margin (default 0), opts.reduction. Returns a tensor.
function M.margin_ranking(input1, input2, target, opts)
  local o = options("margin_ranking", opts, {margin = true})
  local margin = check_number("margin_ranking", "margin", o.margin, 0, function() return true end, "a number")
  check_input("margin_ranking", input1, "input1")
  check_input("margin_ranking", input2, "input2")
  if shape_str(input1) ~= shape_str(input2) then
    fail("margin_ranking", "input1 %s and input2 %s have different shapes", shape_str(input1), shape_str(input2))
  end
  local y = sign_target("margin_ranking", target, input1)
  return M.reduce((-y * (input1 - input2) + margin):clamp(0), o.reduction)   -- at the kink too, as PyTorch
end

local builtin = {"mse", "rmse", "mae", "l1", "huber", "smooth_l1", "cross_entropy", "nll", "bce",
                 "bce_with_logits", "kl_div", "hinge_embedding", "margin_ranking"}
local registry = {}
for _, name in ipairs(builtin) do registry[name] = M[name] end

--- Names of the losses get() knows, sorted (built-in ones, their aliases and registered ones).
function M.names()
  local out = {}
  for name in pairs(registry) do out[#out + 1] = name end
  table.sort(out)
  return out
end

--- A loss by name, for configs and sweeps: get("huber") -> ember.loss.huber. A function is returned as
-- it is, so a config may hold either. Unknown names are an error listing the known ones.
function M.get(name)
  if type(name) == "function" then return name end
  if type(name) ~= "string" then fail("loss.get", "expected a loss name or a function (got %s)", type(name)) end
  local f = registry[name]
  if not f then fail("loss.get", "unknown loss '%s' (known: %s)", name, table.concat(M.names(), ", ")) end
  return f
end

--- Makes a user-defined loss reachable by name: register("log_cosh", fn); get("log_cosh") then returns
-- fn, and so does ember.loss.log_cosh. A name already in use is an error.
function M.register(name, fn)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    fail("loss.register", "name must be an identifier string (got %s)", show(name))
  end
  if type(fn) ~= "function" then fail("loss.register", "expected a function (got %s)", type(fn)) end
  if registry[name] or M[name] ~= nil then fail("loss.register", "'%s' is already a loss or a loss.* function", name) end
  registry[name] = fn
  M[name] = fn
end

return M
