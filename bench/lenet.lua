-- lenet.lua - LeNet (conv 1->10 k5, maxpool 2, relu, conv 10->20 k5, maxpool 2, relu, flatten,
-- linear 320->10) on Fashion-MNIST, cross entropy, SGD lr 0.01 momentum 0.9, batch 64, the training
-- set in file order (no shuffle: the same batches as the twin): seconds per epoch with the data in
-- memory, test accuracy after the last epoch, peak RSS of the whole process (VmHWM = ru_maxrss).
-- Twin: lenet_torch.py. Run: build/ember --threads 2 bench/lenet.lua [--epochs N]
local ember = require "ember"
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local nn, optim, loss = ember.nn, ember.optim, ember.loss

local epochs = C.arg_int("epochs", 1)

local train = C.fashion_mnist("train", C.train_size())
local test = C.fashion_mnist("test", C.quick and 2000 or nil)

ember.manual_seed(1)
local model = nn.Sequential{
  nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
  nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
  nn.Flatten(), nn.Linear(320, 10)}
local opt = optim.sgd(model:parameters(), {lr = 0.01, momentum = 0.9})

local times, last = {}, nil
for e = 1, epochs do
  local t0 = ember.clock()
  for x, y in train:batches(64) do
    opt:zero_grad()
    last = loss.cross_entropy(model(x), y)
    last:backward()
    opt:step()
  end
  times[e] = ember.clock() - t0
  if epochs > 1 then C.result("test_acc_epoch" .. e, C.accuracy(model, test)) end
end
local train_hwm = C.status_kb("VmHWM")

C.result("threads", C.threads())
C.result("images", train:size())
C.result("epoch_s", times[1])
C.result("epoch_s_median", C.median(times))
C.result("train_gflops", 2.5e-3 * train:size() / times[1])   -- 2.5 MFLOP per image (forward + backward)
C.result("last_loss", last:item())
C.result("test_acc", C.accuracy(model, test))
C.result("train_peak_rss_kb", train_hwm)
C.result("peak_rss_kb", C.status_kb("VmHWM"))
