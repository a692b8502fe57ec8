-- regularization.lua: no regularization vs L2 (coupled weight decay, Adam's weight_decay) vs decoupled
-- weight decay (AdamW) vs L1 (the optimizer option `l1`, a proximal step that sets weights exactly to
-- zero), on an MLP that overfits a small training subset of the 8x8 digits. One run per method, same
-- initial weights and batches; every epoch logs the fraction of weights that are exactly zero (`zeros`)
-- and the weights' L2 norm (`wnorm`).
--
--   ember run experiments/regularization.lua                         # all four, ~6 s on 2 cores
--   ember run experiments/regularization.lua --set reg=none,l1 --set l1=3e-3
--   ember run experiments/regularization.lua --set train_size=1000    # more data, less overfitting
--   ember plot runs/regularization --by reg --metric valid_loss,zeros
--
-- With Adam, L2 and decoupled decay are not the same thing: L2 adds wd * w to the gradient, which Adam
-- then divides by its running gradient scale, so weights with large gradients are barely decayed;
-- AdamW shrinks every weight by lr * wd per step whatever its gradient (Loshchilov and Hutter, 2019).
-- Only the weight matrices are regularized (biases have their own param group with no decay and no L1).
local ember = require "ember"
local nn, optim = ember.nn, ember.optim

local cfg = ember.config{
  reg = {"none", "l2", "decoupled", "l1"},   -- one run per entry
  l2 = 1e-2,             -- l2: Adam weight_decay (added to the gradient)
  decay = 0.5,           -- decoupled: AdamW weight_decay (w <- w - lr * decay * w each step)
  l1 = 1e-1,             -- l1: w <- sign(w) max(|w| - lr * l1, 0) after each step
  lr = 1e-3,             -- Adam
  train_size = 200,      -- training images (the rest: 400 validation, then test)
  hidden = 256,
  epochs = 150,
  batch = 32,
  seed = 1,
}

ember.manual_seed(cfg.seed)
local ds = ember.data.csv(ember.data.script_path("data/digits.csv"), {target = "label", classes = true})
ds = ember.data.tensor_dataset(ds.x / 16, ds.y)             -- pixel counts 0..16 -> [0, 1]
local train, rest = ds:split(cfg.train_size)
local valid, test = rest:split(400)

-- weight matrices in one param group, biases in another that is never regularized
local function groups(model, opts)
  local weights, biases = {}, {}
  for _, np in ipairs(model:named_parameters()) do      -- {name, tensor} pairs
    if np[1]:match("weight$") then weights[#weights + 1] = np[2] else biases[#biases + 1] = np[2] end
  end
  local g = {params = weights}
  for k, v in pairs(opts) do g[k] = v end
  return {g, {params = biases, weight_decay = 0, l1 = 0}}, weights
end

local METHODS = {
  none = function(model) return optim.adam(groups(model, {}), {lr = cfg.lr}) end,
  l2 = function(model) return optim.adam(groups(model, {weight_decay = cfg.l2}), {lr = cfg.lr}) end,
  decoupled = function(model) return optim.adamw(groups(model, {weight_decay = cfg.decay}), {lr = cfg.lr}) end,
  l1 = function(model) return optim.adam(groups(model, {l1 = cfg.l1}), {lr = cfg.lr}) end,
}

-- exact zeros and L2 norm of the weight matrices
local function weight_stats(model)
  return ember.no_grad(function()
    local zeros, total, sq = 0, 0, 0
    for _, np in ipairs(model:named_parameters()) do
      local name, p = np[1], np[2]
      if name:match("weight$") then
        zeros = zeros + p:eq(0):sum():item()
        total = total + p:numel()
        sq = sq + (p * p):sum():item()
      end
    end
    return zeros, total, math.sqrt(sq)
  end)
end

local function accuracy(model, d)
  model:eval()
  return ember.no_grad(function() return model(d.x):argmax(2):eq(d.y):sum():item() / d:size() end)
end

local results = {}
for _, reg in ipairs(cfg.reg) do
  if not METHODS[reg] then
    error(("regularization.lua: unknown reg '%s' (known: none, l2, decoupled, l1)"):format(reg), 0)
  end
  local run_cfg = {}
  for k, v in pairs(cfg) do run_cfg[k] = v end
  run_cfg.reg = reg
  local run = ember.run{name = "regularization", config = run_cfg}
  ember.manual_seed(cfg.seed)                          -- same initial weights and batch order for all
  local model = nn.Sequential{nn.Linear(64, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
                              nn.Linear(cfg.hidden, 10)}
  local opt = METHODS[reg](model)
  local t0 = ember.clock()
  local h = ember.fit{model = model, loss = "cross_entropy", optimizer = opt, train = train, valid = valid,
                      epochs = cfg.epochs, batch = cfg.batch, metrics = {"accuracy"}, run = run,
                      on_epoch = function(ctx)
                        local z, n, norm = weight_stats(ctx.model)
                        ctx.row.zeros, ctx.row.wnorm = z / n, norm
                      end}
  local z, n, norm = weight_stats(model)
  local last = h[#h]
  local r = {reg = reg, train_loss = last.train_loss, valid_loss = last.valid_loss, best = h.best,
             best_epoch = h.best_epoch, test_acc = accuracy(model, test), zeros = z, total = n, norm = norm,
             secs = ember.clock() - t0, dir = run.dir}
  run:set_meta{test_accuracy = r.test_acc, zero_weights = z, weights = n}
  results[#results + 1] = r
  run:finish()
end

print(("\nregularization: MLP 64-%d-%d-10 on %d training digits (%d valid, %d test), Adam lr %g, %d epochs, seed %d")
  :format(cfg.hidden, cfg.hidden, train:size(), valid:size(), test:size(), cfg.lr, cfg.epochs, cfg.seed))
print(("%-10s %11s %11s %17s %9s %9s %17s %6s"):format("reg", "train loss", "valid loss", "best valid@epoch",
  "test acc", "|w|", "exact zeros", "time"))
for _, r in ipairs(results) do
  print(("%-10s %11.4f %11.4f %11.4f@%-5d %8.2f%% %9.2f %8d (%4.1f%%) %5.1fs"):format(r.reg, r.train_loss,
    r.valid_loss, r.best, r.best_epoch, 100 * r.test_acc, r.norm, r.zeros, 100 * r.zeros / r.total, r.secs))
end
if #results > 0 then
  local dir = results[1].dir:match("^(.*)/[^/]*$")
  print(("runs in %s/; compare: ember plot %s --by reg --metric valid_loss,zeros"):format(dir, dir))
end
