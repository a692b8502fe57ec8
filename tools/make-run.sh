#!/bin/sh
# make-run.sh BUILD_DIR - what `make run` does once ember is built: runs the default experiment (six
# optimizers on the shipped 8x8 handwritten digits, a few seconds), draws its curves with `ember plot`,
# shows one of them in the terminal, and says where everything is and what to try next.
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
EMBER=$B/ember
RUNS=runs
EXP=optimizers
if [ ! -x "$EMBER" ]; then echo "make run: $EMBER is missing (run make)" >&2; exit 1; fi

# the run directories this command creates are the ones not there before it
mkdir -p "$RUNS/$EXP" || exit 1
list_runs() { for d in "$RUNS/$EXP"/*/; do [ -f "$d/meta.tsv" ] && echo "${d%/}"; done | sort; }
before=$(mktemp)
trap 'rm -f "$before"' EXIT
list_runs >"$before"

echo "== $EMBER run experiments/$EXP.lua   (SGD, momentum, Nesterov, Adam, AdamW, RMSprop on 8x8 digits)"
t0=$(date +%s.%N)
"$EMBER" run "experiments/$EXP.lua" --runs "$RUNS" --quiet || { echo "make run: the experiment failed" >&2; exit 1; }
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
new=$(list_runs | comm -13 "$before" -)
if [ -z "$new" ]; then echo "make run: no new run directory in $RUNS/$EXP" >&2; exit 1; fi
count=$(echo "$new" | wc -l)

# figures of this command's runs: loss curves and validation accuracy, one curve per optimizer
PLOTS=$RUNS/$EXP/plots
mkdir -p "$PLOTS"
figures=""
plotted=0
if command -v gnuplot >/dev/null 2>&1; then
  # shellcheck disable=SC2086 # $new is a list of run directories without spaces (runs/NAME/TIME-ID)
  if "$EMBER" plot $new --by opt --metric train_loss,valid_loss --log-y --out "$PLOTS/loss.png" >/dev/null &&
     "$EMBER" plot $new --by opt --metric valid_accuracy --out "$PLOTS/accuracy.png" >/dev/null; then
    figures="$PLOTS/loss.png $PLOTS/accuracy.png"
    plotted=1
    echo
    echo "== validation loss per epoch (ember plot ... --term dumb)"
    "$EMBER" plot $new --by opt --metric valid_loss --log-y --term dumb --width 100 --height 24 || true
  fi
else
  echo "make run: gnuplot is missing, so no figures were drawn: sudo apt-get install gnuplot-nox" >&2
fi

cat <<EOF

== make run: done (the experiment took ${secs} s)
  runs      $RUNS/$EXP/ ($count new run directories: params.tsv, meta.tsv, metrics.tsv, stdout.log, checkpoints)
EOF
if [ "$plotted" = 1 ]; then
  echo "  figures   $(echo "$figures" | sed 's/ /, /')"
fi
echo
echo "Try next:"
# each suggestion: what it does, then the command
try() { printf '  %-30s %s\n' "$1" "$2"; }
try "the runs as a table:" "$EMBER runs $RUNS/$EXP"
try "a figure in the terminal:" "$EMBER plot $RUNS/$EXP --by opt --metric valid_accuracy --term dumb"
try "one optimizer, another lr:" "$EMBER run experiments/$EXP.lua --set opt=adam --set lr=3e-3"
try "3 seeds each, mean and spread:" "$EMBER sweep experiments/$EXP.lua --grid opt=sgd,adam --seeds 3"
try "MSE vs MAE vs Huber:" "$EMBER run experiments/regression_losses.lua"
try "the REPL:" "$EMBER"
echo "What each experiment shows and how to change it: experiments/README.md; the manual: README.md and docs/."
