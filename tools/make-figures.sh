#!/bin/sh
# make-figures.sh BUILD_DIR - regenerates the figures README.md shows (docs/figures/*.png): runs every
# experiment in its documented default setting into a fresh temporary runs folder, draws the figures
# with `ember plot` there, and copies the PNGs to docs/figures/ (the .gp and .dat files beside them are
# not kept). Prints each experiment's summary table and run time. Takes about 5 minutes on 2 cores,
# most of it the LeNet on Fashion-MNIST; FIGURES_QUICK=1 skips that one.
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
EMBER=$B/ember
OUT=docs/figures
if [ ! -x "$EMBER" ]; then echo "make-figures: $EMBER is missing (run make)" >&2; exit 1; fi
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "make-figures: gnuplot is missing: sudo apt-get install gnuplot-nox" >&2
  exit 1
fi
T=$(mktemp -d)
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
mkdir -p "$OUT" || exit 1
R=$T/runs
status=0

# run SCRIPT [ARGS...]: one experiment, timed
run() {
  echo "== ember run experiments/$*"
  script=$1; shift
  t0=$(date +%s)
  if ! "$EMBER" run "experiments/$script" "$@" --runs "$R" --quiet; then
    echo "make-figures: experiments/$script failed" >&2
    status=1
  fi
  echo "   ($(($(date +%s) - t0)) s)"
}

# fig NAME PLOT-ARGS...: ember plot into the temporary folder, then the PNG into docs/figures/NAME.png
fig() {
  name=$1; shift
  if "$EMBER" plot "$@" --out "$T/fig/$name.png" >/dev/null && cp "$T/fig/$name.png" "$OUT/$name.png"; then
    echo "   $OUT/$name.png"
  else
    echo "make-figures: ember plot $* failed" >&2
    status=1
  fi
}

# the run directories below DIR whose params.tsv has KEY = VALUE (NOT: whose value differs)
runs_where() {
  for d in "$1"/*/; do
    v=$(sed -n "s/^$2$(printf '\t')//p" "$d/params.tsv" 2>/dev/null)
    if [ "$4" = not ]; then [ "$v" != "$3" ] && echo "${d%/}"; else [ "$v" = "$3" ] && echo "${d%/}"; fi
  done
}
mkdir -p "$T/fig"

run optimizers.lua
fig optimizers "$R/optimizers" --by opt --metric train_loss,valid_loss --log-y

echo "== ember sweep experiments/optimizers.lua --grid opt=sgd,adam --seeds 3"
t0=$(date +%s)
"$EMBER" sweep experiments/optimizers.lua --grid opt=sgd,adam --seeds 3 --runs "$T/sweep" >/dev/null || status=1
echo "   ($(($(date +%s) - t0)) s)"
fig optimizers_sweep "$T/sweep/optimizers" --by opt --metric valid_loss,valid_accuracy \
  --title "sgd vs adam, 3 seeds each: mean and min-max band"

run regression_losses.lua
fig regression_synthetic "$R/regression_synthetic" --by loss --metric test_mse,test_mae --log-y
fig regression_diabetes "$R/regression_diabetes" --by loss --metric test_mse,test_mae

run classify_digits.lua
fig classify_digits "$R/classify_digits" --by smoothing --metric valid_nll,valid_confidence,valid_accuracy
if [ -z "$FIGURES_QUICK" ]; then
  run classify_digits.lua --set data=fashion
  fig classify_fashion "$R/classify_fashion" --by smoothing --metric valid_nll,valid_confidence,valid_accuracy
fi

run lr_schedules.lua
# shellcheck disable=SC2046 # run directories hold no spaces
fig lr_schedules $(runs_where "$R/lr_schedules" schedule diverge not) --by schedule \
  --metric train_loss,valid_loss,lr --log-y
fig lr_diverge "$R/lr_schedules" --by schedule --metric train_loss --log-y \
  --title "lr_schedules: the diverge run (lr 0.5) against the others (lr 0.1)"

run regularization.lua
fig regularization "$R/regularization" --by reg --metric valid_loss,zeros,wnorm

run early_stopping.lua
# the runs in the script's order, so the colours stay the same from one regeneration to the next
# shellcheck disable=SC2046
fig early_stopping $(for s in none patience5 patience20 min_delta restore_best; do
                       runs_where "$R/early_stopping" stop "$s"; done) --metric train_loss,valid_loss --log-y

exit $status
