#!/usr/bin/env bash
# Consistency groups: `snapshot create-group SNAP VDISK...' snapshots
# several vdisks at one point in time, across NBD and iSCSI.
#
# A stamped writer (tests/group-writer.py) writes three vdisks one
# block at a time in one strict sequence, vdisk a through iSCSI and b
# and c through NBD.  Group snapshots are taken while it runs; each must
# hold a prefix of the sequence (every write before some K, none
# after), which only holds if all three were paused at once.  From the
# second snapshot on, the writes since the previous one are still being
# copied (copy-on-write) when the next is asked for: the command waits
# for those copies with the vdisks paused.  A group naming a missing
# vdisk, or one vdisk twice, takes nothing.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires jq
requires_python_nbd

s=$sm_tmpdir/s
start_segmap_iscsi "$s" 1
segctl "$s" container add c0 "$sm_tmpdir/c0.img" 8G >/dev/null ||
  fail "container add failed"
# Big enough that the copies of the writes since a snapshot are still
# running when the next one is asked for.
export GROUP_VDISK_MIB=64
for v in a b c; do
  segctl "$s" vdisk create "$v" "${GROUP_VDISK_MIB}M" --container c0 >/dev/null ||
    fail "vdisk create $v failed"
done

segctl "$s" snapshot create-group g a nosuch 2>/dev/null &&
  fail "a group naming a missing vdisk was taken"
segctl "$s" snapshot create-group g a b a 2>/dev/null &&
  fail "a group naming a vdisk twice was taken"
segctl "$s" --json snapshot list | jq -e 'length == 0' >/dev/null ||
  fail "a refused group left snapshots: $(segctl "$s" snapshot list)"

writer=$abs_top_srcdir/tests/group-writer.py
stop=$sm_tmpdir/stop
"$PYTHON" "$writer" write "$s/nbd.sock" "${SM_ISCSI_PORTALS[0]}" \
  "$SM_ISCSI_PREFIX" "$stop" a b c >"$sm_tmpdir/writes" 2>"$sm_tmpdir/writer.err" &
wpid=$!
cleanup_fn kill "$wpid"
rounds=5
for (( r = 1; r <= rounds; r++ )); do
  sleep 0.7
  segctl "$s" snapshot create-group "g$r" a b c >/dev/null ||
    fail "group snapshot g$r failed"
done
touch "$stop"
wait "$wpid" || fail "the writer failed: $(cat "$sm_tmpdir/writer.err")"
total=$(cat "$sm_tmpdir/writes")

prev=0
for (( r = 1; r <= rounds; r++ )); do
  k=$("$PYTHON" "$writer" verify "$s/nbd.sock" "g$r" a b c) ||
    fail "group snapshot g$r is not consistent: $k"
  echo "g$r holds the first $k of $total writes"
  (( k > prev )) || fail "g$r holds no write after g$((r - 1)) ($k <= $prev)"
  prev=$k
done
(( prev < total )) || fail "the writer wrote nothing after the last group"
segctl "$s" --json snapshot list |
  jq -e "length == 3 * $rounds" >/dev/null || fail "snapshot list: wrong count"
segctl "$s" check >/dev/null || fail "check failed"
