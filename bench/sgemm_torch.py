"""sgemm_torch.py - twin of sgemm.lua: a 1024 x 1024 x 1024 float32 matmul in PyTorch on --threads T
intra-op threads: GFLOP/s of the median call. Run: /usr/bin/python3 bench/sgemm_torch.py --threads 1"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from common_torch import QUICK, result, threads_from_argv  # noqa: E402

threads = threads_from_argv(1)
n = 1024
reps = 5 if QUICK else 20
torch.manual_seed(1)
a, b = torch.randn(n, n), torch.randn(n, n)
for _ in range(3):
    a @ b

times = []
for _ in range(reps):
    t0 = time.perf_counter()
    c = a @ b
    times.append(time.perf_counter() - t0)
    del c
t = statistics.median(times)
result("threads", threads)
result("seconds", t)
result("gflops", 2 * n ** 3 / t / 1e9)
