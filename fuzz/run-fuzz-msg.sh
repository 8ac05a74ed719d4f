#!/bin/sh
# Fuzz the agent <-> controller message codec with libFuzzer.
#
#   fuzz/run-fuzz-msg.sh [SECONDS]        (default 30)
#
# Builds fuzz/fuzz-msg.c with the codec sources using
# clang -fsanitize=fuzzer,address,undefined (needs clang and its
# libclang-rt), starts from a few hand-made frames and a dictionary, and
# runs for SECONDS.  Exits non-zero if the fuzzer finds a crash, a leak,
# undefined behaviour or a broken round trip; the work directory with
# the crashing input is then kept and its path printed.
# CC=clang-NN picks another clang.

set -eu

secs=${1:-30}
top=$(cd "$(dirname "$0")/.." && pwd)
cc=${CC:-clang}
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-msg.XXXXXX")

# The sources need a config.h; this is all that they use from it.
printf '#define _GNU_SOURCE 1\n' > "$work/config.h"

"$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
      -Wall -Wextra -Wno-unused-parameter -Werror \
      -I"$work" -I"$top/src" \
      "$top/fuzz/fuzz-msg.c" \
      "$top/src/proto/msg.c" \
      "$top/src/proto/entry.c" \
      "$top/src/common/errors.c" \
      -o "$work/fuzz-msg"

# Seeds: one valid frame of each type, as hex after the magic and the
# version: type, reserved, body length, body.
mkdir "$work/corpus"
seed () {
    name=$1; shift
    printf "SGMP\\001$(echo "$*" | awk '{
        gsub (/ /, ""); h = "0123456789abcdef"; s = ""
        for (i = 1; i < length ($0); i += 2)
            s = s sprintf ("\\%03o", (index (h, substr ($0, i, 1)) - 1) * 16 \
                                   + index (h, substr ($0, i + 1, 1)) - 1)
        print s }')" > "$work/corpus/$name"
}
seed register 01 0000 0000001a 00000000000000010000000000000001000000066167656e7431
seed heartbeat 02 0000 00000010 00000000000000020000000000002710
seed map_fault 03 0000 0000002b 00000000000000030200000007000000000000006400000002000000000000100000002000000000020f80
seed flush 04 0000 0000000c 000000000000000400000007
seed retry 05 0000 0000002c 0000000000000005000000070000000000000064000000020000000200000000100001010000000000000005
seed fail 06 0000 0000000c 000000000000000600000005
seed do_write 07 0000 00000010 00000000000000070000000010000101
seed do_split_read 08 0000 00000016 00000000000000080000000010000101000000020f80
seed complete_to_host 09 0000 00000008 0000000000000009
seed new_table 0a 0000 00000021 000000000000000a00000007000000004000000000000014000000056469736b30
seed delete_table 0b 0000 0000000c 000000000000000b00000007
seed get_entry 0c 0000 00000018 000000000000000c00000007000000000000000000000004
seed get_status 0d 0000 00000018 000000000000000d00000007000000000000000000000004
seed set_entry 0e 0000 0000002d 000000000000000e0100000007000000000000000a000000020000000200000000100001010000000000000005
seed set_status 0f 0000 00000021 000000000000000f03000000070000000000000000000000080000000000000002
seed quiesce 10 0000 0000001c 00000000000000100000000000001388000000020000000100000002
seed activate 11 0000 00000014 0000000000000011000000020000000100000002
seed reply 12 0000 00000020 0000000000000012000000000000000200000000100001010000000000000005

cat > "$work/msg.dict" <<'DICT'
magic="SGMP"
header="SGMP\x01"
count_max="\xff\xff\xff\xff"
entry_zero="\x00\x00\x00\x00\x00\x00\x00\x05"
entry_valid="\x00\x00\x00\x01\x00\x01\x00\x01"
DICT

status=0
"$work/fuzz-msg" -max_total_time="$secs" -max_len=65536 -timeout=10 \
    -dict="$work/msg.dict" -artifact_prefix="$work/" \
    -print_final_stats=1 \
    "$work/corpus" || status=$?

if [ "$status" -ne 0 ]; then
    echo "$0: fuzzer failed (exit $status); inputs kept in $work" >&2
    exit "$status"
fi
rm -rf "$work"
echo "$0: no failures in $secs s"
