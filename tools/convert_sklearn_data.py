#!/usr/bin/env python3
"""convert_sklearn_data.py - one-off converter of the two small real data sets ember ships
(experiments/data/diabetes.csv and digits.csv) from the raw files in Debian's python3-sklearn
package (sklearn/datasets/data/). It reads those files directly, without importing sklearn, and
keeps the values as they are there: the diabetes features unscaled, the digits pixels 0..16.

usage: tools/convert_sklearn_data.py [SKLEARN_DATA_DIR] [OUT_DIR]
"""
import gzip
import os
import sys

DEFAULT_SRC = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
DIABETES_COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"]


def read_lines(path):
    with gzip.open(path, "rt", encoding="ascii") as f:
        return [line.strip() for line in f if line.strip()]


def number_text(text):
    """'1.510000000000000000e+02' -> '151'; other values keep their shortest exact form"""
    v = float(text)
    return str(int(v)) if v.is_integer() else repr(v)


def diabetes(src, out):
    rows = [line.split() for line in read_lines(os.path.join(src, "diabetes_data_raw.csv.gz"))]
    target = [number_text(t) for t in read_lines(os.path.join(src, "diabetes_target.csv.gz"))]
    if len(rows) != 442 or len(target) != 442 or any(len(r) != 10 for r in rows):
        sys.exit("diabetes: expected 442 rows of 10 features and 442 targets")
    with open(os.path.join(out, "diabetes.csv"), "w", encoding="ascii", newline="\n") as f:
        f.write(",".join(DIABETES_COLUMNS) + "\n")
        for r, t in zip(rows, target):
            f.write(",".join([number_text(v) for v in r] + [t]) + "\n")


def digits(src, out):
    rows = [line.split(",") for line in read_lines(os.path.join(src, "digits.csv.gz"))]
    if len(rows) != 1797 or any(len(r) != 65 for r in rows):
        sys.exit("digits: expected 1797 rows of 64 pixels and a label")
    with open(os.path.join(out, "digits.csv"), "w", encoding="ascii", newline="\n") as f:
        f.write(",".join(["p%d" % i for i in range(1, 65)] + ["label"]) + "\n")
        for r in rows:
            values = [number_text(v) for v in r]
            if any(not 0 <= int(v) <= 16 for v in values[:64]) or not 0 <= int(values[64]) <= 9:
                sys.exit("digits: a pixel outside 0..16 or a label outside 0..9")
            f.write(",".join(values) + "\n")


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..",
                                                             "experiments", "data")
    os.makedirs(out, exist_ok=True)
    diabetes(src, out)
    digits(src, out)


if __name__ == "__main__":
    main()
