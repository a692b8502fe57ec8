#!/bin/sh
# weights_interop.sh [EMBER] - PyTorch and NumPy read the weights ember writes: ember builds the subject's
# LeNet (with a BatchNorm2d, for buffers) on a fixed seed, writes its state_dict with save_safetensors and
# save_npz, and its output on a batch of 8 Fashion-MNIST-sized inputs; then PyTorch (Debian's
# python3-torch, through /usr/bin/python3) builds the same network, loads each file (npz with
# numpy.load, safetensors with safetensors.torch when installed, else a reader of the format's header
# written from its specification), and prints the largest difference between its output and ember's.
# Not a speed benchmark: a check that the files mean the same thing on both sides.
#   sh bench/weights_interop.sh
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EMBER=${1:-$ROOT/build/ember}
PY=${BENCH_PYTHON:-/usr/bin/python3}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

"$EMBER" -e '
local nn, dir = ember.nn, arg[1]
ember.manual_seed(11)
local m = nn.Sequential{nn.Conv2d(1, 10, 5), nn.BatchNorm2d(10), nn.MaxPool2d(2), nn.ReLU(),
  nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(320, 10)}
-- a few training-mode passes, so the batch-norm buffers hold something other than their start values
for _ = 1, 3 do m(ember.randn(16, 1, 28, 28)) end
m:eval()
local x = ember.randn(8, 1, 28, 28)
local y = ember.no_grad(function() return m(x) end)
ember.save_safetensors(dir .. "/lenet.safetensors", m:state_dict())
ember.save_npz(dir .. "/lenet.npz", m:state_dict())
ember.save_npz(dir .. "/io.npz", {x = x, y = y})
' "$DIR"

"$PY" - "$DIR" <<'EOF'
import json, struct, sys
import numpy as np
import torch

d = sys.argv[1]

def read_safetensors(path):
    try:
        from safetensors.torch import load_file
        return load_file(path), "safetensors.torch"
    except ImportError:
        b = open(path, "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        header = json.loads(b[8:8 + n])
        header.pop("__metadata__", None)
        out = {}
        for name, info in header.items():
            assert info["dtype"] == "F32"
            lo, hi = info["data_offsets"]
            a = np.frombuffer(b[8 + n + lo:8 + n + hi], dtype="<f4").reshape(info["shape"])
            out[name] = torch.from_numpy(a.copy())
        return out, "the format's specification"

def torch_names(sd):
    # ember numbers a Sequential's modules from 1, PyTorch from 0
    return {str(int(k.split(".", 1)[0]) - 1) + "." + k.split(".", 1)[1]: v for k, v in sd.items()}

io = np.load(d + "/io.npz")
x, y = torch.from_numpy(io["x"]), io["y"]
for name, (sd, how) in [("npz", ({k: torch.from_numpy(v) for k, v in np.load(d + "/lenet.npz").items()}, "numpy.load")),
                        ("safetensors", read_safetensors(d + "/lenet.safetensors"))]:
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 10, 5), torch.nn.BatchNorm2d(10), torch.nn.MaxPool2d(2), torch.nn.ReLU(),
                            torch.nn.Conv2d(10, 20, 5), torch.nn.MaxPool2d(2), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(320, 10))
    m.load_state_dict(torch_names(sd))
    m.eval()
    with torch.no_grad():
        diff = float(np.abs(m(x).numpy() - y).max())
    print("%-12s read by %-27s %d tensors, max |torch - ember| = %.3g" % (name, how, len(sd), diff))
    assert diff < 1e-4, "outputs differ"
print("ok: PyTorch computes ember's outputs from both files")
EOF
