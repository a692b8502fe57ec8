-- mlp.lua - an MLP 784-256-10 (flatten, linear, relu, linear) on Fashion-MNIST, cross entropy, Adam
-- lr 1e-3, batch 128, one epoch over the training set in file order (no shuffle, the same batches as
-- the twin): seconds per epoch (data already in memory), then test accuracy and peak RSS.
-- Twin: mlp_torch.py. Run: build/ember --threads 2 bench/mlp.lua [--epochs N]
local ember = require "ember"
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local nn, optim, loss = ember.nn, ember.optim, ember.loss

local epochs = C.arg_int("epochs", 1)

local train = C.fashion_mnist("train", C.train_size())
local test = C.fashion_mnist("test", C.quick and 2000 or nil)

ember.manual_seed(1)
local model = nn.Sequential{nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)}
local opt = optim.adam(model:parameters(), {lr = 1e-3})

local times, last = {}, nil
for e = 1, epochs do
  local t0 = ember.clock()
  for x, y in train:batches(128) do
    opt:zero_grad()
    last = loss.cross_entropy(model(x), y)
    last:backward()
    opt:step()
  end
  times[e] = ember.clock() - t0
end

C.result("threads", C.threads())
C.result("images", train:size())
C.result("epoch_s", times[1])
C.result("epoch_s_median", C.median(times))
C.result("last_loss", last:item())
C.result("test_acc", C.accuracy(model, test))
C.result("peak_rss_kb", C.status_kb("VmHWM"))
