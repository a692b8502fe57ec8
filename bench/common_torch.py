"""common_torch.py - helpers shared by the PyTorch twins of the benchmarks: result lines for
bench/run.lua, memory figures from /proc, quick mode, the thread setting and a Fashion-MNIST loader
reading the same IDX files as ember.data.fashion_mnist (same order, same [0, 1] scaling)."""
import gzip
import os
import struct
import sys

import numpy as np
import torch

QUICK = os.environ.get("BENCH_QUICK") == "1"
FMNIST_DIR = os.environ.get("EMBER_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def result(key, value):
    """One machine-readable line for the driver: result<TAB>key<TAB>value."""
    sys.stdout.write("result\t%s\t%s\n" % (key, value))
    sys.stdout.flush()


def status_kb(field):
    """The value in kB of a /proc/self/status line (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def threads_from_argv(default=1):
    """Reads --threads T from the command line and gives torch that many intra-op threads."""
    n = default
    if "--threads" in sys.argv:
        n = int(sys.argv[sys.argv.index("--threads") + 1])
    torch.set_num_threads(n)
    return n


def arg_int(name, default):
    """--name N from the command line, or default."""
    flag = "--" + name
    if flag in sys.argv:
        return int(sys.argv[sys.argv.index(flag) + 1])
    return default


def train_size():
    """How many training images the epoch benchmarks use (a subset in quick mode)."""
    n = os.environ.get("BENCH_TRAIN_N")
    if n:
        return int(n)
    return 6000 if QUICK else None


def _open(path):
    if os.path.exists(path + ".gz"):
        return gzip.open(path + ".gz", "rb")
    return open(path, "rb")


def fashion_mnist(split, n=None):
    """(x, y): x float32 (N, 1, 28, 28) in [0, 1], y int64 class indices 0..9, in file order."""
    prefix = os.path.join(FMNIST_DIR, "train" if split == "train" else "t10k")
    with _open(prefix + "-images-idx3-ubyte") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051, "not an IDX image file"
        pixels = np.frombuffer(f.read(), dtype=np.uint8).reshape(count, 1, rows, cols)
    with _open(prefix + "-labels-idx1-ubyte") as f:
        magic, count2 = struct.unpack(">II", f.read(8))
        assert magic == 2049 and count2 == count, "not a matching IDX label file"
        labels = np.frombuffer(f.read(), dtype=np.uint8)
    x = torch.from_numpy(pixels.copy()).float().div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    if n is not None and n < count:
        # views of the whole set, as ember's ds:subset(n): the same memory on both sides
        x, y = x[:n], y[:n]
    return x, y


def accuracy(model, x, y, batch=1000):
    """Fraction of (x, y) classified correctly, in eval mode without grad."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return correct / x.shape[0]
