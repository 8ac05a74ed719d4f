#!/usr/bin/env bash
# Bounded fuzzing of every parser that reads untrusted bytes: the
# agent <-> controller codec (msg), iSCSI PDUs (pdu), login/text keys
# (text) and SCSI CDBs (cdb).  Each runs under libFuzzer with ASan and
# UBSan for SEGMAP_FUZZ_SECONDS (default 15) seconds; any crash, leak,
# sanitizer report, hang or memory blow-up fails the test
# (fuzz/run-fuzz.sh says what and keeps the input).  Longer runs:
# fuzz/run-fuzz.sh TARGET SECONDS.
set -e
# shellcheck source=tests/functions.sh
. "$(dirname "$0")/functions.sh"

requires clang
: "${SEGMAP_FUZZ_SECONDS:=15}"
[ "$SEGMAP_VALGRIND" = 1 ] && skip "fuzzing brings its own sanitizers"

# clang needs its runtime (libclang-rt-14-dev) for -fsanitize=fuzzer.
probe=$(mktemp -d)
cleanup_fn rm -rf "$probe"
printf 'int LLVMFuzzerTestOneInput (const char *d, long n) { return 0; }\n' \
  >"$probe/p.c"
clang -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2>/dev/null ||
  skip "clang cannot build fuzzers (Debian package libclang-rt-14-dev)"

for target in msg pdu text cdb; do
  echo "--- fuzzing $target for $SEGMAP_FUZZ_SECONDS s"
  "$abs_top_srcdir/fuzz/run-fuzz.sh" "$target" "$SEGMAP_FUZZ_SECONDS" ||
    fail "fuzz target $target failed"
done
