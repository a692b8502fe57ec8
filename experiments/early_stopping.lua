-- early_stopping.lua: early stopping on a run that overfits (an MLP on 200 of the 8x8 digits, the
-- setting of regularization.lua): no stopping vs patience 5 vs patience 20 vs a min_delta vs
-- restore_best. One run per rule, same initial weights and batches; a stopped run has status
-- stopped-early and its best_epoch / stop_epoch in meta.tsv, which `ember plot` marks on the curves.
--
--   ember run experiments/early_stopping.lua                             # all five rules, ~5 s on 2 cores
--   ember run experiments/early_stopping.lua --set stop=none,restore_best
--   ember plot runs/early_stopping --by stop --metric valid_loss
--   ember runs runs/early_stopping                                       # status, best and last values
--
-- The rules (ember.stop.early, monitoring valid_loss; see RULES below to change them):
--   patience = k      stop after k epochs in a row without improvement (the counter persists across
--                     epochs and is reset only by an improvement)
--   min_delta = d     only a drop of more than d counts as an improvement
--   restore_best      on stopping, put back the weights of the best epoch (else the model keeps the
--                     weights of the last epoch, which are already k epochs past the best)
-- The test set is used once per rule, at the end, on the weights the run ends with.
local ember = require "ember"
local nn, optim = ember.nn, ember.optim

local cfg = ember.config{
  stop = {"none", "patience5", "patience20", "min_delta", "restore_best"},   -- one run per entry
  min_delta = 0.01,      -- the min_delta rule's threshold (valid_loss units)
  lr = 1e-3,             -- Adam
  train_size = 200,      -- training images (the rest: 400 validation, then test)
  hidden = 256,
  epochs = 150,
  batch = 32,
  seed = 1,
}

local RULES = {
  none = nil,
  patience5 = {patience = 5},
  patience20 = {patience = 20},
  min_delta = {patience = 5, min_delta = cfg.min_delta},
  restore_best = {patience = 20, restore_best = true},
}
local KNOWN = {none = true, patience5 = true, patience20 = true, min_delta = true, restore_best = true}

ember.manual_seed(cfg.seed)
local ds = ember.data.csv(ember.data.script_path("data/digits.csv"), {target = "label", classes = true})
ds = ember.data.tensor_dataset(ds.x / 16, ds.y)             -- pixel counts 0..16 -> [0, 1]
local train, rest = ds:split(cfg.train_size)
local valid, test = rest:split(400)

local function evaluate(model, d)
  model:eval()
  return ember.no_grad(function()
    local out = model(d.x)
    return out:argmax(2):eq(d.y):sum():item() / d:size(), ember.loss.cross_entropy(out, d.y):item()
  end)
end

local function describe(rule)
  if not rule then return "no early stopping" end
  local parts = {}
  for _, k in ipairs{"patience", "min_delta", "restore_best"} do
    if rule[k] ~= nil then parts[#parts + 1] = k .. " = " .. tostring(rule[k]) end
  end
  return table.concat(parts, ", ")
end

local results = {}
for _, name in ipairs(cfg.stop) do
  if not KNOWN[name] then
    error(("early_stopping.lua: unknown stop '%s' (known: none, patience5, patience20, min_delta, restore_best)")
      :format(name), 0)
  end
  local run_cfg = {}
  for k, v in pairs(cfg) do run_cfg[k] = v end
  run_cfg.stop = name
  local run = ember.run{name = "early_stopping", config = run_cfg}
  ember.manual_seed(cfg.seed)                          -- same initial weights and batch order for all
  local model = nn.Sequential{nn.Linear(64, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
                              nn.Linear(cfg.hidden, 10)}
  local opt = optim.adam(model:parameters(), {lr = cfg.lr})
  local rule = RULES[name]
  local stop
  if rule then
    local o = {monitor = "valid_loss"}
    for k, v in pairs(rule) do o[k] = v end
    stop = ember.stop.early(o)
  end
  local t0 = ember.clock()
  local h = ember.fit{model = model, loss = "cross_entropy", optimizer = opt, train = train, valid = valid,
                      epochs = cfg.epochs, batch = cfg.batch, metrics = {"accuracy"}, stop = stop, run = run}
  local acc, loss = evaluate(model, test)
  local vacc, vloss = evaluate(model, valid)
  local r = {name = name, rule = describe(rule), status = h.status, epochs = #h, best_epoch = stop and stop.best_epoch or h.best_epoch,
             valid_loss = vloss, valid_acc = vacc, test_acc = acc, test_loss = loss, secs = ember.clock() - t0,
             dir = run.dir}
  run:set_meta{test_accuracy = acc, test_loss = loss, final_valid_loss = vloss}
  results[#results + 1] = r
  run:finish()
end

print(("\nearly stopping: MLP 64-%d-%d-10 on %d training digits (%d valid, %d test), Adam lr %g, up to %d epochs, seed %d")
  :format(cfg.hidden, cfg.hidden, train:size(), valid:size(), test:size(), cfg.lr, cfg.epochs, cfg.seed))
print("valid and test columns are measured on the weights each run ends with")
print(("%-13s %-36s %-13s %6s %5s %10s %9s %9s %9s %6s"):format("stop", "rule", "status", "epochs", "best",
  "valid loss", "valid acc", "test loss", "test acc", "time"))
for _, r in ipairs(results) do
  print(("%-13s %-36s %-13s %6d %5d %10.4f %8.2f%% %9.4f %8.2f%% %5.1fs"):format(r.name, r.rule, r.status, r.epochs,
    r.best_epoch or 0, r.valid_loss, 100 * r.valid_acc, r.test_loss, 100 * r.test_acc, r.secs))
end
if #results > 0 then
  local dir = results[1].dir:match("^(.*)/[^/]*$")
  print(("runs in %s/; compare: ember plot %s --by stop --metric valid_loss"):format(dir, dir))
end
