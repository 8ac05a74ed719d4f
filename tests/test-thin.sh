#!/usr/bin/env bash
# Thin provisioning, seen from an NBD client and from the container file.
#
# - A fresh 1 GiB vdisk maps as one hole,zero extent and reads zeros.
# - Writing 3 MiB at 100 MiB allocates exactly those three 1 MiB segments:
#   the map shows data on [100M,103M) and hole,zero elsewhere, and the
#   container file's allocated bytes grow by about 3 MiB (+-1 MiB).
# - A partial write allocates (at most) its one segment, whose unwritten
#   blocks read zeros.
# - Trim of whole segments, and zero with the fast-zero flag, give the
#   segments back: the map is hole,zero again, they read zeros, and the
#   container's allocated size shrinks back.
# - Trim of part of a segment does not disturb the rest of its data.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdinfo stat
requires_nbdsh

s=$sm_tmpdir/s
start_segmap "$s"
uri=$(nbd_uri "$s" disk0)
img=$s/default.img
[ -f "$img" ] || fail "default container file $img does not exist"

G1=$GiB
M100=$((100 * MiB)); M103=$((103 * MiB))

expect_map "$uri" "fresh disk0" "0 $G1 hole,zero"
nbdsh -u "$uri" -c "
assert h.pread($MiB, 0) == bytes($MiB), 'fresh disk reads non-zero at 0'
assert h.pread($MiB, $G1 - $MiB) == bytes($MiB), 'fresh disk reads non-zero at end'
" || fail "fresh disk0 does not read zeros"

# grown_by WHAT BASE LOW HIGH: the container's allocation minus BASE must
# lie in [LOW, HIGH] bytes.
grown_by ()
{
  local now d
  now=$(alloc_bytes "$img")
  d=$(( now - $2 ))
  if [ $d -lt "$3" ] || [ $d -gt "$4" ]; then
    fail "$1: container allocation changed by $d bytes," \
         "expected between $3 and $4 (base $2, now $now)"
  fi
}

# --- write 3 MiB at 100 MiB ---------------------------------------------
base=$(alloc_bytes "$img")
nbdsh -u "$uri" -c "
h.pwrite(b'\x5a' * (3 * $MiB), $M100)
h.flush()
" || fail "write of 3 MiB at 100 MiB failed"
expect_map "$uri" "after writing [100M,103M)" \
"0 $M100 hole,zero
$M100 $M103 data
$M103 $G1 hole,zero"
grown_by "after writing 3 MiB" "$base" $((2 * MiB)) $((4 * MiB))
nbdsh -u "$uri" -c "
assert h.pread(3 * $MiB, $M100) == b'\x5a' * (3 * $MiB), 'data differs'
assert h.pread($MiB, $M100 - $MiB) == bytes($MiB), 'segment before not zero'
assert h.pread($MiB, $M103) == bytes($MiB), 'segment after not zero'
" || fail "reading back [99M,104M) gave wrong data"

# --- trim gives the segments back ---------------------------------------
nbdsh -u "$uri" -c "
h.trim(3 * $MiB, $M100)
h.flush()
assert h.pread(3 * $MiB, $M100) == bytes(3 * $MiB), 'trimmed range not zero'
" || fail "trim of [100M,103M) failed or does not read zeros"
expect_map "$uri" "after trimming [100M,103M)" "0 $G1 hole,zero"
grown_by "after trim" "$base" $((-1 * MiB)) $((MiB - 1))

# --- a partial write allocates its one segment --------------------------
M300=$((300 * MiB))
base=$(alloc_bytes "$img")
nbdsh -u "$uri" -c "
h.pwrite(b'\xa5' * 4096, $M300 + 8192)
h.flush()
seg = h.pread($MiB, $M300)
assert seg[:8192] == bytes(8192), 'unwritten head of the segment not zero'
assert seg[8192:12288] == b'\xa5' * 4096, 'written block differs'
assert seg[12288:] == bytes($MiB - 12288), 'unwritten tail of the segment not zero'
" || fail "partial write at 300 MiB + 8 KiB"
grown_by "after a 4 KiB write" "$base" 4096 $MiB
nbd_map "$uri" | python3 -c "
import sys
lines = [l.split() for l in sys.stdin]
data = [(int(a), int(b)) for a, b, t in lines if t != 'hole,zero']
lo, hi = $M300 + 8192, $M300 + 12288
if len(data) != 1 or not (data[0][0] <= lo and hi <= data[0][1]) \
   or data[0][0] < $M300 or data[0][1] > $M300 + $MiB:
    sys.exit('expected one non-hole extent covering [%d,%d) inside the '
             'segment [%d,%d), got %r' % (lo, hi, $M300, $M300 + $MiB, data))
" || fail "map after a 4 KiB write"
nbdsh -u "$uri" -c "h.trim($MiB, $M300); h.flush()" ||
  fail "trim of the segment at 300 MiB failed"
expect_map "$uri" "after trimming the segment at 300 MiB" "0 $G1 hole,zero"

# --- zero with fast-zero on whole segments ------------------------------
M200=$((200 * MiB))
base=$(alloc_bytes "$img")
nbdsh -u "$uri" -c "
assert h.can_fast_zero(), 'server does not advertise fast zero'
assert h.can_zero(), 'server does not advertise write zeroes'
h.pwrite(b'\x33' * (3 * $MiB), $M200)
h.flush()
" || fail "write at 200 MiB (or fast zero not advertised)"
grown_by "after writing 3 MiB at 200 MiB" "$base" $((2 * MiB)) $((4 * MiB))
nbdsh -u "$uri" -c "
h.zero(3 * $MiB, $M200, nbd.CMD_FLAG_FAST_ZERO)
h.flush()
assert h.pread(3 * $MiB, $M200) == bytes(3 * $MiB), 'zeroed range not zero'
" || fail "fast zero of [200M,203M) failed or does not read zeros"
expect_map "$uri" "after fast-zeroing [200M,203M)" "0 $G1 hole,zero"
grown_by "after fast zero" "$base" $((-1 * MiB)) $((MiB - 1))

# --- trim of part of a segment keeps the rest ----------------------------
M400=$((400 * MiB))
nbdsh -u "$uri" -c "
import os
data = os.urandom($MiB)
h.pwrite(data, $M400)
h.trim(65536, $M400 + 65536)
h.flush()
got = h.pread($MiB, $M400)
assert got[:65536] == data[:65536], 'data before the trimmed range changed'
assert got[131072:] == data[131072:], 'data after the trimmed range changed'
mid = got[65536:131072]
assert mid == data[65536:131072] or mid == bytes(65536), \
    'trimmed range reads neither the old data nor zeros'
" || fail "partial-segment trim disturbed the segment"
