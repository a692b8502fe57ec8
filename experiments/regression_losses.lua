-- regression_losses.lua: the subject's Linear(10, 1) trained with MSE, RMSE, MAE and Huber losses, on the
-- diabetes data and on synthetic data whose training set holds outliers; one run per (data, loss).
-- Every run reports the same yardsticks on held-out data: test MAE and test MSE in the target's units.
--
--   ember run experiments/regression_losses.lua                         # 2 data sets x 4 losses, ~1 s on 2 cores
--   ember run experiments/regression_losses.lua --set loss=huber --set data=diabetes
--   ember run experiments/regression_losses.lua --set outliers=0.3      # more outliers
--   ember plot runs/regression_synthetic --by loss --metric test_mse --log-y
--
-- Synthetic data: y = x w + b + noise (x ~ N(0, 1), 10 features) for `n` samples, of which the first 80%
-- train and the rest test. A fraction `outliers` of the training targets get an error of random sign
-- and size in [outlier_scale, 2 outlier_scale); the test targets are clean, so test error measures how
-- far the outliers pulled the fitted line. The truth w, b is known, so `w error` (the distance between
-- the fitted and the true weights) is printed too. Diabetes: a seeded 80/20 split, features
-- standardised with the training set's statistics.
-- Targets are standardised with the training set's mean and std for training (so one learning rate
-- suits every loss; huber's delta is in those units); the test metrics are back in the target's units.
-- Huber is quadratic for errors below delta and linear above, so delta should sit between the typical
-- error of a clean point and the size of an outlier: 0.2 standard deviations is 1.1 target units on the
-- synthetic data (2.2 times the noise; outliers are 10 to 20) and 15 units on diabetes. With delta = 1
-- (5.4 units) an outlier pulls about 10 times as hard as a clean point and huber lands halfway to MSE.
local ember = require "ember"
local nn, optim = ember.nn, ember.optim

local cfg = ember.config{
  data = {"synthetic", "diabetes"},    -- one group of runs per data set (run names regression_<data>)
  loss = {"mse", "rmse", "mae", "huber"},
  delta = 0.2,           -- huber's delta, in training-target standard deviations (see below)
  epochs = 100,
  lr = 0.02,             -- SGD with momentum 0.9, cosine-annealed to 0 so every loss settles
  batch = 32,
  n = 1000,              -- synthetic: samples (80% train, 20% test)
  noise = 0.5,           -- synthetic: std of the Gaussian noise
  outliers = 0.1,        -- synthetic: fraction of training targets that are outliers
  outlier_scale = 10.0,  -- synthetic: an outlier's error is in [outlier_scale, 2 outlier_scale)
  subset = 0,            -- training samples to use (0: all)
  seed = 1,
}

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local KNOWN = {mse = true, rmse = true, mae = true, huber = true}
for _, l in ipairs(cfg.loss) do
  if not KNOWN[l] then error(("regression_losses.lua: unknown loss '%s' (known: mse, rmse, mae, huber)"):format(l), 0) end
end

-- the rows first .. first + count - 1 of a dataset
local function rows(ds, first, count)
  return ember.data.tensor_dataset(ds.x:narrow(1, first, count):contiguous(), ds.y:narrow(1, first, count):contiguous())
end

-- returns train, test (targets in original units) and the truth {w, b} when known
local function load(name)
  ember.manual_seed(cfg.seed)
  if name == "synthetic" then
    local spec = {n = cfg.n, features = 10, noise = cfg.noise, outlier_scale = cfg.outlier_scale, seed = cfg.seed}
    local clean = ember.data.synthetic_regression(spec)
    spec.outliers = cfg.outliers
    -- the same seed draws the same x, w, b and noise; outliers are added on top of the clean targets
    local dirty = ember.data.synthetic_regression(spec)
    local ntrain = math.floor(0.8 * cfg.n)
    return rows(dirty, 1, ntrain), rows(clean, ntrain + 1, cfg.n - ntrain), {w = clean.w, b = clean.b}
  elseif name == "diabetes" then
    local ds = ember.data.csv(here .. "/data/diabetes.csv", {target = "target"})
    local train, test = ds:split(0.8)                       -- 354 / 88 patients
    local stats = train:standardize()
    test:standardize(stats)                                  -- the training set's statistics
    return train, test, nil
  end
  error(("regression_losses.lua: data must be synthetic or diabetes (got '%s')"):format(name), 0)
end

local LOSSES = {
  mse = function(out, y) return ember.loss.mse(out, y) end,
  rmse = function(out, y) return ember.loss.rmse(out, y) end,
  mae = function(out, y) return ember.loss.mae(out, y) end,
  huber = function(out, y) return ember.loss.huber(out, y, {delta = cfg.delta}) end,
}

local results = {}
for _, data in ipairs(cfg.data) do
  local train, test, truth = load(data)
  if cfg.subset > 0 then train = train:subset(math.min(cfg.subset, train:size())) end
  local ym, ys = train.y:mean():item(), nil
  ys = ((train.y - ym) ^ 2):mean():sqrt():item()
  local train_std = ember.data.tensor_dataset(train.x, (train.y - ym) / ys)

  for _, lname in ipairs(cfg.loss) do
    local run_cfg = {}
    for k, v in pairs(cfg) do run_cfg[k] = v end
    run_cfg.data, run_cfg.loss = data, lname
    local run = ember.run{name = "regression_" .. data, config = run_cfg}
    ember.manual_seed(cfg.seed)                        -- same initial weights and batches for every loss
    local model = nn.Linear(10, 1)
    local opt = optim.sgd(model:parameters(), {lr = cfg.lr, momentum = 0.9})
    local sched = ember.schedule.cosine{optimizer = opt, t_max = cfg.epochs}
    -- test MAE and MSE in the target's units, logged every epoch as test_mae and test_mse
    local function test_metrics()
      model:eval()
      local err = ember.no_grad(function() return model(test.x) * ys + ym - test.y end)
      return err:abs():mean():item(), (err ^ 2):mean():item()
    end
    local t0 = ember.clock()
    ember.fit{model = model, loss = LOSSES[lname], optimizer = opt, schedule = sched, train = train_std,
              epochs = cfg.epochs, batch = cfg.batch, run = run,
              on_epoch = function(ctx) ctx.row.test_mae, ctx.row.test_mse = test_metrics() end}
    local r = {data = data, loss = lname, secs = ember.clock() - t0, dir = run.dir}
    r.mae, r.mse = test_metrics()
    local meta = {test_mae = r.mae, test_mse = r.mse}
    if truth then                                    -- fitted weights in the target's units vs the truth
      local w = model.weight:detach():reshape(10, 1) * ys
      r.werr = ((w - truth.w) ^ 2):sum():sqrt():item()
      r.berr = math.abs(model.bias:item() * ys + ym - truth.b)
      meta.w_error, meta.b_error = r.werr, r.berr
    end
    run:set_meta(meta)
    results[#results + 1] = r
    run:finish()
  end
end

print(("\nLinear(10, 1), %d epochs, SGD lr %g momentum 0.9 + cosine, seed %d; synthetic: %d%% outliers of size %g..%g in training"):format(
  cfg.epochs, cfg.lr, cfg.seed, math.floor(100 * cfg.outliers + 0.5), cfg.outlier_scale, 2 * cfg.outlier_scale))
print(("%-10s %-6s %10s %11s %9s %9s %6s"):format("data", "loss", "test MAE", "test MSE", "w error", "b error", "time"))
for _, r in ipairs(results) do
  print(("%-10s %-6s %10.4f %11.4f %9s %9s %5.1fs"):format(r.data, r.loss, r.mae, r.mse,
    r.werr and ("%.4f"):format(r.werr) or "-", r.berr and ("%.4f"):format(r.berr) or "-", r.secs))
end
local seen = {}
for _, r in ipairs(results) do
  local dir = r.dir:match("^(.*)/[^/]*$")
  if not seen[dir] then
    seen[dir] = true
    print(("runs in %s/; compare: ember plot %s --by loss --metric test_mse --log-y"):format(dir, dir))
  end
end
