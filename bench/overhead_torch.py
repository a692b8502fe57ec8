"""overhead_torch.py - twin of overhead.lua: 1,000,000 additions of two 1-element tensors from Python
(both `torch.add(a, b)` and `a + b`; the faster counts), timed inside the process, RSS before/during/after.
Run: /usr/bin/python3 bench/overhead_torch.py --threads 1"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from common_torch import QUICK, result, status_kb, threads_from_argv  # noqa: E402

threads_from_argv(1)
n = 100000 if QUICK else 1000000
a, b = torch.tensor([1.5]), torch.tensor([2.25])
for _ in range(10000):
    c = a + b

# torch.add(a, b) skips the operator dispatch through Tensor.__add__; time both spellings and keep
# the faster, so PyTorch is measured in its best form
t0 = time.perf_counter()
for _ in range(n):
    c = torch.add(a, b)
dt_add = time.perf_counter() - t0
assert c.item() == 3.75

rss_before = status_kb("VmRSS")
rss_max = rss_before
chunk = n // 10
t0 = time.perf_counter()
for _ in range(10):
    for _ in range(chunk):
        c = a + b
    r = status_kb("VmRSS")
    if r and r > rss_max:
        rss_max = r
dt_op = time.perf_counter() - t0
rss_after = status_kb("VmRSS")
assert c.item() == 3.75
dt = min(dt_add, dt_op)
result("form", "torch.add" if dt_add < dt_op else "a+b")

result("ops", n)
result("seconds", dt)
result("ops_per_s", n / dt)
result("rss_before_kb", rss_before)
result("rss_max_kb", rss_max)
result("rss_after_kb", rss_after)
