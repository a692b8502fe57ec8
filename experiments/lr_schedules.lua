-- lr_schedules.lua: learning-rate schedules on the same model, weights and batches (same seed): constant,
-- step decay, cosine annealing, linear warmup then cosine, one-cycle, reduce-on-plateau; and a constant
-- learning rate that is too large, which diverges: that run is marked `diverged` (its loss became
-- infinite) and the script goes on with the next one.
--
--   ember run experiments/lr_schedules.lua                              # all seven, ~1 s on 2 cores
--   ember run experiments/lr_schedules.lua --set schedule=constant,cosine --set lr=0.05
--   ember plot runs/lr_schedules --by schedule --metric train_loss,lr --log-y
--   ember runs runs/lr_schedules                                        # the diverged run is listed as such
--
-- The model is the subject's Linear(10, 1) on the diabetes data with the MSE loss: a convex problem, so
-- what the schedules change is only how close SGD gets to the one best fit, not which fit it finds.
-- Features and target are standardised with the training set's statistics, so a loss of 0.48 means the
-- model leaves 48% of the target's variance unexplained (R^2 = 0.52). Every schedule starts from the same
-- base lr (`lr`) with SGD + momentum 0.9 and batches of 32. Schedules are stepped after the optimizer
-- (ember.fit does it): once per epoch, or once per batch for onecycle; plateau watches valid_loss.
-- With a constant lr the minibatch noise keeps SGD away from the best fit; the decaying schedules take
-- the noise away. Too large an lr makes the steps overshoot more every time: the loss grows
-- geometrically until it is infinite (on a cross-entropy classifier it would not: its gradients are
-- bounded, so a too-large lr there kills the ReLUs and leaves the loss stuck near log(10) instead).
local ember = require "ember"
local nn, optim, schedule = ember.nn, ember.optim, ember.schedule

local cfg = ember.config{
  schedule = {"constant", "step", "cosine", "warmup_cosine", "onecycle", "plateau", "diverge"},
  lr = 0.1,              -- base (peak) learning rate of every schedule
  diverge_lr = 0.5,      -- the constant learning rate of the `diverge` run
  warmup = 5,            -- warmup_cosine: epochs of linear warmup from lr/10
  epochs = 60,
  batch = 32,
  subset = 0,            -- training samples to use (0: all)
  seed = 1,
}

ember.manual_seed(cfg.seed)
local ds = ember.data.csv(ember.data.script_path("data/diabetes.csv"), {target = "target"})
local train, valid = ds:split(0.8)                          -- 354 / 88 patients
if cfg.subset > 0 then train = train:subset(math.min(cfg.subset, train:size())) end
local stats = train:standardize()
valid:standardize(stats)                                     -- the training set's statistics
local ym = train.y:mean():item()
local ys = ((train.y - ym) ^ 2):mean():sqrt():item()
train = ember.data.tensor_dataset(train.x, (train.y - ym) / ys)
valid = ember.data.tensor_dataset(valid.x, (valid.y - ym) / ys)
local steps_per_epoch = train:batch_count(cfg.batch)
local E = cfg.epochs

-- each schedule as a function of the optimizer; the lr at epoch 0 is cfg.lr unless said otherwise
local SCHEDULES = {
  constant = function() return nil end,
  step = function(opt)                               -- x0.1 after each third of the epochs
    return schedule.step{optimizer = opt, step_size = math.max(1, E // 3), gamma = 0.1}
  end,
  cosine = function(opt) return schedule.cosine{optimizer = opt, t_max = E} end,
  warmup_cosine = function(opt)                      -- lr/10 -> lr over `warmup` epochs, then cosine
    local w = math.min(cfg.warmup, E - 1)
    if w < 1 then return schedule.cosine{optimizer = opt, t_max = E} end
    return schedule.sequence{optimizer = opt, milestones = {w},
      {"linear", start_factor = 0.1, end_factor = 1, total_iters = w}, {"cosine", t_max = E - w}}
  end,
  onecycle = function(opt)                           -- per batch: lr/25 -> lr (30%) -> lr/25e4
    return schedule.onecycle{optimizer = opt, max_lr = cfg.lr, total_steps = E * steps_per_epoch}
  end,
  plateau = function(opt)                            -- x0.1 when valid_loss has not improved for 5 epochs
    return schedule.plateau{optimizer = opt, factor = 0.1, patience = 5}
  end,
  diverge = function() return nil end,               -- constant, at diverge_lr
}
for _, s in ipairs(cfg.schedule) do
  if not SCHEDULES[s] then
    local names = {}
    for k in pairs(SCHEDULES) do names[#names + 1] = k end
    table.sort(names)
    error(("lr_schedules.lua: unknown schedule '%s' (known: %s)"):format(s, table.concat(names, ", ")), 0)
  end
end

local results = {}
for _, s in ipairs(cfg.schedule) do
  local run_cfg = {}
  for k, v in pairs(cfg) do run_cfg[k] = v end
  run_cfg.schedule = s
  local run = ember.run{name = "lr_schedules", config = run_cfg}
  ember.manual_seed(cfg.seed)                        -- same initial weights and batch order for all
  local model = nn.Linear(10, 1)
  local opt = optim.sgd(model:parameters(), {lr = s == "diverge" and cfg.diverge_lr or cfg.lr, momentum = 0.9})
  local t0 = ember.clock()
  -- diverge = "return": a NaN/inf loss marks the run diverged and fit returns instead of raising
  local h = ember.fit{model = model, loss = "mse", optimizer = opt, schedule = SCHEDULES[s](opt),
                      train = train, valid = valid, epochs = E, batch = cfg.batch, run = run, diverge = "return"}
  local last, best = h[#h], nil
  for _, row in ipairs(h) do
    if row.valid_loss and (not best or row.valid_loss < best.valid_loss) then best = row end
  end
  results[#results + 1] = {name = s, status = h.status, epochs = last.epoch, last = last, best = best,
                           secs = ember.clock() - t0, dir = run.dir}
  run:finish()
end

print(("\nlr schedules, Linear(10, 1) on diabetes, MSE of the standardised target: %d training samples, %d epochs, SGD momentum 0.9, base lr %g, seed %d")
  :format(train:size(), E, cfg.lr, cfg.seed))
print(("%-14s %-9s %11s %10s %16s %9s %6s"):format("schedule", "status", "train loss", "valid loss",
  "best valid@epoch", "final lr", "time"))
for _, r in ipairs(results) do
  local l = r.last
  if r.status == "diverged" then
    print(("%-14s %-9s %11s %10s %16s %9g %5.1fs   (in epoch %d, step %d)"):format(r.name,
      r.status, tostring(l.train_loss), "-", "-", l.lr, r.secs, l.epoch, l.step))
  else
    print(("%-14s %-9s %11.4f %10.4f %10.4f@%-5d %9.2g %5.1fs"):format(r.name, r.status, l.train_loss,
      l.valid_loss, r.best.valid_loss, r.best.epoch, l.lr, r.secs))
  end
end
if #results > 0 then
  local dir = results[1].dir:match("^(.*)/[^/]*$")
  print(("runs in %s/; compare: ember plot %s --by schedule --metric train_loss,lr --log-y"):format(dir, dir))
end
