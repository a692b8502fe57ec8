"""lenet_torch.py - twin of lenet.lua: LeNet on Fashion-MNIST, cross entropy, SGD lr 0.01 momentum 0.9,
batch 64, training set in file order: seconds per epoch, test accuracy, peak RSS (VmHWM).
Run: /usr/bin/python3 bench/lenet_torch.py --threads 2 [--epochs N]"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from common_torch import (QUICK, accuracy, arg_int, fashion_mnist, result, status_kb,  # noqa: E402
                          threads_from_argv, train_size)

threads = threads_from_argv(2)
epochs = arg_int("epochs", 1)
xtr, ytr = fashion_mnist("train", train_size())
xte, yte = fashion_mnist("test", 2000 if QUICK else None)

nn = torch.nn
torch.manual_seed(1)
model = nn.Sequential(
    nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
    nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
    nn.Flatten(), nn.Linear(320, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
ce = torch.nn.functional.cross_entropy

times = []
n = xtr.shape[0]
for e in range(epochs):
    t0 = time.perf_counter()
    for i in range(0, n, 64):
        opt.zero_grad()
        last = ce(model(xtr[i:i + 64]), ytr[i:i + 64])
        last.backward()
        opt.step()
    times.append(time.perf_counter() - t0)
    if epochs > 1:
        result("test_acc_epoch%d" % (e + 1), accuracy(model, xte, yte))
train_hwm = status_kb("VmHWM")

result("threads", threads)
result("images", n)
result("epoch_s", times[0])
result("epoch_s_median", statistics.median(times))
result("train_gflops", 2.5e-3 * n / times[0])
result("last_loss", last.item())
result("test_acc", accuracy(model, xte, yte))
result("train_peak_rss_kb", train_hwm)
result("peak_rss_kb", status_kb("VmHWM"))
