#!/usr/bin/env bash
# No stale data: a vdisk never reads another's (or a deleted one's) data.
#
# On a 96 MiB container (96 segments of 1 MiB):
# 1. v1 (64 MiB) is filled with random data; whole-segment trims read back
#    as zeros while the rest keeps its data.
# 2. v1 is deleted; v2 (32 MiB) is created: it reads all zeros; then one
#    4 KiB block is written into each of its segments (allocating 32
#    segments, reused from v1's), and every other byte still reads zero.
# 3. v1 is created again with the same name and size: it reads all zeros,
#    and after the same partial writes (which need every remaining segment
#    of the container, so all of old v1's segments are reused) every
#    unwritten byte reads zero.
# 4. Free space is zero after a clean stop (a clean start does not zero
#    it): v1 migrates between containers at 16M/s and the server is
#    stopped cleanly 1, 2 and 3 s in, with segments freed by the
#    migration in the transaction the stop commits; every unit of
#    container small that no segment holds (the store's segment table)
#    reads zeros.  Found by test-migrate-crash.sh, where such a segment
#    went to another vdisk with its old data.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdcopy cmp head
requires_nbdsh

s=$sm_tmpdir/s
start_segmap "$s"
segctl "$s" container add small "$sm_tmpdir/small.img" 96M ||
  fail "container add small 96M failed"

# read_all VDISK FILE: copy the whole vdisk into FILE.
read_all ()
{
  rm -f "$2"
  nbdcopy "$(nbd_uri "$s" "$1")" "$2" || fail "nbdcopy out of $1 failed"
}

# expect_zeros VDISK SIZE WHAT
expect_zeros ()
{
  read_all "$1" "$sm_tmpdir/r"
  [ "$(stat -c %s "$sm_tmpdir/r")" = "$2" ] || fail "$3: $1 has the wrong size"
  cmp -n "$2" "$sm_tmpdir/r" /dev/zero || fail "$3: $1 does not read all zeros"
}

# partial_writes VDISK SIZE WHAT: write one 4 KiB block at 512 KiB into
# every 1 MiB segment, then read everything back: only those blocks are
# non-zero.
partial_writes ()
{
  nbdsh -u "$(nbd_uri "$s" "$1")" -c "
MiB = 1 << 20
for seg in range($2 // MiB):
    h.pwrite(bytes([0x77]) * 4096, seg * MiB + 512 * 1024)
h.flush()
" || fail "$3: partial writes to $1 failed"
  read_all "$1" "$sm_tmpdir/r"
  python3 - "$sm_tmpdir/r" "$2" "$3" <<'EOF' || fail "$3: stale data in $1"
import sys
data = open(sys.argv[1], "rb").read()
size, what = int(sys.argv[2]), sys.argv[3]
MiB = 1 << 20
if len(data) != size:
    sys.exit("%s: read %d bytes, expected %d" % (what, len(data), size))
for seg in range(size // MiB):
    s = data[seg * MiB:(seg + 1) * MiB]
    lo, hi = 512 * 1024, 512 * 1024 + 4096
    if s[lo:hi] != b"\x77" * 4096:
        sys.exit("%s: segment %d lost its written block" % (what, seg))
    rest = s[:lo] + s[hi:]
    if rest.count(0) != len(rest):
        off = next(i for i, b in enumerate(s) if b and not lo <= i < hi)
        sys.exit("%s: segment %d holds stale non-zero data at offset %d "
                 "(byte 0x%02x)" % (what, seg, seg * MiB + off, s[off]))
EOF
}

# --- 1. fill v1, trim whole segments --------------------------------------
segctl "$s" vdisk create v1 64M --container small || fail "vdisk create v1 failed"
head -c $((64 * MiB)) /dev/urandom >"$sm_tmpdir/pattern"
nbdcopy --flush "$sm_tmpdir/pattern" "$(nbd_uri "$s" v1)" ||
  fail "nbdcopy into v1 failed"
read_all v1 "$sm_tmpdir/r"
cmp "$sm_tmpdir/pattern" "$sm_tmpdir/r" || fail "v1 does not read back its data"

nbdsh -u "$(nbd_uri "$s" v1)" -c "
MiB = 1 << 20
h.trim(8 * MiB, 8 * MiB)
h.trim(MiB, 40 * MiB)
h.flush()
" || fail "trim on v1 failed"
read_all v1 "$sm_tmpdir/r"
python3 - "$sm_tmpdir/pattern" "$sm_tmpdir/r" <<'EOF' || fail "trim on v1"
import sys
p, r = (open(f, "rb").read() for f in sys.argv[1:3])
MiB = 1 << 20
trimmed = set(range(8, 16)) | {40}
for seg in range(64):
    got = r[seg * MiB:(seg + 1) * MiB]
    if seg in trimmed:
        if got.count(0) != MiB:
            sys.exit("trimmed segment %d does not read zeros" % seg)
    elif got != p[seg * MiB:(seg + 1) * MiB]:
        sys.exit("segment %d (not trimmed) changed" % seg)
EOF

# --- 2. delete v1, create v2 ---------------------------------------------
segctl "$s" vdisk delete v1 || fail "vdisk delete v1 failed"
# Every segment comes back, including the grants v1 held but never used
# (in the background: within a few seconds).
for (( i = 0; i < 100; i++ )); do
  used=$(json_field "$(segctl "$s" --json container list)" name small used) ||
    fail "container list failed"
  [ "$used" != 0 ] || break
  sleep 0.1
done
[ "$used" = 0 ] || fail "container small still has $used bytes used 10 s after deleting its only vdisk"
segctl "$s" vdisk create v2 32M --container small || fail "vdisk create v2 failed"
expect_zeros v2 $((32 * MiB)) "new v2 after deleting v1"
partial_writes v2 $((32 * MiB)) "v2 after partial writes"

# --- 3. v1 again, same name and size ------------------------------------
segctl "$s" vdisk create v1 64M --container small ||
  fail "re-creating v1 after its delete failed"
expect_zeros v1 $((64 * MiB)) "re-created v1"
partial_writes v1 $((64 * MiB)) "re-created v1 after partial writes"

# v2 is untouched by all this.
partial_writes v2 $((32 * MiB)) "v2 at the end"

# --- 4. free space after a clean stop -----------------------------------
segctl "$s" container add big "$sm_tmpdir/big.img" 256M >/dev/null ||
  fail "container add big failed"
nbdcopy --flush "$sm_tmpdir/pattern" "$(nbd_uri "$s" v1)" ||
  fail "nbdcopy into v1 failed"
for t in 1 2 3; do
  segctl "$s" migrate v1 "$([ $t = 2 ] && echo small || echo big)" \
    --rate 16M >/dev/null || fail "migrate v1 failed"
  sleep $t
  stop_segmap "$s"
  python3 - "$s/segmap.db" "$sm_tmpdir/small.img" <<'PY' ||
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
used = set()
for u, n in db.execute("SELECT unit, units FROM segment WHERE container_id ="
                       " (SELECT id FROM container WHERE name = 'small')"):
    used.update(range(u, u + n))
data, UNIT = open(sys.argv[2], "rb").read(), 65536
bad = [u for u in range(len(data) // UNIT)
       if u not in used and data[u * UNIT:(u + 1) * UNIT].count(0) != UNIT]
if bad:
    sys.exit("%d free units of container small hold data, the first %d"
             % (len(bad), bad[0]))
PY
    fail "after a clean stop $t s into a migration"
  start_segmap "$s"
  segctl "$s" job wait $t >/dev/null || fail "migration $t did not complete"
done
