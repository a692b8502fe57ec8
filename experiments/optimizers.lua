-- optimizers.lua: SGD vs momentum vs Nesterov vs Adam vs AdamW vs RMSprop on the same model, the same
-- initial weights and the same batches (same seed), one run each, so one command shows the comparison.
--
--   ember run experiments/optimizers.lua                          # all six, 8x8 digits, ~1 s on 2 cores
--   ember run experiments/optimizers.lua --set opt=sgd,adam       # a subset of them
--   ember run experiments/optimizers.lua --set data=fashion --set epochs=5   # Fashion-MNIST instead
--   ember plot runs/optimizers --by opt --metric valid_loss,valid_accuracy
--   ember sweep experiments/optimizers.lua --grid opt=sgd,adam --seeds 3
--
-- Each optimizer gets its usual learning rate (LR below) unless `--set lr=...` gives one for all.
-- The model is a small MLP (64 -> hidden -> 10 for digits, 784 -> hidden -> 10 for Fashion-MNIST).
local ember = require "ember"
local nn, optim = ember.nn, ember.optim

local cfg = ember.config{
  opt = {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"},   -- one run per entry
  data = "digits",    -- digits (shipped 8x8 handwritten digits) or fashion (Fashion-MNIST, 28x28)
  lr = 0.0,           -- 0: each optimizer's usual lr (LR below); any other value is used for all
  epochs = 20,
  batch = 32,
  hidden = 64,
  weight_decay = 0.0, -- for every optimizer but adamw (adamw: decoupled 1e-2, its default)
  subset = 0,         -- training samples to use (0: all)
  seed = 1,
}

-- the usual learning rates: plain SGD needs a large one, momentum's velocity multiplies it by ~1/(1-0.9)
local LR = {sgd = 0.05, momentum = 0.05, nesterov = 0.05, adam = 1e-3, adamw = 1e-3, rmsprop = 1e-3}

local function make_optimizer(name, params, lr)
  local wd = cfg.weight_decay
  if name == "sgd" then return optim.sgd(params, {lr = lr, weight_decay = wd})
  elseif name == "momentum" then return optim.sgd(params, {lr = lr, momentum = 0.9, weight_decay = wd})
  elseif name == "nesterov" then
    return optim.sgd(params, {lr = lr, momentum = 0.9, nesterov = true, weight_decay = wd})
  elseif name == "adam" then return optim.adam(params, {lr = lr, weight_decay = wd})
  elseif name == "adamw" then return optim.adamw(params, {lr = lr})
  elseif name == "rmsprop" then return optim.rmsprop(params, {lr = lr, weight_decay = wd})
  end
  error(("optimizers.lua: unknown opt '%s' (known: sgd, momentum, nesterov, adam, adamw, rmsprop)"):format(name), 0)
end

-- data: the shipped digits are read relative to this script, so any working directory works
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
ember.manual_seed(cfg.seed)
local train, valid, features
if cfg.data == "digits" then
  local ds = ember.data.csv(here .. "/data/digits.csv", {target = "label", classes = true})
  ds = ember.data.tensor_dataset(ds.x / 16, ds.y)          -- pixel counts 0..16 -> [0, 1]
  train, valid = ds:split(0.8)                              -- 1438 / 359 images
  features = 64
elseif cfg.data == "fashion" then
  train, valid = ember.data.fashion_mnist("train"), ember.data.fashion_mnist("test")
  features = 784
else
  error(("optimizers.lua: data must be digits or fashion (got '%s')"):format(cfg.data), 0)
end
if cfg.subset > 0 then train = train:subset(math.min(cfg.subset, train:size())) end

local results = {}
for _, name in ipairs(cfg.opt) do
  local run_cfg = {}
  for k, v in pairs(cfg) do run_cfg[k] = v end
  run_cfg.opt = name                                   -- params.tsv records this run's optimizer
  -- runs/optimizers/ for the digits, runs/optimizers_fashion/ for Fashion-MNIST
  local run = ember.run{name = cfg.data == "digits" and "optimizers" or "optimizers_" .. cfg.data, config = run_cfg}
  ember.manual_seed(cfg.seed)                          -- same initial weights, same batch order
  local model = nn.Sequential{nn.Flatten(), nn.Linear(features, cfg.hidden), nn.ReLU(),
                              nn.Linear(cfg.hidden, 10)}
  local lr = cfg.lr > 0 and cfg.lr or LR[name] or 0.01
  local opt = make_optimizer(name, model:parameters(), lr)
  local t0 = ember.clock()
  local h = ember.fit{model = model, loss = "cross_entropy", optimizer = opt, train = train, valid = valid,
                      epochs = cfg.epochs, batch = cfg.batch, metrics = {"accuracy"}, run = run}
  local last = h[#h]
  results[#results + 1] = {name = name, lr = lr, loss = last.valid_loss, acc = last.valid_accuracy,
                           best = h.best, best_epoch = h.best_epoch, secs = ember.clock() - t0, dir = run.dir}
  run:finish()
end

print(("\noptimizers on %s: %d training samples, %d epochs, batch %d, seed %d")
  :format(cfg.data, train:size(), cfg.epochs, cfg.batch, cfg.seed))
print(("%-9s %8s %11s %10s %16s %7s"):format("opt", "lr", "valid loss", "valid acc", "best loss@epoch", "time"))
for _, r in ipairs(results) do
  print(("%-9s %8g %11.4f %9.2f%% %10.4f@%-5d %6.1fs"):format(r.name, r.lr, r.loss, 100 * r.acc, r.best,
    r.best_epoch or 0, r.secs))
end
if #results > 0 then
  print(("runs in %s/; compare: ember plot %s --by opt"):format(results[1].dir:match("^(.*)/[^/]*$"),
    results[1].dir:match("^(.*)/[^/]*$")))
end
