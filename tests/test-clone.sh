#!/usr/bin/env bash
# Writable clones, rollback and clone flatten (sql/007).
#
# A 16 MiB vdisk v (1 MiB segments) is filled with a pattern and
# snapshot s1 taken; clone c1 is made from it.  The clone and the origin
# are then written (different ranges and bytes), and all three -- v@s1,
# v and c1 -- must read what was written to each and nothing of the
# others'.  The clone is an ordinary vdisk: an iSCSI target, read back
# over iSCSI with qemu-img when its iscsi driver is installed.  A
# snapshot of the clone keeps the clone's bytes of its moment (a tree
# v -> v@s1 -> c1 -> c1@cs1).  Rollback makes v read s1 again, also
# after v grew (it takes s1's size).  Flatten runs as a job (job wait,
# job list); afterwards c1 shares no segment and is no longer linked to
# s1, and deleting s1 and v leaves it (and clone c2, not flattened)
# intact.  Finally a flatten of a 128 MiB clone (2048 segments of 64
# KiB) is paused, the server killed (SIGKILL) and restarted (the job
# stays paused), the job resumed, the clone written while it runs, and
# the server killed again in the middle; after the restart the job
# completes by itself, the clone shares nothing and reads its bytes.
# A cancelled flatten leaves the clone reading its bytes and linked
# (another flatten, stopped and restarted cleanly, then completes it);
# the job of a deleted vdisk fails.  `segmapctl check' passes after every step.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires jq sqlite3 iscsi-ls
requires_python_nbd
set -o pipefail

s=$sm_tmpdir/s
start_segmap_iscsi "$s" 1
segctl "$s" container add c "$sm_tmpdir/c.img" 512M >/dev/null ||
  fail "container add failed"
segctl "$s" vdisk create v 16M --container c >/dev/null ||
  fail "vdisk create failed"

# nbdpy SCRIPT: run python SCRIPT with h connected to export $EXPORT,
# helpers pattern (offset, len: 4 KiB aligned) and overwrite (offset,
# len, round), M = 1 MiB.
nbdpy ()
{
  "$PYTHON" - "$s/nbd.sock" "$EXPORT" <<PYEOF
import sys, nbd
h = nbd.NBD()
h.set_export_name(sys.argv[2])
h.connect_unix(sys.argv[1])
M = 1 << 20
def blk(b):
    return bytes(((b * 31 + k * 7) & 0xff) for k in range(16)) * 256
def pattern(off, n):
    return b''.join(blk(b) for b in range(off // 4096, (off + n) // 4096))
def overwrite(off, n, r):
    return bytes(((i * 13 + r) & 0xff) | 1 for i in range(off, off + n))
def expect(size, rounds):
    want = bytearray(pattern(0, size))
    for off, n, r in rounds:
        want[off:off + n] = overwrite(off, n, r)
    return bytes(want)
def read_all(size):
    return b''.join(h.pread(M, o) for o in range(0, size, M))
def fill(size):
    for o in range(0, size, 16 * M):
        h.pwrite(pattern(o, 16 * M), o)
    h.flush()
$1
h.shutdown()
PYEOF
}

# again ARGS...: segctl ARGS, again while the server answers "try
# again" (a copy-on-write of the vdisk is still copying).
again ()
{
  local i err
  for (( i = 0; i < 100; i++ )); do
    if segctl "$s" "$@" 2>"$sm_tmpdir/again.err"; then return 0; fi
    err=$(cat "$sm_tmpdir/again.err")
    grep -q "try again" <<<"$err" || break
    sleep 0.1
  done
  echo "$err" >&2
  return 1
}

check_ok ()
{
  segctl "$s" check >/dev/null || fail "check failed: $1"
}

# Round V of writes to the origin, round C to the clone: (off, len).
vw='[(100, 10, 1), (3 * M, M, 1), (5 * M - 6000, 12000, 1)]'
cw='[(M + 4096, 8192, 2), (3 * M + 512, 1000, 2), (9 * M + M - 4096, 4096, 2)]'
cw2='[(2 * M, 4096, 3), (15 * M, M, 3)]'

EXPORT=v nbdpy 'fill(16 * M)' ||
  fail "filling v failed"
segctl "$s" snapshot create v s1 >/dev/null || fail "snapshot create failed"
segctl "$s" clone create v s1 c1 >/dev/null || fail "clone create failed"
check_ok "after clone create"

# Bad input.
segctl "$s" clone create v s1 c1 2>/dev/null &&
  fail "a clone with an existing name was accepted"
segctl "$s" clone create v nosuch c9 2>/dev/null &&
  fail "a clone of a missing snapshot was accepted"
segctl "$s" clone create v s1 'c@1' 2>/dev/null &&
  fail "a clone name with @ was accepted"
segctl "$s" clone create c1 s1 c9 2>/dev/null &&
  fail "a clone of another vdisk's snapshot was accepted"
segctl "$s" snapshot rollback v nosuch 2>/dev/null &&
  fail "a rollback to a missing snapshot was accepted"
segctl "$s" job wait 999 2>/dev/null && fail "job wait of no job succeeded"

segctl "$s" --json vdisk info c1 |
  jq -e '.clone_of == "v@s1" and .size == 16777216 and .mapped_segments == 16' \
  >/dev/null || fail "vdisk info c1: $(segctl "$s" --json vdisk info c1)"
n=$(sqlite3 "$s/segmap.db" "SELECT count (*) FROM segment WHERE refcount = 3")
[ "$n" = 16 ] || fail "$n segments shared by v, v@s1 and c1 (want 16)"

EXPORT=c1 nbdpy "
for off, n, r in $cw:
    h.pwrite(overwrite(off, n, r), off)
h.flush()" || fail "writing the clone failed"
EXPORT=v nbdpy "
for off, n, r in $vw:
    h.pwrite(overwrite(off, n, r), off)
h.flush()" || fail "writing the origin failed"

# expect EXPORT SIZE ROUNDS WHAT
expect ()
{
  EXPORT=$1 nbdpy "assert h.get_size() == $2, h.get_size()
assert read_all($2) == expect($2, $3)" || fail "$1 does not read $4"
}
expect v@s1 16*M '[]' "the pattern"
expect v 16*M "$vw" "the origin's writes"
expect c1 16*M "$cw" "the clone's writes"
check_ok "after writing the clone and the origin"

# The clone over iSCSI: a target like any vdisk.
targets=$(iscsi-ls -i iqn.2024-01.test:clone \
            "iscsi://${SM_ISCSI_PORTALS[0]}" 2>/dev/null |
            sed -n 's/^Target:\([^ ]*\) .*/\1/p')
grep -qx "$(iscsi_iqn c1)" <<<"$targets" ||
  fail "the clone is not an iSCSI target: $targets"
if qemu-img --help 2>/dev/null | grep -q '^Supported formats:.* iscsi'; then
  qemu-img convert -f raw -O raw \
    "$(iscsi_url "${SM_ISCSI_PORTALS[0]}" c1)" "$sm_tmpdir/c1.raw" ||
    fail "qemu-img could not read the clone over iSCSI"
  EXPORT=c1 nbdpy "
assert open('$sm_tmpdir/c1.raw', 'rb').read() == expect(16 * M, $cw)" ||
    fail "the clone read over iSCSI differs"
  rm -f "$sm_tmpdir/c1.raw"
else
  echo "qemu-img has no iscsi driver: the clone's bytes not read over iSCSI"
fi

# A snapshot of the clone, then more writes to the clone.
again snapshot create c1 cs1 >/dev/null ||
  fail "snapshot of the clone failed"
EXPORT=c1 nbdpy "
for off, n, r in $cw2:
    h.pwrite(overwrite(off, n, r), off)
h.flush()" || fail "writing the clone again failed"
expect c1@cs1 16*M "$cw" "the clone's bytes when it was taken"
expect c1 16*M "$cw + $cw2" "both rounds of the clone's writes"
check_ok "after a snapshot of the clone"

# Rollback: v reads s1 again; after growing, it takes s1's size.
again snapshot rollback v s1 >/dev/null || fail "rollback failed"
expect v 16*M '[]' "s1 after the rollback"
expect c1 16*M "$cw + $cw2" "its writes after the origin's rollback"
check_ok "after rollback"
segctl "$s" vdisk resize v 20M >/dev/null || fail "resize failed"
EXPORT=v nbdpy "
h.pwrite(overwrite(0, 4096, 4), 0)
h.pwrite(overwrite(18 * M, 4096, 4), 18 * M)
h.flush()" || fail "writing v after the resize failed"
again --json snapshot rollback v s1 | jq -e '.size == 16777216' \
  >/dev/null || fail "rollback after the resize failed"
expect v 16*M '[]' "s1 after a rollback that shrank it"
check_ok "after a rollback that shrank v"

# Flatten c1 (a job); c2, a second clone of s1, stays shared.
segctl "$s" clone create v s1 c2 >/dev/null || fail "clone create c2 failed"
id=$(segctl "$s" --json clone flatten c1 | jq -r .id) ||
  fail "clone flatten failed"
segctl "$s" job wait "$id" >"$sm_tmpdir/wait.out" ||
  fail "job wait $id failed: $(cat "$sm_tmpdir/wait.out")"
grep -q "done" "$sm_tmpdir/wait.out" ||
  fail "job wait printed no end: $(cat "$sm_tmpdir/wait.out")"
segctl "$s" --json job list |
  jq -e --argjson id "$id" '.[] | select(.id == $id) |
         .kind == "flatten" and .vdisk == "c1" and .state == "done"
         and .done == .total and .total > 0' >/dev/null ||
  fail "job list: $(segctl "$s" --json job list)"
n=$(sqlite3 "$s/segmap.db" "SELECT count (*) FROM map m JOIN segment g
      ON g.container_id = m.container_id AND g.unit = m.unit
      WHERE m.vdisk_id = (SELECT id FROM vdisk WHERE name = 'c1')
        AND g.refcount > 1")
[ "$n" = 0 ] || fail "c1 still shares $n segments after flatten"
segctl "$s" --json vdisk info c1 | jq -e 'has("clone_of") | not' >/dev/null ||
  fail "c1 is still linked after flatten"
segctl "$s" job cancel "$id" 2>/dev/null && fail "a done job was cancelled"
expect c1 16*M "$cw + $cw2" "its bytes after flatten"
check_ok "after flatten"

# Delete the snapshot and the origin: both clones stay intact.
segctl "$s" snapshot delete v s1 >/dev/null || fail "snapshot delete failed"
segctl "$s" --json vdisk info c2 | jq -e 'has("clone_of") | not' >/dev/null ||
  fail "c2 still names its deleted snapshot"
segctl "$s" vdisk delete v >/dev/null || fail "vdisk delete v failed"
expect c1 16*M "$cw + $cw2" "its bytes after its origin went"
expect c1@cs1 16*M "$cw" "its bytes after its origin went"
expect c2 16*M '[]' "s1's bytes after s1 and v went"
check_ok "after deleting the snapshot and the origin"

# A flatten cut by kill -9, paused and running.
segctl "$s" vdisk create w 128M --container c --segment-size 64K >/dev/null ||
  fail "vdisk create w failed"
EXPORT=w nbdpy 'fill(128 * M)' ||
  fail "filling w failed"
again snapshot create w ws >/dev/null || fail "snapshot of w failed"
segctl "$s" clone create w ws big >/dev/null || fail "clone create big failed"
EXPORT=big nbdpy "h.pwrite(overwrite(64 * M, M, 5), 64 * M); h.flush()" ||
  fail "writing big failed"
id=$(segctl "$s" --json clone flatten big | jq -r .id) ||
  fail "clone flatten big failed"
segctl "$s" job pause "$id" >/dev/null || fail "job pause failed"
job_state ()
{
  sqlite3 "$s/segmap.db" "SELECT state || ' ' || done || '/' || total
                          FROM job WHERE id = $id"
}
kill_segmap "$s"
echo "flatten at the first kill: $(job_state)"
start_segmap "$s"
check_ok "after the first kill"
segctl "$s" --json job list |
  jq -e --argjson id "$id" '.[] | select(.id == $id) | .state == "paused"' \
  >/dev/null || fail "the paused job did not stay paused: $(job_state)"
segctl "$s" job resume "$id" >/dev/null || fail "job resume failed"
bw='[(64 * M, M, 5), (M + 100, 70000, 6), (100 * M, 4096, 6), (127 * M, M, 6)]'
EXPORT=big nbdpy "
for off, n, r in $bw[1:]:
    h.pwrite(overwrite(off, n, r), off)
h.flush()" || fail "writing big during the flatten failed"
# (kill once more progress than at the first kill is committed)
done1=$(sqlite3 "$s/segmap.db" "SELECT done FROM job WHERE id = $id")
for (( i = 0; i < 200; i++ )); do
  d=$(sqlite3 "$s/segmap.db" "SELECT done FROM job WHERE id = $id" \
        2>/dev/null) && [ "${d:-0}" -gt "$done1" ] && break
  sleep 0.05
done
kill_segmap "$s"
echo "flatten at the second kill: $(job_state)"
start_segmap "$s"
check_ok "after the second kill"
segctl "$s" job wait "$id" >/dev/null || fail "the flatten did not complete"
n=$(sqlite3 "$s/segmap.db" "SELECT count (*) FROM map m JOIN segment g
      ON g.container_id = m.container_id AND g.unit = m.unit
      WHERE m.vdisk_id = (SELECT id FROM vdisk WHERE name = 'big')
        AND g.refcount > 1")
[ "$n" = 0 ] || fail "big still shares $n segments after flatten"
expect big 128*M "$bw" "its bytes after the flatten's kills"
expect w@ws 128*M '[]' "the pattern after the flatten's kills"
check_ok "after the resumed flatten"

# Cancel: the clone keeps reading its bytes and its link, and a new
# flatten finishes the work.  A job whose vdisk is deleted fails.
segctl "$s" clone create w ws c3 >/dev/null || fail "clone create c3 failed"
id=$(segctl "$s" --json clone flatten c3 | jq -r .id) ||
  fail "clone flatten c3 failed"
segctl "$s" job cancel "$id" >/dev/null || fail "job cancel failed"
segctl "$s" job wait "$id" >/dev/null 2>&1 &&
  fail "job wait of a cancelled job exited 0"
segctl "$s" --json job list |
  jq -e --argjson id "$id" '.[] | select(.id == $id) |
         .state == "cancelled" and .done < .total' >/dev/null ||
  fail "cancelled job: $(segctl "$s" --json job list)"
segctl "$s" job resume "$id" 2>/dev/null && fail "a cancelled job resumed"
segctl "$s" --json vdisk info c3 | jq -e '.clone_of == "w@ws"' >/dev/null ||
  fail "c3 lost its link after a cancelled flatten"
check_ok "after a cancelled flatten"
expect c3 128*M '[]' "the pattern after a cancelled flatten"
id=$(segctl "$s" --json clone flatten c3 | jq -r .id) ||
  fail "clone flatten c3 again failed"
segctl "$s" clone flatten c3 2>/dev/null &&
  fail "a second flatten job of one vdisk was accepted"
# (a clean restart in the middle: the job carries on too)
stop_segmap "$s"
echo "flatten at a clean stop: $(job_state)"
start_segmap "$s"
segctl "$s" job wait "$id" >/dev/null || fail "the second flatten failed"
expect c3 128*M '[]' "the pattern after the second flatten"

segctl "$s" clone create w ws c4 >/dev/null || fail "clone create c4 failed"
id=$(segctl "$s" --json clone flatten c4 | jq -r .id) ||
  fail "clone flatten c4 failed"
segctl "$s" job pause "$id" >/dev/null || fail "job pause c4 failed"
segctl "$s" vdisk delete c4 >/dev/null || fail "vdisk delete c4 failed"
segctl "$s" --json job list |
  jq -e --argjson id "$id" '.[] | select(.id == $id) |
         .state == "failed" and (.error | test("deleted"))' >/dev/null ||
  fail "job of a deleted vdisk: $(segctl "$s" --json job list)"
check_ok "after deleting a vdisk being flattened"
