"""probe_torch.py - tells bench/run.lua whether PyTorch imports here, its version and the OpenBLAS
kernel it would run (read from the loaded library with ctypes), as result lines."""
import ctypes
import sys

try:
    import torch
except Exception as e:  # noqa: BLE001 - any import failure means "no PyTorch here"
    sys.stderr.write("cannot import torch: %s\n" % e)
    sys.exit(1)

kernel = "unknown"
try:
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "openblas" in line and ".so" in line})
    for path in libs:
        lib = ctypes.CDLL(path)
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = ctypes.c_char_p
            kernel = lib.openblas_get_corename().decode()
            break
except OSError:
    pass
print("result\tversion\t%s" % torch.__version__)
print("result\tkernel\t%s" % kernel)
