#!/usr/bin/env python3
"""make_weight_fixtures.py - one-off writer of the reference files in tests/data/weights/, against which
ember's safetensors and npz readers and writers are tested. Run it by hand with Debian's python3-numpy
(/usr/bin/python3); the tests never run Python, they read the committed files.

  numpy_savez.npz             np.savez: float32 arrays, stored (zip64 local extras, as numpy writes them)
  numpy_savez_compressed.npz  np.savez_compressed: deflated members of float64, float16, int64, uint8,
                              bool and a Fortran-order float32 array
  numpy_weight.npy            np.save of the float32 (2, 3) array also in numpy_savez.npz: the bytes an
                              npz member of ember must hold
  reference.safetensors       written by the rules of the safetensors reference implementation
                              (huggingface/safetensors, safetensors/src/tensor.rs `prepare`): tensors
                              sorted by name (equal dtypes), "__metadata__" first, compact JSON as
                              serde_json writes it, spaces padding the header to a multiple of 8 bytes.
                              Its single-tensor case reproduces the byte list in that project's
                              test_serialization, checked below.

usage: /usr/bin/python3 tools/make_weight_fixtures.py [OUT_DIR]
"""
import json
import os
import struct
import sys

import numpy as np

WEIGHT = np.arange(6, dtype=np.float32).reshape(2, 3) / np.float32(4) - np.float32(0.5)
BIAS = np.array([1.5, -2.25], dtype=np.float32)
SCALAR = np.array(3.0, dtype=np.float32)


def safetensors_bytes(tensors, metadata=None):
    """tensors: {name: float32 array}; the bytes the reference serializer writes for them"""
    header, data, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in sorted(tensors, key=lambda s: s.encode("utf-8")):
        a = np.array(tensors[name], dtype="<f4", order="C")   # keeps 0-d arrays 0-d
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "weights")
    os.makedirs(out, exist_ok=True)
    # the reference project's own test vector: attn.0, F32, shape [1, 2, 3], values 0..5
    vec = safetensors_bytes({"attn.0": np.arange(6, dtype=np.float32).reshape(1, 2, 3)})
    assert list(vec[:8]) == [64, 0, 0, 0, 0, 0, 0, 0] and vec[8:72].rstrip(b" ").endswith(b"[0,24]}}"), vec
    assert vec[-24:] == np.arange(6, dtype="<f4").tobytes()
    # and its two empty-file vectors (test_empty)
    assert safetensors_bytes({}) == b"\x08" + bytes(7) + b"{}" + b" " * 6
    assert safetensors_bytes({}, {"framework": "pt"}) == b"(" + bytes(7) + b'{"__metadata__":{"framework":"pt"}}' + b" " * 5
    with open(os.path.join(out, "reference.safetensors"), "wb") as f:
        f.write(safetensors_bytes({"fc.weight": WEIGHT, "fc.bias": BIAS, "n\u00e9\"q": SCALAR},
                                  {"format": "pt"}))
    np.savez(os.path.join(out, "numpy_savez.npz"), **{"fc.weight": WEIGHT, "fc.bias": BIAS, "scalar": SCALAR})
    np.save(os.path.join(out, "numpy_weight.npy"), WEIGHT)
    np.savez_compressed(os.path.join(out, "numpy_savez_compressed.npz"),
                        f8=np.array([[1.0, -2.5], [1e-3, 4.0]]),
                        f2=np.array([0.5, -1.0, 65504.0], dtype=np.float16),
                        i8=np.array([-3, 0, 7], dtype=np.int64),
                        u1=np.array([0, 255], dtype=np.uint8),
                        b1=np.array([True, False]),
                        fortran=np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))


if __name__ == "__main__":
    main()
