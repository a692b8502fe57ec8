#!/bin/sh
# test_runner.sh [BUILD_DIR] - the test runner's own contract (tests/run.sh and the Makefile): no test
# run is a failure, skips are counted and named in the summary line, `make B=DIR test-c` builds and
# runs DIR's tests. Prints "N passed, N failed".
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else not_ok "$2"; fi; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

mkdir -p "$TMP/empty"
out=$(sh "$ROOT/tests/run.sh" "$TMP/empty" c 2>&1)
rc=$?
[ "$rc" -ne 0 ] && echo "$out" | tail -n 1 | grep -qx '0 passed, 1 failed, 0 skipped'
check $? "a build folder with no tests fails instead of reporting 0 passed, 0 failed"
echo "$out" | grep -q "^no test ran"
check $? "and says that no test ran"

mkdir -p "$TMP/fake/tests"
printf '#!/bin/sh\necho "# skip: the widget is not installed"\necho "3 passed, 0 failed"\n' >"$TMP/fake/tests/test_a"
printf '#!/bin/sh\necho "2 passed, 0 failed"\n' >"$TMP/fake/tests/test_b"
chmod +x "$TMP/fake/tests/test_a" "$TMP/fake/tests/test_b"
out=$(sh "$ROOT/tests/run.sh" "$TMP/fake" c 2>&1)
rc=$?
[ "$rc" -eq 0 ] && echo "$out" | tail -n 1 | grep -qx '5 passed, 0 failed, 1 skipped (test_a: the widget is not installed)'
check $? "a skip is counted and named in the summary line"
printf '#!/bin/sh\necho "1 passed, 0 failed"\nexit 3\n' >"$TMP/fake/tests/test_b"
out=$(sh "$ROOT/tests/run.sh" "$TMP/fake" c 2>&1)
[ $? -ne 0 ] && echo "$out" | tail -n 1 | grep -q '^4 passed, 1 failed, 1 skipped'
check $? "a test that exits non-zero fails whatever its summary says"

out=$(cd "$ROOT" && make -n B="$TMP/xb" test-c 2>&1)
echo "$out" | grep -q "$TMP/xb/tests/test_tensor" && echo "$out" | grep -q "tests/run.sh $TMP/xb c"
check $? "make B=DIR test-c builds and runs the tests of DIR"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
