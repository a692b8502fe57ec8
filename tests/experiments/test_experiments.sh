#!/bin/sh
# test_experiments.sh [BUILD_DIR] - runs every script in experiments/ in a reduced setting (an epoch or a
# few, on a subset) into a temporary runs folder and checks each run directory: one per configuration,
# named as documented, its status (finished, stopped-early, diverged as expected), params.tsv holding the
# run's own value of the compared key, metrics.tsv with one row per epoch and the documented columns.
# Also: --name keeps a script's runs together, a bad key value is refused, the sweep example runs, and
# `ember plot --by` compares the runs when gnuplot is installed.
# Prints "N passed, N failed" last; exits non-zero on failure. The executable is $EMBER_BIN, else
# BUILD_DIR/ember.
. "$(dirname "$0")/../lib.sh"

need_bin

T=$(mktemp -d)
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
cd "$ROOT" || exit 1
TAB=$(printf '\t')

# value of KEY in a key<TAB>value file
kv() { sed -n "s/^$2$TAB//p" "$1" | head -n 1; }
# the run directory below $T/NAME whose params.tsv has KEY = VALUE (the first one)
find_run() {
  for d in "$T/$1"/*/; do
    [ -f "$d/params.tsv" ] || continue
    if [ "$(kv "$d/params.tsv" "$2")" = "$3" ]; then echo "${d%/}"; return 0; fi
  done
  return 1
}
# data rows of metrics.tsv
rows() { echo $(($(wc -l <"$1/metrics.tsv") - 1)); }
has_col() { head -n 1 "$1/metrics.tsv" | tr '\t' '\n' | grep -qx "$2"; }
count_runs() { n=0; for d in "$T/$1"/*/; do [ -f "$d/meta.tsv" ] && n=$((n + 1)); done; echo "$n"; }

# run_exp NAME SCRIPT ARGS... : runs the script into $T, output in $T/NAME.out
run_exp() {
  name=$1; shift
  script=$1; shift
  t0=$(date +%s)
  if "$BIN" run "experiments/$script" --runs "$T" --quiet "$@" >"$T/$name.out" 2>&1; then
    ok "$script $* runs ($(($(date +%s) - t0)) s)"
    return 0
  fi
  not_ok "$script $* exits with an error:"
  sed 's/^/    /' "$T/$name.out" | tail -n 15
  return 1
}

# check_run NAME KEY VALUE STATUS ROWS [COLUMN...]: the run of NAME with KEY = VALUE has STATUS and
# ROWS metrics rows (ROWS "+" for at least one) and the columns
check_run() {
  name=$1 key=$2 value=$3 status=$4 want=$5
  shift 5
  d=$(find_run "$name" "$key" "$value") || { not_ok "$name: no run with $key = $value"; return; }
  got=$(kv "$d/meta.tsv" status)
  n=$(rows "$d")
  missing=""
  for c in "$@"; do has_col "$d" "$c" || missing="$missing $c"; done
  if [ "$got" != "$status" ]; then
    not_ok "$name $key=$value: status $got, expected $status ($(kv "$d/meta.tsv" error))"
  elif [ "$want" = "+" ] && [ "$n" -lt 1 ]; then
    not_ok "$name $key=$value: metrics.tsv has no rows"
  elif [ "$want" != "+" ] && [ "$n" != "$want" ]; then
    not_ok "$name $key=$value: metrics.tsv has $n rows, expected $want"
  elif [ -n "$missing" ]; then
    not_ok "$name $key=$value: metrics.tsv lacks the columns$missing"
  else
    ok "$name $key=$value: $status, $n rows"
  fi
}

# expect_runs NAME N: exactly N run directories below $T/NAME
expect_runs() {
  n=$(count_runs "$1")
  if [ "$n" = "$2" ]; then ok "$1: $2 run directories"; else not_ok "$1: $n run directories, expected $2"; fi
}

# optimizers: six runs, one per optimizer, from one command
if run_exp optimizers optimizers.lua --set epochs=2 --set subset=200; then
  expect_runs optimizers 6
  for o in sgd momentum nesterov adam adamw rmsprop; do
    check_run optimizers opt $o finished 2 epoch train_loss valid_loss valid_accuracy lr time
  done
  if grep -q '^rmsprop ' "$T/optimizers.out"; then ok "optimizers prints its summary table"
  else not_ok "optimizers prints its summary table"; fi
fi

# one optimizer, and --name keeps the runs of one command together
if run_exp optimizers_named optimizers.lua --set epochs=1 --set subset=100 --set opt=sgd,adam --name mine; then
  expect_runs mine 2
  check_run mine opt adam finished 1
fi

# a bad value is refused with a message naming it
if "$BIN" run experiments/optimizers.lua --runs "$T" --quiet --set opt=adamax --set epochs=1 >"$T/bad.out" 2>&1; then
  not_ok "optimizers refuses opt=adamax"
elif grep -q "unknown opt 'adamax'" "$T/bad.out"; then ok "optimizers refuses opt=adamax, naming it"
else not_ok "optimizers refuses opt=adamax, naming it (got: $(head -c 300 "$T/bad.out"))"
fi

# classify_digits: with and without label smoothing on the digits; LeNet on Fashion-MNIST when installed
if run_exp classify_digits classify_digits.lua --set epochs=1 --set subset=200; then
  expect_runs classify_digits 2
  check_run classify_digits smoothing 0 finished 1 valid_nll valid_confidence valid_accuracy
  check_run classify_digits smoothing 0.1 finished 1 valid_nll valid_confidence
  d=$(find_run classify_digits smoothing 0.1)
  if [ -n "$d" ] && [ -n "$(kv "$d/meta.tsv" test_accuracy)" ]; then ok "classify_digits records test_accuracy in meta.tsv"
  else not_ok "classify_digits records test_accuracy in meta.tsv"; fi
fi
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -n "$EMBER_FASHION_MNIST" ]; then
  if run_exp classify_fashion classify_digits.lua --set data=fashion --set epochs=1 --set subset=500 --set smoothing=0.1; then
    expect_runs classify_fashion 1
    check_run classify_fashion smoothing 0.1 finished 1 valid_nll
  fi
  if run_exp optimizers_fashion optimizers.lua --set data=fashion --set epochs=1 --set subset=500 --set opt=adam; then
    expect_runs optimizers_fashion 1
    check_run optimizers_fashion opt adam finished 1 valid_accuracy
  fi
else
  echo "# skip: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"
fi

# regression_losses: four losses on each of the two data sets
if run_exp regression regression_losses.lua --set epochs=2 --set subset=100; then
  for data in synthetic diabetes; do
    expect_runs "regression_$data" 4
    for l in mse rmse mae huber; do
      check_run "regression_$data" loss $l finished 2 test_mae test_mse
    done
  done
  d=$(find_run regression_synthetic loss huber)
  if [ -n "$d" ] && [ -n "$(kv "$d/meta.tsv" w_error)" ]; then ok "regression_losses records w_error for synthetic data"
  else not_ok "regression_losses records w_error for synthetic data"; fi
fi

# lr_schedules: every schedule finishes; the too-large lr diverges and the script goes on after it
if run_exp lr_schedules lr_schedules.lua --set epochs=3 --set diverge_lr=100 \
     --set schedule=constant,step,cosine,warmup_cosine,diverge,onecycle,plateau; then
  expect_runs lr_schedules 7
  for s in constant step cosine warmup_cosine onecycle plateau; do
    check_run lr_schedules schedule $s finished 3 lr
  done
  check_run lr_schedules schedule diverge diverged +
  if grep -q '^plateau ' "$T/lr_schedules.out"; then ok "lr_schedules goes on after the diverged run"
  else not_ok "lr_schedules goes on after the diverged run"; fi
fi

# regularization: four methods; L1 sets weights exactly to zero
if run_exp regularization regularization.lua --set epochs=3 --set train_size=100 --set hidden=32 --set l1=1; then
  expect_runs regularization 4
  for r in none l2 decoupled l1; do
    check_run regularization reg $r finished 3 zeros wnorm valid_loss
  done
  d=$(find_run regularization reg l1)
  z=$(kv "$d/meta.tsv" zero_weights)
  if [ -n "$z" ] && [ "$z" -gt 0 ] 2>/dev/null; then ok "regularization: l1 leaves $z weights exactly zero"
  else not_ok "regularization: l1 leaves weights exactly zero (got '$z')"; fi
  d=$(find_run regularization reg none)
  z=$(kv "$d/meta.tsv" zero_weights)
  if [ "$z" = 0 ]; then ok "regularization: none leaves no zero weights"
  else not_ok "regularization: none leaves no zero weights (got '$z')"; fi
fi

# early_stopping: a large lr overfits 100 images within a few epochs, so the patience rules stop early
if run_exp early_stopping early_stopping.lua --set epochs=40 --set train_size=100 --set hidden=64 --set lr=0.01 \
     --set stop=none,patience5,restore_best; then
  expect_runs early_stopping 3
  check_run early_stopping stop none finished 40
  for s in patience5 restore_best; do
    d=$(find_run early_stopping stop $s)
    st=$(kv "$d/meta.tsv" status)
    be=$(kv "$d/meta.tsv" best_epoch)
    se=$(kv "$d/meta.tsv" stop_epoch)
    n=$(rows "$d")
    if [ "$st" = stopped-early ] && [ -n "$be" ] && [ -n "$se" ] && [ "$se" = "$n" ] && [ "$se" -gt "$be" ]; then
      ok "early_stopping $s: stopped-early at epoch $se, best epoch $be, in meta.tsv"
    else
      not_ok "early_stopping $s: status '$st', best_epoch '$be', stop_epoch '$se', $n rows"
    fi
    # the weights the run ends with: the best epoch's with restore_best, the last epoch's without
    best=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "valid_loss") c = i; next }
                        NR == 2 || $c < m { m = $c } END { printf "%.6g", m }' "$d/metrics.tsv")
    end=$(kv "$d/meta.tsv" final_valid_loss)
    same=$(awk -v a="$best" -v b="$end" 'BEGIN { d = a - b; if (d < 0) d = -d; print (d <= 1e-5 * (a < 0 ? -a : a) + 1e-6) ? 1 : 0 }')
    if [ "$s" = restore_best ] && [ "$same" = 1 ]; then ok "early_stopping restore_best ends on the best weights (valid loss $end)"
    elif [ "$s" != restore_best ] && [ "$same" = 0 ]; then ok "early_stopping $s ends on the last weights (valid loss $end > best $best)"
    else not_ok "early_stopping $s: final valid loss $end, best $best"
    fi
  done
fi

# the sweep example of README
if "$BIN" sweep experiments/optimizers.lua --grid opt=sgd,adam --seeds 2 --runs "$T/sweep" \
     --set epochs=1 --set subset=100 >"$T/sweep.out" 2>&1; then
  n=$(grep -c "${TAB}finished$TAB" "$T/sweep/optimizers/sweep.tsv" 2>/dev/null)
  if [ "$n" = 4 ]; then ok "ember sweep experiments/optimizers.lua --grid opt=sgd,adam --seeds 2: 4 runs finished"
  else not_ok "sweep: $n finished runs in sweep.tsv, expected 4"; fi
else
  not_ok "ember sweep experiments/optimizers.lua exits with an error:"
  sed 's/^/    /' "$T/sweep.out" | tail -n 10
fi

# ember plot --by compares the runs of one command
if command -v gnuplot >/dev/null 2>&1 && [ -d "$T/optimizers" ]; then
  if out=$("$BIN" plot "$T/optimizers" --by opt --metric valid_loss --out "$T/opt.png" 2>&1) && [ -s "$T/opt.png" ]; then
    ok "ember plot runs/optimizers --by opt writes a figure"
  else
    not_ok "ember plot runs/optimizers --by opt: $out"
  fi
else
  echo "# skip: gnuplot is not installed"
fi

finish
