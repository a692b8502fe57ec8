#!/bin/sh
# run.sh BUILD_DIR [c|lua|all] - runs every test and ends with the line
#   "N passed, N failed, N skipped" (and, when something skipped, what and why in parentheses).
# C unit tests print their own "N passed, N failed"; busted specs run with TAP output and are counted
# from it; tests/*/test_*.sh print "N passed, N failed" too. A suite, or a part of one, that cannot run
# here prints "# skip: reason" (busted: pending("reason"), a "# SKIP" in TAP): each such line counts
# as one skip and is named in the summary. Exits non-zero when anything failed or no test ran at all.
B=${1:-build}
WHAT=${2:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
case $B in /*) BDIR=$B ;; *) BDIR=$ROOT/$B ;; esac
pass=0
fail=0
skip=0
skipped=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

add_counts() {   # $1: the test's exit status; reads its last "N passed, N failed" line from $log
  line=$(grep -E '(^|[^0-9])[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    fail=$((fail + 1)); echo "  (no summary line: counted as one failure)"; return
  fi
  p=$(echo "$line" | sed -E 's/(^|.*[^0-9])([0-9]+) passed, ([0-9]+) failed.*/\2/')
  f=$(echo "$line" | sed -E 's/(^|.*[^0-9])([0-9]+) passed, ([0-9]+) failed.*/\3/')
  # a test that exits non-zero has failed, whatever its summary says (a crash after the line)
  if [ "$1" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  (exit status $1: counted as one failure)"; fi
  pass=$((pass + p)); fail=$((fail + f))
}

add_skips() {   # $1: the suite; $2: sed expression printing each skip reason found in $log
  reasons=$(sed -n "$2" "$log")
  [ -n "$reasons" ] || return 0
  while IFS= read -r r; do
    skip=$((skip + 1))
    echo "  skipped: $r"
    skipped="${skipped:+$skipped; }$1: $r"
  done <<EOF
$reasons
EOF
}

if [ "$WHAT" = all ] || [ "$WHAT" = c ]; then
  for t in "$BDIR"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== $t"
    "$t" >"$log" 2>&1
    rc=$?
    grep -E 'FAIL|ERROR|Sanitizer|runtime error' "$log" | head -20
    add_counts "$rc"
    add_skips "$(basename "$t")" 's/^# skip: //p'
    tail -n 1 "$log"
  done
fi

if [ "$WHAT" = all ] || [ "$WHAT" = lua ]; then
  export EMBER_PATH="$ROOT/lua" EMBER_BIN="$BDIR/ember" EMBER_BUILD="$BDIR"
  if [ -n "$EMBER_ASAN" ]; then
    # lua5.4 is not built with ASan: preload the runtime; Lua's own exit-time frees are not ours to chase
    LD_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so):$(${CC:-cc} -print-file-name=libubsan.so)
    export LD_PRELOAD ASAN_OPTIONS=detect_leaks=0
  fi
  # busted's #! names `lua`, which Debian's alternatives may point at another version (installing
  # luarocks switches it to 5.1): run it under the Lua ember is built for
  busted_bin=$(command -v busted)
  for spec in tests/lua/*_spec.lua; do
    [ -f "$spec" ] || continue
    echo "== $spec"
    "${LUA:-lua5.4}" "$busted_bin" --lpath="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua" --cpath="$BDIR/?.so" -o TAP "$spec" >"$log" 2>&1
    rc=$?
    p=$(grep '^ok ' "$log" | grep -vc ' # SKIP')
    f=$(grep -c '^not ok ' "$log")
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && ! grep -q '^ok .* # SKIP' "$log"; then f=1; echo "  (busted ran no test)"; fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "  (busted exit status $rc: counted as one failure)"; fi
    grep -A 12 '^not ok ' "$log" | head -60
    grep -E '^(lua|busted).*(error|Error)' "$log" | head -5
    echo "  $p passed, $f failed"
    pass=$((pass + p)); fail=$((fail + f))
    # busted puts where pending() was called (often its own runner) before the reason: dropped
    add_skips "$(basename "$spec")" 's/^ok [0-9]* - .*# SKIP \([^ ]*:[0-9]*: \)\{0,1\}\(.*\)$/\2/p'
  done
  unset LD_PRELOAD
  for t in tests/*/test_*.sh; do
    [ -f "$t" ] || continue
    echo "== $t"
    sh "$t" "$B" >"$log" 2>&1
    rc=$?
    grep -E 'FAIL|not ok' "$log" | head -20
    add_counts "$rc"
    add_skips "$t" 's/^# skip: //p'
    tail -n 1 "$log"
  done
fi

if [ $((pass + fail)) -eq 0 ]; then
  fail=1
  echo "no test ran: nothing to run in $BDIR (build the tests first: make B=$B test-c)"
fi
echo "$pass passed, $fail failed, $skip skipped${skipped:+ ($skipped)}"
[ "$fail" -eq 0 ]
