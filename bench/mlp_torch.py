"""mlp_torch.py - twin of mlp.lua: MLP 784-256-10 on Fashion-MNIST, cross entropy, Adam lr 1e-3,
batch 128, one epoch in file order: seconds per epoch, test accuracy, peak RSS.
Run: /usr/bin/python3 bench/mlp_torch.py --threads 2 [--epochs N]"""
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

torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
ce = torch.nn.functional.cross_entropy

times = []
n = xtr.shape[0]
for _ in range(epochs):
    t0 = time.perf_counter()
    for i in range(0, n, 128):
        opt.zero_grad()
        last = ce(model(xtr[i:i + 128]), ytr[i:i + 128])
        last.backward()
        opt.step()
    times.append(time.perf_counter() - t0)

result("threads", threads)
result("images", n)
result("epoch_s", times[0])
result("epoch_s_median", statistics.median(times))
result("last_loss", last.item())
result("test_acc", accuracy(model, xte, yte))
result("peak_rss_kb", status_kb("VmHWM"))
