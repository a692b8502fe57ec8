#!/bin/sh
# test_fuzz.sh [BUILD_DIR] - every fuzz target (tests/fuzz/run.sh: IDX, CSV, checkpoint, safetensors
# and npz readers under libFuzzer, ASan and UBSan) for FUZZ_TEST_SECONDS (default 5) seconds each: a
# crash, a sanitizer report or a broken promise of the reader fails its target. The corpus in
# build-fuzz/ grows from run to run. Prints "N passed, N failed"; skips (exit 0) when clang or its
# libFuzzer is missing.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$(FUZZ_SECONDS=${FUZZ_TEST_SECONDS:-5} sh "$ROOT/tests/fuzz/run.sh" 2>&1)
rc=$?
if [ "$rc" -eq 77 ]; then
  echo "# skip: clang's libFuzzer is not installed (apt-get install clang libclang-rt-14-dev)"
  echo "0 passed, 0 failed"
  exit 0
fi
pass=0
fail=0
for t in idx csv checkpoint safetensors npz; do
  line=$(echo "$out" | grep "^fuzz_$t: [0-9]* runs")
  runs=$(echo "$line" | sed -n 's/^fuzz_[a-z]*: \([0-9]*\) runs.*/\1/p')
  if echo "$out" | grep -q "^fuzz_$t FAILED" || [ -z "$runs" ] || [ "$runs" -eq 0 ]; then
    fail=$((fail + 1)); echo "not ok - fuzz_$t"
    echo "$out" | grep -A 20 "fuzz_$t FAILED" | sed 's/^/#   /'
  else
    pass=$((pass + 1)); echo "ok - $line"
  fi
done
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
  fail=1; echo "not ok - tests/fuzz/run.sh exited with status $rc"; echo "$out" | tail -20 | sed 's/^/#   /'
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
