#!/bin/sh
# run.sh [BUILD_DIR] - `make bench`: ember's benchmarks side by side with their PyTorch twins, a table of
# ratios on stdout and every figure in bench/results.tsv. The work is done by bench/run.lua, run by the
# ember just built. Installs nothing: without PyTorch it says how to get it and prints ember's figures.
# Environment: BENCH_QUICK=1 (smoke run), BENCH_REPS=N, BENCH_ONLY=overhead,sgemm,linear,mlp,lenet,profile,
# BENCH_EPOCHS=N, BENCH_PYTHON (default /usr/bin/python3), BENCH_PERF=0 (no perf in the profile),
# BENCH_TORCH_ENV="VAR=value ..." (more environment for the PyTorch runs).
B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT" || exit 1
if [ ! -x "$B/ember" ]; then
  echo "bench: $B/ember is not built; run 'make' first (or 'make bench', which builds it)" >&2
  exit 1
fi
exec "$B/ember" bench/run.lua "$B"
