#!/bin/sh
# run.sh - `make fuzz`: builds the IDX, CSV, checkpoint, safetensors and npz fuzz targets with clang,
# libFuzzer, AddressSanitizer and UBSan into build-fuzz/ and runs each for a bounded time, FUZZ_SECONDS
# (default 60) apiece. The corpus grows in build-fuzz/corpus/ from run to run; a crashing input is
# kept in build-fuzz/crashes/ and the run exits non-zero. Reproduce one with:
# build-fuzz/fuzz_idx build-fuzz/crashes/FILE
# Exits 77 (the automake convention for "skipped") when clang or its libFuzzer is missing.
# tests/fuzz/test_fuzz.sh runs it for a few seconds per target inside `make test`.
set -eu
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-clang}
B=build-fuzz

if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "make fuzz: $CLANG not found; install it with: sudo apt-get install clang libclang-rt-14-dev" >&2
  exit 77
fi
TARGETS="idx csv checkpoint safetensors npz"
for t in $TARGETS; do mkdir -p "$B/corpus/$t" "$B/seeds/$t"; done
mkdir -p "$B/obj" "$B/crashes"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' > "$B/probe.c"
if ! "$CLANG" -fsanitize=fuzzer,address "$B/probe.c" -o "$B/probe" 2>/dev/null; then
  echo "make fuzz: $CLANG cannot link libFuzzer; install it with: sudo apt-get install libclang-rt-14-dev" >&2
  exit 77
fi

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-g -O1 -std=c99 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $SAN -Icore"
objs=""
for src in core/*.c; do
  obj="$B/obj/$(basename "$src" .c).o"
  # rebuild when the source or any core header is newer than the object
  if [ ! -f "$obj" ] || [ -n "$(find "$src" core/*.h -newer "$obj" 2>/dev/null)" ]; then
    "$CLANG" $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
  fi
  objs="$objs $obj"
done
for t in $TARGETS; do
  "$CLANG" $CFLAGS -D_GNU_SOURCE -fsanitize=fuzzer -Itests/fuzz "tests/fuzz/fuzz_$t.c" $objs \
    -lz -ldl -lm -lpthread -o "$B/fuzz_$t"
done

# seeds: the first byte is the targets' mode byte (bit 0 for idx: gzip the rest; csv: bits 0-1 the
# separator , ; TAB SPACE, bit 2 header, bit 3 gzip)
printf '\000\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\003\000\377\063\146\001\002\003\004\005\006\007\377' \
  > "$B/seeds/idx/images"
printf '\001\000\000\010\001\000\000\000\003\000\011\004' > "$B/seeds/idx/labels-gz"
printf '\000\000\000\010\002\000\000\000\002\000\000\000\002\001\002\003\004' > "$B/seeds/idx/two-d"
printf '\000' > "$B/seeds/idx/gzip-raw"
printf '\000\000\000\010\001\000\000\000\004\001\002\003\004' | gzip -c >> "$B/seeds/idx/gzip-raw"
printf '\004age,"b,m""i",y\r\n1, 2.5 ,-3e1\r\n\r\n4,5,6\n' > "$B/seeds/csv/header"
printf '\001 1;2\n3;"4"' > "$B/seeds/csv/semicolon"
printf '\016a\tb\n0.25\t-0.5\n' > "$B/seeds/csv/tab-gz"
printf '\004a,b\n1,nan\n2,0x1p3\n' > "$B/seeds/csv/special"

# a real checkpoint as the reader's seed: every kind of entry, written by ember itself when it is built
if [ -x build/ember ]; then
  build/ember -e 'ember.save(arg[1], {t = ember.tensor{{1, 2}, {3, 4}}, n = 0.5, i = 3, s = "x\0y",
    b = true, e = {}, l = {ember.zeros(0), {k = ember.tensor(2)}}})' "$B/seeds/checkpoint/all-kinds.ckpt" \
    2>/dev/null || true
fi
printf 'EMBR' > "$B/seeds/checkpoint/magic-only"
# the weights readers' seeds: the reference files of tests/data/weights (NumPy's stored and deflated
# npz, a safetensors file with metadata)
cp tests/data/weights/*.safetensors "$B/seeds/safetensors/"
cp tests/data/weights/*.npz "$B/seeds/npz/"

status=0
for t in $TARGETS; do
  echo "== fuzz_$t for ${SECS}s"
  if ! "$B/fuzz_$t" -max_total_time="$SECS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$B/crashes/$t-" "$B/corpus/$t" "$B/seeds/$t" \
       > "$B/fuzz_$t.log" 2>&1; then
    status=1
    echo "fuzz_$t FAILED; see $B/fuzz_$t.log and $B/crashes/:" >&2
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$B/fuzz_$t.log" | head -20 >&2
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/fuzz_$t.log")
  new=$(sed -n 's/^stat::new_units_added: *//p' "$B/fuzz_$t.log")
  echo "fuzz_$t: ${runs:-0} runs, ${new:-0} new inputs"
done
exit $status
