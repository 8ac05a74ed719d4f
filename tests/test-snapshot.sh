#!/usr/bin/env bash
# Snapshots (forward delta): `snapshot create' shares the vdisk's
# segments, a later write copies a shared segment (copy-on-write: the
# new blocks at a new segment at once, the rest copied in the
# background), and VDISK@SNAP keeps reading the bytes of the moment it
# was taken.
#
# A 16 MiB vdisk (1 MiB segments) is filled with a pattern and a
# snapshot taken.  The vdisk is then overwritten in part: partial
# blocks, whole blocks inside a segment, a whole segment, and a range
# across a segment boundary.  The snapshot must still read the
# pattern, the vdisk the pattern with the overwrites; the snapshot
# export refuses writes and is not an iSCSI target; check passes after
# every step.  Then a second
# round of overwrites runs while the server is killed (SIGKILL) in the
# middle of copy-on-write activity; after a restart the snapshot still
# reads the pattern, the vdisk every flushed write, and the copies
# resume to the end.  Deleting the snapshot frees what only it held.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires jq iscsi-ls
requires_python_nbd

s=$sm_tmpdir/s
# (iSCSI on: a snapshot must not show up as an iSCSI target)
start_segmap_iscsi "$s" 1
segctl "$s" container add c "$sm_tmpdir/c.img" 256M >/dev/null ||
  fail "container add failed"
segctl "$s" vdisk create v 16M --container c >/dev/null ||
  fail "vdisk create failed"

# nbdpy DIR SCRIPT: run python SCRIPT with h connected to export $EXPORT
# of DIR's server, and helpers pattern (offset, len) and overwrite
# (offset, len, round).
nbdpy ()
{
  "$PYTHON" - "$1/nbd.sock" "$EXPORT" <<PYEOF
import sys, nbd
h = nbd.NBD()
h.set_export_name(sys.argv[2])
h.connect_unix(sys.argv[1])
def pattern(off, n):
    return bytes(((i * 7 + i // 4096) & 0xff) for i in range(off, off + n))
def overwrite(off, n, r):
    return bytes(((i * 13 + r) & 0xff) | 1 for i in range(off, off + n))
M = 1 << 20
$2
h.shutdown()
PYEOF
}

check_ok ()
{
  segctl "$s" check >/dev/null || fail "check failed: $1"
}

EXPORT=v nbdpy "$s" '
for seg in range(16):
    h.pwrite(pattern(seg * M, M), seg * M)
h.flush()' || fail "filling the vdisk failed"
check_ok "after filling"

segctl "$s" snapshot create v s1 >/dev/null || fail "snapshot create failed"
targets=$(iscsi-ls -i iqn.2024-01.test:snap "iscsi://${SM_ISCSI_PORTALS[0]}" \
            2>/dev/null | sed -n 's/^Target:\([^ ]*\) .*/\1/p')
grep -qx "$(iscsi_iqn v)" <<<"$targets" && ! grep -q @ <<<"$targets" ||
  fail "iSCSI targets after a snapshot: $targets (want v's, no snapshot)"
# A snapshot is an iSCSI target (PREFIX:v:s1) only for a host granted
# v@s1: read-only, the snapshot's bytes.
segctl "$s" iscsi host-add h1 iqn.2024-01.test:snap v v@s1 >/dev/null ||
  fail "iscsi host-add with a snapshot failed"
targets=$(iscsi-ls -i iqn.2024-01.test:snap "iscsi://${SM_ISCSI_PORTALS[0]}" \
            2>/dev/null | sed -n 's/^Target:\([^ ]*\) .*/\1/p')
grep -qx "$SM_ISCSI_PREFIX:v:s1" <<<"$targets" ||
  fail "a granted snapshot is not an iSCSI target: $targets"
"$PYTHON" - "${SM_ISCSI_PORTALS[0]}" "$SM_ISCSI_PREFIX:v:s1" \
  "$abs_top_srcdir/tests/iscsi-raw.py" <<'PYEOF' || fail "v:s1 over iSCSI"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("iscsi_raw", sys.argv[3])
raw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(raw)
s = raw.open_session(sys.argv[1], sys.argv[2], "iqn.2024-01.test:snap")
def pattern(off, n):
    return bytes(((i * 7 + i // 4096) & 0xff) for i in range(off, off + n))
status, sense, data = s.read(6144, 8)
assert status == 0 and data == pattern(6144 * s.block_size, 8 * s.block_size), "read"
status, sense, _ = s.write(0, b"x" * s.block_size)
assert status == 2 and sense[:2] == (7, 0x27), "write: %r %r" % (status, sense)
PYEOF
segctl "$s" iscsi host-remove h1 >/dev/null || fail "host-remove failed"
segctl "$s" snapshot create v s1 2>/dev/null &&
  fail "a second snapshot with the same name was accepted"
segctl "$s" snapshot create v 'a..b' 2>/dev/null &&
  fail "a snapshot name with .. was accepted"
segctl "$s" vdisk create 'x..y' 1M 2>/dev/null &&
  fail "a vdisk name with .. was accepted"
segctl "$s" --json snapshot list v |
  jq -e 'length == 1 and .[0].name == "s1" and .[0].vdisk == "v"
         and .[0].size == 16777216' >/dev/null ||
  fail "snapshot list: $(segctl "$s" --json snapshot list v)"
segctl "$s" --json vdisk list | jq -e '[.[].name] | index("v@s1") == null' \
  >/dev/null || fail "vdisk list shows the snapshot"
check_ok "after snapshot create"

# The overwrites of round R: (offset, length) pairs.
writes='[(100, 10), (M + 4096, 8192), (3 * M, M), (5 * M - 6000, 12000),
         (7 * M + 123, 4000), (9 * M + M - 4096, 4096)]'

EXPORT=v nbdpy "$s" "
for off, n in $writes:
    h.pwrite(overwrite(off, n, 1), off)
h.flush()" || fail "overwriting the vdisk failed"

# expect_round DIR R: the vdisk reads the pattern with round R's
# overwrites (R = 0: none), the snapshot the pattern.
expect_round ()
{
  EXPORT=v@s1 nbdpy "$1" '
for seg in range(16):
    assert h.pread(M, seg * M) == pattern(seg * M, M), "snapshot segment %d" % seg
assert h.is_read_only(), "the snapshot export is writable"' || fail "the snapshot does not read the old bytes"
  EXPORT=v nbdpy "$1" "
want = bytearray(pattern(0, 16 * M))
for r in range(1, $2 + 1):
    for off, n in $writes:
        want[off:off + n] = overwrite(off, n, r)
got = b''.join(h.pread(M, seg * M) for seg in range(16))
for seg in range(16):
    assert got[seg * M:(seg + 1) * M] == want[seg * M:(seg + 1) * M], 'vdisk segment %d' % seg" ||
    fail "the vdisk does not read the new bytes (round $2)"
}

expect_round "$s" 1
EXPORT=v@s1 nbdpy "$s" '
try:
    h.pwrite(b"x" * 512, 0)
    raise SystemExit("a write to the snapshot succeeded")
except nbd.Error:
    pass' || fail "the snapshot export took a write"
check_ok "after copy-on-write"

# Let the copier finish, then no movement is left.
for (( i = 0; i < 100; i++ )); do
  n=$(sqlite3 "$s/segmap.db" "SELECT count (*) FROM movement" 2>/dev/null) &&
    [ "$n" = 0 ] && break
  sleep 0.1
done
[ "$n" = 0 ] || fail "$n copy-on-write movements still pending"

# A second snapshot, overwrites with flush, then a kill in the middle of
# copy-on-write activity.
segctl "$s" snapshot create v s2 >/dev/null || fail "snapshot create s2 failed"
# The tree and the space: s2 derives from s1; the segments round 1
# copied are s1's alone; all of v's are shared with s2 now.
segctl "$s" --json snapshot list v | jq -e --argjson M $MiB '
  (.[] | select(.name == "s1") | .parent == null and .exclusive > 0
        and .exclusive + .shared == 16 * $M) and
  (.[] | select(.name == "s2") | .parent == "v@s1" and .exclusive == 0
        and .shared == 16 * $M)' >/dev/null ||
  fail "snapshot list: $(segctl "$s" --json snapshot list v)"
segctl "$s" --json vdisk list | jq -e --argjson M $MiB '
  .[] | select(.name == "v") | .exclusive == 0 and .shared == 16 * $M' \
  >/dev/null || fail "vdisk list: $(segctl "$s" --json vdisk list)"
EXPORT=v nbdpy "$s" "
for off, n in $writes:
    h.pwrite(overwrite(off, n, 2), off)
h.flush()" || fail "round 2 failed"
# (the flush committed the movements: say whether the kill cuts any)
pending=$(sqlite3 "$s/segmap.db" "SELECT count (*) FROM movement" 2>/dev/null)
kill_segmap "$s"
echo "copy-on-write movements committed at the kill: ${pending:-unknown}"
start_segmap "$s"
check_ok "after the kill"
expect_round "$s" 2
EXPORT=v@s2 nbdpy "$s" "
want = bytearray(pattern(0, 16 * M))
for off, n in $writes:
    want[off:off + n] = overwrite(off, n, 1)
for seg in range(16):
    assert h.pread(M, seg * M) == bytes(want[seg * M:(seg + 1) * M]), 'snapshot s2 segment %d' % seg" ||
  fail "snapshot s2 does not read round 1's bytes after the kill"
for (( i = 0; i < 100; i++ )); do
  n=$(sqlite3 "$s/segmap.db" "SELECT count (*) FROM movement" 2>/dev/null) &&
    [ "$n" = 0 ] && break
  sleep 0.1
done
[ "$n" = 0 ] || fail "$n copy-on-write movements not resumed after the kill"
check_ok "after the resumed copies"

segctl "$s" vdisk delete v 2>/dev/null &&
  fail "a vdisk with snapshots was deleted"
segctl "$s" snapshot delete v s1 >/dev/null || fail "snapshot delete s1 failed"
segctl "$s" snapshot delete v s2 >/dev/null || fail "snapshot delete s2 failed"
segctl "$s" --json snapshot list | jq -e 'length == 0' >/dev/null ||
  fail "snapshots left after delete"
# Writes to rows still NOWRITE whose segments are no longer shared.
EXPORT=v nbdpy "$s" "
for off, n in $writes:
    h.pwrite(overwrite(off, n, 3), off)
h.flush()" || fail "round 3 failed"
expect_round_3 ()
{
  EXPORT=v nbdpy "$s" "
want = bytearray(pattern(0, 16 * M))
for r in (1, 2, 3):
    for off, n in $writes:
        want[off:off + n] = overwrite(off, n, r)
assert b''.join(h.pread(M, seg * M) for seg in range(16)) == bytes(want)" ||
    fail "the vdisk does not read round 3"
}
expect_round_3
check_ok "after snapshot delete"
