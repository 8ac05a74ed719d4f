#!/usr/bin/env bash
# Fast zero is claimed only where it is true: zeroing whole segments
# (metadata) or a partial segment that already reads as zeros.  A zero
# with NBD_CMD_FLAG_FAST_ZERO that would write into a mapped segment
# fails with ENOTSUP and changes nothing; without the flag it is done.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_nbdsh

s=$sm_tmpdir/s
start_segmap "$s"
nbdsh -u "$(nbd_uri "$s" disk0)" -c '
import errno
MiB = 1 << 20
FAST = nbd.CMD_FLAG_FAST_ZERO
assert h.can_fast_zero(), "fast zero not advertised"

def fast_zero(count, offset):
    try:
        h.zero(count, offset, FAST)
        return 0
    except nbd.Error as e:
        return e.errnum

data = b"\x5a" * (2 * MiB)
h.pwrite(data, 1 * MiB)                     # segments 1 and 2 mapped
h.flush()

# Partial segment with data: refused, nothing changed.
r = fast_zero(4096, 1 * MiB + 8192)
assert r == errno.ENOTSUP, "partial fast zero of data: %r" % r
# Whole segment 1 and a partial tail in segment 2: the tail has data.
r = fast_zero(MiB + 4096, 1 * MiB)
assert r == errno.ENOTSUP, "whole + partial data fast zero: %r" % r
assert h.pread(2 * MiB, 1 * MiB) == data, "a refused fast zero changed data"

# Whole segment: metadata, fast.
assert fast_zero(MiB, 1 * MiB) == 0, "whole-segment fast zero refused"
assert h.pread(MiB, 1 * MiB) == bytes(MiB)
# Partial segments that already read as zeros: nothing to write.
assert fast_zero(4096, 1 * MiB + 4096) == 0, "fast zero of a zeroed segment"
assert fast_zero(8192, 7 * MiB + 100) == 0, "fast zero of a never written one"
# Without the flag, a partial zero of data is done.
h.zero(4096, 2 * MiB + 4096)
assert h.pread(4096, 2 * MiB + 4096) == bytes(4096)
assert h.pread(4096, 2 * MiB) == data[:4096]
h.flush()
print("fast zero: refused for data, done for metadata and known zeros")
' || fail "fast zero behaves wrongly"
