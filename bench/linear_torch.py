"""linear_torch.py - twin of linear.lua: Linear(10, 1) on the standardized diabetes data (population
std, as ember's standardize), full batch, SGD lr 0.01, zero initial weights: optimizer steps per second
(zero_grad, forward, mse, backward, step). Run: /usr/bin/python3 bench/linear_torch.py --threads 1"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from common_torch import QUICK, result, status_kb, threads_from_argv  # noqa: E402

threads_from_argv(1)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
with open(os.path.join(root, "experiments", "data", "diabetes.csv")) as f:
    header = f.readline().strip().split(",")
    data = np.loadtxt(f, delimiter=",", dtype=np.float64)
t = header.index("target")
feats = np.delete(data, t, axis=1)
feats = (feats - feats.mean(0)) / feats.std(0)
x = torch.tensor(feats, dtype=torch.float32)
y = torch.tensor(data[:, t:t + 1], dtype=torch.float32)

model = torch.nn.Linear(10, 1)
with torch.no_grad():
    for p in model.parameters():
        p.zero_()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
mse = torch.nn.functional.mse_loss

steps = 2000 if QUICK else 20000


def train(n):
    for _ in range(n):
        opt.zero_grad()
        loss = mse(model(x), y)
        loss.backward()
        opt.step()
    return loss


warm = steps // 10
first = train(warm).item()
t0 = time.perf_counter()
last = train(steps - warm)
dt = time.perf_counter() - t0

result("steps", steps - warm)
result("seconds", dt)
result("steps_per_s", (steps - warm) / dt)
result("warm_loss", first)
result("final_loss", last.item())
result("rss_after_kb", status_kb("VmRSS"))
