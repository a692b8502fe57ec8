#!/bin/sh
# make-figures.sh BUILD_DIR - regenerates the figures README.md shows (docs/figures/*.png): runs every
# experiment in its documented default setting in a fresh temporary folder (so its runs land in runs/
# there, as they would for a user), draws each figure with the very `ember plot` command that README.md
# and experiments/README.md print beside it (tests/lua/plot_spec.lua checks that they print it), and
# copies the PNGs to docs/figures/ (the .gp and .dat files beside them are not kept). Prints each
# experiment's summary table and run time. Takes about 5 minutes on 2 cores, most of it the LeNet on
# Fashion-MNIST; FIGURES_QUICK=1 skips that one.
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
case $B in /*) EMBER=$B/ember ;; *) EMBER=$ROOT/$B/ember ;; esac
OUT=$ROOT/docs/figures
if [ ! -x "$EMBER" ]; then echo "make-figures: $EMBER is missing (run make)" >&2; exit 1; fi
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "make-figures: gnuplot is missing: sudo apt-get install gnuplot-nox" >&2
  exit 1
fi
T=$(mktemp -d)
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
mkdir -p "$OUT" "$T/fig" || exit 1
cd "$T" || exit 1
status=0

# ember run|sweep experiments/SCRIPT [ARGS...]: one experiment (or sweep), as a user types it, timed
ember() {
  cmd=$1 script=$2; shift 2
  echo "== ember $cmd $script $*"
  t0=$(date +%s)
  if [ "$cmd" = run ]; then set -- "$@" --quiet; fi
  if ! "$EMBER" "$cmd" "$ROOT/$script" "$@" >"$T/last.log" 2>&1; then
    cat "$T/last.log"
    echo "make-figures: ember $cmd $script failed" >&2
    status=1
  elif [ "$cmd" = run ]; then
    cat "$T/last.log"
  fi
  echo "   ($(($(date +%s) - t0)) s)"
}

# fig NAME ember plot ARGS...: the figure docs/figures/NAME.png, drawn by that command
fig() {
  name=$1; shift 3
  if "$EMBER" plot "$@" --out "$T/fig/$name.png" >/dev/null && cp "$T/fig/$name.png" "$OUT/$name.png"; then
    echo "   docs/figures/$name.png"
  else
    echo "make-figures: ember plot $* failed" >&2
    status=1
  fi
}

ember run experiments/optimizers.lua
fig optimizers ember plot runs/optimizers --by opt --metric train_loss,valid_loss --log-y

ember sweep experiments/optimizers.lua --grid opt=sgd,adam --seeds 3
fig optimizers_sweep ember plot runs/optimizers --match 'opt=*' --by opt --metric valid_loss,valid_accuracy

ember run experiments/regression_losses.lua
fig regression_synthetic ember plot runs/regression_synthetic --by loss --metric test_mse,test_mae --log-y
fig regression_diabetes ember plot runs/regression_diabetes --by loss --metric test_mse,test_mae

ember run experiments/classify_digits.lua
fig classify_digits ember plot runs/classify_digits --by smoothing --metric valid_nll,valid_confidence,valid_accuracy
if [ -z "$FIGURES_QUICK" ]; then
  ember run experiments/classify_digits.lua --set data=fashion
  fig classify_fashion ember plot runs/classify_fashion --by smoothing --metric valid_nll,valid_confidence,valid_accuracy
fi

ember run experiments/lr_schedules.lua
fig lr_schedules ember plot runs/lr_schedules --by schedule --where 'status!=diverged' --metric train_loss,valid_loss,lr --log-y
fig lr_diverge ember plot runs/lr_schedules --by schedule --metric train_loss --log-y

ember run experiments/regularization.lua
fig regularization ember plot runs/regularization --by reg --metric valid_loss,zeros,wnorm

ember run experiments/early_stopping.lua
fig early_stopping ember plot runs/early_stopping --metric train_loss,valid_loss --log-y

exit $status
