#!/bin/sh
# fit_checkpoints.sh [EMBER] - what ember.fit's checkpoints cost on a real disk: a 100-epoch diabetes run
# (experiments/lr_schedules.lua with the cosine schedule: Linear(10, 1), SGD, batches of 32, validation
# every epoch) with its run directory on disk and on tmpfs (/dev/shm), run alternately, REPS times each
# (default 7). Prints every wall time, the median of each, and disk / tmpfs (issue 15's target: at most
# 1.3). A durable checkpoint is an fsync: on tmpfs it costs nothing, on a disk it waits for the device.
#   sh bench/fit_checkpoints.sh                 # build/ember
#   REPS=11 DISK_DIR=/var/tmp sh bench/fit_checkpoints.sh path/to/ember
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EMBER=${1:-$ROOT/build/ember}
REPS=${REPS:-7}
DISK=$(mktemp -d "${DISK_DIR:-$ROOT/bench}/fit_ckpt.XXXXXX")
SHM=$(mktemp -d /dev/shm/fit_ckpt.XXXXXX)
trap 'rm -rf "$DISK" "$SHM"' EXIT

one() {   # $1: the runs folder; prints the wall time in seconds
  t0=$(date +%s.%N)
  "$EMBER" --threads 1 run "$ROOT/experiments/lr_schedules.lua" --set schedule=cosine --set epochs=100 \
    --runs "$1" --quiet >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

: >"$SHM/disk.txt"
: >"$SHM/shm.txt"
i=0
while [ "$i" -lt "$REPS" ]; do
  one "$DISK/runs" >>"$SHM/disk.txt"
  one "$SHM/runs" >>"$SHM/shm.txt"
  i=$((i + 1))
done
d=$(median <"$SHM/disk.txt")
s=$(median <"$SHM/shm.txt")
echo "disk  ($DISK): $(tr '\n' ' ' <"$SHM/disk.txt")"
echo "tmpfs ($SHM): $(tr '\n' ' ' <"$SHM/shm.txt")"
printf 'median disk %.3f s, tmpfs %.3f s, disk / tmpfs %.2f\n' "$d" "$s" "$(echo "$d / $s" | bc -l)"
