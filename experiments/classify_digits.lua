-- classify_digits.lua: image classification with cross-entropy, with and without label smoothing.
-- The subject's LeNet on Fashion-MNIST (data=fashion), or a smaller CNN of the same shape on the shipped
-- 8x8 handwritten digits (data=digits, the default, so it is fast). One run per smoothing value.
--
--   ember run experiments/classify_digits.lua                                  # digits, ~3 s on 2 cores
--   ember run experiments/classify_digits.lua --set data=fashion               # LeNet, 1-3 min
--                                                          (runs in runs/classify_fashion/)
--   ember run experiments/classify_digits.lua --set smoothing=0,0.05,0.2
--   ember plot runs/classify_digits --by smoothing --metric valid_nll,valid_accuracy
--   ember eval runs/classify_digits/<run> --data digits      # confusion matrix, per-class F1, heatmap
--
-- Label smoothing trains against targets (1 - s) on the true class plus s / C spread over all classes,
-- so the loss logged as train_loss/valid_loss differs between runs and is not comparable. Every run
-- therefore also logs `nll` (plain cross-entropy) and `confidence` (the mean top softmax probability):
-- confidence above accuracy means the model is over-confident. The test set is used once, at the end.
local ember = require "ember"
local nn, optim = ember.nn, ember.optim

local cfg = ember.config{
  data = "digits",           -- digits (8x8, 1,797 images) or fashion (28x28, 60k + 10k images)
  smoothing = {0, 0.1},      -- label_smoothing of cross_entropy: one run per value
  epochs = 0,                -- 0: 40 for digits, 10 for fashion
  lr = 0.05,                 -- SGD with momentum 0.9
  batch = 64,
  subset = 0,                -- training samples to use (0: all)
  seed = 1,
}

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
ember.manual_seed(cfg.seed)
local train, valid, test, make_model, epochs, input
if cfg.data == "digits" then
  -- 60 / 20 / 20 split of the 1,797 images; pixel counts 0..16 scaled to [0, 1], shaped (N, 1, 8, 8)
  local ds = ember.data.csv(here .. "/data/digits.csv", {target = "label", classes = true})
  ds = ember.data.tensor_dataset((ds.x / 16):reshape(-1, 1, 8, 8), ds.y, {classes = ds.classes})
  input = {scale = 1 / 16, shape = {1, 8, 8}}   -- recorded in the checkpoints, for `ember eval`
  train, valid = ds:split({0.6, 0.4})
  valid, test = valid:split(0.5)
  epochs = cfg.epochs > 0 and cfg.epochs or 40
  make_model = function()
    return nn.Sequential{
      nn.Conv2d(1, 16, 3, {padding = 1}), nn.MaxPool2d(2), nn.ReLU(),    -- 16 x 4 x 4
      nn.Conv2d(16, 32, 3, {padding = 1}), nn.MaxPool2d(2), nn.ReLU(),   -- 32 x 2 x 2
      nn.Flatten(), nn.Linear(128, 10)}
  end
elseif cfg.data == "fashion" then
  train, valid = ember.data.fashion_mnist("train"):split(55000)   -- 55,000 / 5,000
  test = ember.data.fashion_mnist("test")
  epochs = cfg.epochs > 0 and cfg.epochs or 10
  make_model = function()   -- the subject's LeNet
    return nn.Sequential{
      nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
      nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
      nn.Flatten(), nn.Linear(320, 10)}
  end
else
  error(("classify_digits.lua: data must be digits or fashion (got '%s')"):format(cfg.data), 0)
end
if cfg.subset > 0 then train = train:subset(math.min(cfg.subset, train:size())) end

-- metrics comparable across smoothing values; a metric function returns the batch mean
local metrics = {"accuracy",
  nll = function(out, y) return ember.loss.cross_entropy(out, y):item() end,
  confidence = function(out) return out:softmax(2):max(2):mean():item() end}

-- accuracy, nll and confidence of a model on a dataset, in eval mode without gradients
local function evaluate(model, ds)
  model:eval()
  return ember.no_grad(function()
    local acc, nll, conf, n = 0, 0, 0, 0
    for x, y in ds:batches(500) do
      local out = model(x)
      local b = x:shape()[1]
      acc = acc + out:argmax(2):eq(y):sum():item()
      nll = nll + ember.loss.cross_entropy(out, y, {reduction = "sum"}):item()
      conf = conf + out:softmax(2):max(2):sum():item()
      n = n + b
    end
    return {accuracy = acc / n, nll = nll / n, confidence = conf / n}
  end)
end

local results = {}
for _, s in ipairs(cfg.smoothing) do
  local run_cfg = {}
  for k, v in pairs(cfg) do run_cfg[k] = v end
  run_cfg.smoothing = s
  -- runs/classify_digits/ or runs/classify_fashion/, so each folder compares runs on one data set
  local run = ember.run{name = "classify_" .. cfg.data, config = run_cfg}
  ember.manual_seed(cfg.seed)                          -- same initial weights and batches for every s
  local model = make_model()
  local opt = optim.sgd(model:parameters(), {lr = cfg.lr, momentum = 0.9})
  local t0 = ember.clock()
  ember.fit{model = model, optimizer = opt, train = train, valid = valid, epochs = epochs, batch = cfg.batch,
            loss = function(out, y) return ember.loss.cross_entropy(out, y, {label_smoothing = s}) end,
            metrics = metrics, run = run, input = input}
  local r = evaluate(model, test)
  r.smoothing, r.secs, r.dir = s, ember.clock() - t0, run.dir
  run:set_meta{test_accuracy = r.accuracy, test_nll = r.nll, test_confidence = r.confidence}
  results[#results + 1] = r
  run:finish()
end

print(("\n%s: %d training, %d validation, %d test images, %d epochs, seed %d")
  :format(cfg.data, train:size(), valid:size(), test:size(), epochs, cfg.seed))
print(("%-10s %9s %9s %11s %11s %7s"):format("smoothing", "test acc", "test nll", "confidence", "conf - acc",
  "time"))
for _, r in ipairs(results) do
  print(("%-10g %8.2f%% %9.4f %10.2f%% %+10.2f%% %6.1fs"):format(r.smoothing, 100 * r.accuracy, r.nll,
    100 * r.confidence, 100 * (r.confidence - r.accuracy), r.secs))
end
if #results > 0 then
  local dir = results[1].dir:match("^(.*)/[^/]*$")
  print(("runs in %s/; compare: ember plot %s --by smoothing --metric valid_nll,valid_confidence"):format(dir, dir))
end
