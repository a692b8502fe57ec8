# lib.sh - what the shell tests (tests/*/test_*.sh) share, as tests/c/check.h is the C tests': where the
# build and the executable are, counting checks, and the closing "N passed, N failed" line that
# tests/run.sh adds up. A test sources it first, with its own arguments still in place:
#   . "$(dirname "$0")/../lib.sh"
# Then ROOT is the repository, B the build folder ($1, else build) and BIN the executable ($EMBER_BIN,
# else $B/ember), both absolute.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
BIN=${EMBER_BIN:-$B/ember}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi; }   # check STATUS DESCRIPTION
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
# need_bin: a failed check, and the end, when there is no executable to test
need_bin() { if [ ! -x "$BIN" ]; then not_ok "no executable at $BIN (run make)"; finish; fi; }
