#!/usr/bin/env bash
# Changed-block tracking: `vdisk diff VDISK FROM [TO]' lists the 4 KiB
# blocks changed between two snapshots (or since one), from the marks
# alone: every block written in between, every block whose bytes differ,
# and no block that was not written, trimmed or zeroed in between.
#
# A 32 MiB vdisk is filled, snapshotted (s1), then written at random
# offsets and lengths (partial blocks, whole blocks, across segments),
# trimmed and zeroed in part; s2 is taken, more writes follow, s3, and
# a few more writes.  The diffs s1..s2, s2..s3, s1..s3, s3..now and
# s1..now must equal the blocks each interval touched, computed by the
# test (written <= diff <= written, trimmed or zeroed), and cover every
# block whose bytes differ between the two points.  Deleting s2 merges its marks into s3's,
# so s1..s3 stays exact.  A kill -9 in the middle of a writer that
# flushes now and then: after the restart s3..now still covers every
# block that differs from s3.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires jq nbdcopy nbdinfo
requires_python_nbd

s=$sm_tmpdir/s
start_segmap "$s"
segctl "$s" container add c "$sm_tmpdir/c.img" 1G >/dev/null ||
  fail "container add failed"
segctl "$s" vdisk create v 32M --container c >/dev/null ||
  fail "vdisk create failed"

# nbdpy SCRIPT [ARGS]: python with h connected to export $EXPORT.
nbdpy ()
{
  "$PYTHON" - "$s/nbd.sock" "$EXPORT" "$sm_tmpdir" <<PYEOF
import json, os, random, sys, nbd
h = nbd.NBD()
h.set_export_name(sys.argv[2])
h.connect_unix(sys.argv[1])
tmp = sys.argv[3]
SIZE = 32 << 20
B = 4096
def touched(off, n):
    return set(range(off // B, (off + n + B - 1) // B))
def save(name, blocks):
    json.dump(sorted(blocks), open(os.path.join(tmp, name), "w"))
def load(name):
    return set(json.load(open(os.path.join(tmp, name))))
$1
h.shutdown()
PYEOF
}

# A round of random writes, trims and zeroes: the blocks written go to
# file NAME.w, those written, trimmed or zeroed to NAME.t.
round ()
{
  EXPORT=v nbdpy "
rng = random.Random($2)
t, w = set(), set()
for i in range(300):
    off = rng.randrange(0, SIZE - 1)
    n = min(rng.choice([1, 100, 4096, 5000, 70000, 1 << 20]), SIZE - off)
    op = rng.random()
    if op < 0.8:
        h.pwrite(bytes([rng.randrange(1, 256)]) * n, off)
        w |= touched(off, n)
    elif op < 0.9:
        h.trim(n, off)
    else:
        h.zero(n, off)
    t |= touched(off, n)
h.flush()
save('$1.t', t)
save('$1.w', w)" || fail "round $1 failed"
}

# expect_diff FROM TO ROUND...: the diff holds every block the rounds
# wrote, only blocks they wrote, trimmed or zeroed, and every block
# whose bytes differ between v@FROM and v@TO (or v).
expect_diff ()
{
  local from=$1 to=$2; shift 2
  segctl "$s" --json vdisk diff v "$from" $to >"$sm_tmpdir/diff.json" ||
    fail "vdisk diff v $from $to failed"
  EXPORT=v nbdpy "
d = json.load(open(os.path.join(tmp, 'diff.json')))
got = set()
for r in d['ranges']:
    assert r['offset'] % B == 0 and r['length'] % B == 0, r
    got |= set(range(r['offset'] // B, (r['offset'] + r['length']) // B))
w, t = set(), set()
for f in '$*'.split():
    w |= load(f + '.w')
    t |= load(f + '.t')
assert w <= got, 'diff $from..$to misses written blocks %s' % sorted(w - got)[:10]
assert got <= t, 'diff $from..$to lists untouched blocks %s' % sorted(got - t)[:10]
a = nbd.NBD(); a.set_export_name('v@$from'); a.connect_unix(sys.argv[1])
if '$to':
    b = nbd.NBD(); b.set_export_name('v@$to'); b.connect_unix(sys.argv[1])
else:
    b = h
for off in range(0, SIZE, 1 << 20):
    x, y = a.pread(1 << 20, off), b.pread(1 << 20, off)
    for k in range(0, 1 << 20, B):
        assert x[k:k + B] == y[k:k + B] or (off + k) // B in got, 'block %d differs, not in the diff' % ((off + k) // B)
print('diff $from..${to:-now}: %d blocks (%d written, %d touched)' % (len(got), len(w), len(t)))" ||
    fail "vdisk diff v $from $to is wrong"
}

EXPORT=v nbdpy "
for off in range(0, SIZE, 1 << 20):
    h.pwrite(bytes([off >> 20 | 1]) * (1 << 20), off)
h.flush()" || fail "fill failed"
segctl "$s" snapshot create v s1 >/dev/null || fail "snapshot s1 failed"
round r1 1
segctl "$s" snapshot create v s2 >/dev/null || fail "snapshot s2 failed"
round r2 2
segctl "$s" snapshot create v s3 >/dev/null || fail "snapshot s3 failed"
round r3 3

expect_diff s1 s2 r1
expect_diff s2 s3 r2
expect_diff s1 s3 r1 r2
expect_diff s3 "" r3
expect_diff s1 "" r1 r2 r3
segctl "$s" vdisk diff v s3 s1 >/dev/null || fail "diff s3..s1 (backwards) failed"
segctl "$s" vdisk diff v nosuch 2>/dev/null && fail "diff from a missing snapshot worked"
segctl "$s" snapshot delete v s2 >/dev/null || fail "snapshot delete s2 failed"
expect_diff s1 s3 r1 r2
expect_diff s1 "" r1 r2 r3
segctl "$s" check >/dev/null || fail "check failed"

# The incremental backup of segmap(7): a full copy of s1, the changes
# s1..s3 through the export v@s1..s3 with its ranges, and a restore
# (the full copy, then each range dd'ed over it) that reproduces s3.
uri () { echo "nbd+unix:///$1?socket=$s/nbd.sock"; }
nbdcopy "$(uri v@s1)" "$sm_tmpdir/full.img" || fail "full backup failed"
nbdcopy "$(uri v@s1..s3)" "$sm_tmpdir/inc.img" || fail "nbdcopy of v@s1..s3 failed"
segctl "$s" vdisk diff v s1 s3 >"$sm_tmpdir/inc.map" || fail "diff failed"
nbdinfo --map --json "$(uri v@s1..s3)" |
  jq -r '.[] | select(.type == 0) | "\(.offset) \(.length)"' \
    >"$sm_tmpdir/nbd.map" || fail "nbdinfo --map failed"
cmp -s "$sm_tmpdir/inc.map" "$sm_tmpdir/nbd.map" ||
  fail "the data extents of v@s1..s3 are not the diff: $(diff "$sm_tmpdir/inc.map" "$sm_tmpdir/nbd.map" | head -5)"
[ "$(du -k "$sm_tmpdir/inc.img" | cut -f1)" -lt 32768 ] ||
  fail "the increment is not sparse"
cp "$sm_tmpdir/full.img" "$sm_tmpdir/restore.img"
while read -r off len; do
  dd if="$sm_tmpdir/inc.img" of="$sm_tmpdir/restore.img" bs=4096 \
     skip=$((off / 4096)) seek=$((off / 4096)) count=$((len / 4096)) \
     conv=notrunc status=none || fail "dd failed"
done <"$sm_tmpdir/inc.map"
nbdcopy "$(uri v@s3)" "$sm_tmpdir/s3.img" || fail "copy of s3 failed"
cmp "$sm_tmpdir/restore.img" "$sm_tmpdir/s3.img" ||
  fail "full + increment does not restore s3"
echo "incremental backup: $(wc -l <"$sm_tmpdir/inc.map") ranges, increment $(du -k "$sm_tmpdir/inc.img" | cut -f1) KiB of 32 MiB"

# A kill -9 in the middle of writes: the diff still covers every block
# that differs from s3, and every block it lists was touched.
EXPORT=v nbdpy "
rng = random.Random(4)
t = set()
save('r4.t', t)
for i in range(2000):
    off = rng.randrange(0, SIZE - B)
    n = rng.choice([512, 4096, 9000])
    n = min(n, SIZE - off)
    t |= touched(off, n)
    if i % 50 == 0:
        save('r4.t', t)
    h.pwrite(bytes([rng.randrange(1, 256)]) * n, off)
    if i % 100 == 99:
        h.flush()
save('r4.t', t)" &
wpid=$!
sleep 1
kill_segmap "$s"
wait "$wpid" 2>/dev/null || true
start_segmap "$s"
segctl "$s" --json vdisk diff v s3 >"$sm_tmpdir/diff.json" ||
  fail "vdisk diff after the kill failed"
EXPORT=v nbdpy "
d = json.load(open(os.path.join(tmp, 'diff.json')))
got = set()
for r in d['ranges']:
    got |= set(range(r['offset'] // B, (r['offset'] + r['length']) // B))
a = nbd.NBD(); a.set_export_name('v@s3'); a.connect_unix(sys.argv[1])
for off in range(0, SIZE, 1 << 20):
    x, y = a.pread(1 << 20, off), h.pread(1 << 20, off)
    for k in range(0, 1 << 20, B):
        if x[k:k + B] != y[k:k + B]:
            assert (off + k) // B in got, 'block %d differs from s3, not in the diff' % ((off + k) // B)
print('after the kill: %d blocks in the diff' % len(got))" ||
  fail "the diff after a kill misses a changed block"
segctl "$s" check >/dev/null || fail "check failed after the kill"
