#!/usr/bin/env bash
# kill -9 in the middle of `snapshot rollback': afterwards the vdisk
# reads either its bytes from before the rollback (flushed) or the
# snapshot's, segment by segment never anything else, and `segmapctl
# check' passes.
#
# Each round: vdisk vN (64 MiB, 1 MiB segments) is filled with 0x55 and
# flushed, snapshot s1 taken, then the vdisk is overwritten whole with
# 0x66 and flushed (so each of its segments is its own), and after a
# second for the background copies the rollback to s1 is started and
# the server killed 0..9 ms later.
#
# Found by snapshot-model.py's kill -9 cuts (seed 101, cut 3: a
# rollback cut off by the kill; block 43 of v1 read zeros).  The
# rollback frees the segments only the vdisk held in its transaction,
# but ctrl_unref_segment zeroes each freed segment at once, before that
# transaction commits: cut in between, the old map is still there and
# points at zeroed segments, so flushed data is lost (the same early
# zeroing as in test-cbt-discard-crash.sh).
#
#   ROLLBACK_CRASH_ROUNDS   rounds (default 8)

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd

rounds=${ROLLBACK_CRASH_ROUNDS:-8}
s=$sm_tmpdir/s
start_segmap "$s"
segctl "$s" container add c "$s/c.img" 2G >/dev/null ||
  fail "container add failed"

# fill VDISK BYTE: write the vdisk whole with BYTE and flush.
fill ()
{
  "$PYTHON" - "$s/nbd.sock" "$1" "$2" <<'PY'
import sys, nbd
h = nbd.NBD(); h.set_export_name(sys.argv[2]); h.connect_unix(sys.argv[1])
h.pwrite(bytes([int(sys.argv[3])]) * (64 << 20), 0)
h.flush()
PY
}

for (( t = 1; t <= rounds; t++ )); do
  v=v$t
  segctl "$s" vdisk create "$v" 64M --container c --segment-size 1M \
    >/dev/null || fail "vdisk create $v failed"
  fill "$v" $((0x55)) || fail "filling $v failed"
  segctl "$s" snapshot create "$v" s1 >/dev/null ||
    fail "snapshot create $v s1 failed"
  fill "$v" $((0x66)) || fail "overwriting $v failed"
  sleep 1
  segctl "$s" snapshot rollback "$v" s1 >/dev/null 2>&1 &
  cpid=$!
  sleep "0.00$(( t % 10 ))"
  kill_segmap "$s"
  wait "$cpid" 2>/dev/null || true
  start_segmap "$s"
  r=$("$PYTHON" - "$s/nbd.sock" "$v" <<'PY'
import sys, nbd
h = nbd.NBD(); h.set_export_name(sys.argv[2]); h.connect_unix(sys.argv[1])
old, new = b'\x55' * (1 << 20), b'\x66' * (1 << 20)
segs = [h.pread(1 << 20, o << 20) for o in range(64)]
other = [o for o, x in enumerate(segs) if x not in (old, new)]
print(sum(x == old for x in segs), sum(x == new for x in segs), len(other),
      other[:5])
PY
     ) || fail "round $t: reading $v failed"
  echo "round $t: segments of $v reading s1, its own bytes, other: $r"
  # shellcheck disable=SC2086 # the words of the summary
  set -- $r
  [ "$3" = 0 ] ||
    fail "round $t: after a kill -9 during snapshot rollback, $3 segments" \
         "of $v read neither s1's bytes nor its own flushed ones" \
         "(segments ${*:4})"
  segctl "$s" check >/dev/null || fail "round $t: check failed"
done
