"""scaling_torch.py - twin of scaling.lua: per-step time of one training workload (lenet64, lenet512,
mlp1024, mlp128) at --threads T, measured in process after a warm-up, on consecutive batches of
Fashion-MNIST's training set. Run: /usr/bin/python3 bench/scaling_torch.py lenet512 --threads 4 [--steps N]"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from common_torch import QUICK, arg_int, fashion_mnist, result, threads_from_argv  # noqa: E402

WORKLOADS = {"lenet64": ("lenet", 64), "lenet512": ("lenet", 512), "mlp1024": ("mlp", 1024),
             "mlp128": ("mlp", 128)}
PER_STEP_S = {"lenet64": 4e-3, "lenet512": 30e-3, "mlp1024": 6e-3, "mlp128": 1e-3}
name = next((a for a in sys.argv[1:] if a in WORKLOADS), "")
if not name:
    sys.exit("scaling_torch.py: give a workload: lenet64, lenet512, mlp1024 or mlp128 (got %r)" % sys.argv[1:])
net, batch = WORKLOADS[name]
threads = threads_from_argv(1)
steps = arg_int("steps", max(10, int((0.3 if QUICK else 1.5) / PER_STEP_S[name])))

nn = torch.nn
torch.manual_seed(1)
if net == "lenet":
    model = nn.Sequential(
        nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(320, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
else:
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
xtr, ytr = fashion_mnist("train")
# the test set too, as a training script (and the epoch benchmarks) load it: without it, glibc's malloc
# keeps serving PyTorch's per-step buffers from fresh mmap()s (its mmap threshold is raised only when a
# large block is freed), which made the MLP's step 4-5x slower
xte, yte = fashion_mnist("test")
batches = [(xtr[i:i + batch], ytr[i:i + batch]) for i in range(0, xtr.shape[0] - batch + 1, batch)]
ce = torch.nn.functional.cross_entropy
at = -1


def step():
    global at
    at = (at + 1) % len(batches)
    x, y = batches[at]
    opt.zero_grad()
    loss = ce(model(x), y)
    loss.backward()
    opt.step()


for _ in range(max(5, steps // 10)):
    step()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
result("threads", threads)
result("steps", steps)
result("step_ms", 1e3 * statistics.median(times))
