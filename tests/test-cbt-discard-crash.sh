#!/usr/bin/env bash
# A whole-segment trim or write-zeroes of a tracked vdisk, cut by kill -9
# before it is flushed, is kept or lost together with its changed-block
# marks: if the segment reads zeros after the restart, `vdisk diff' from
# the snapshot before it lists the segment's blocks.
#
# Each round: a vdisk (8 MiB, 1 MiB segments) is filled and flushed,
# snapshot s1 taken, one block of segment 7 written and flushed (so
# segment 7 is the vdisk's own, written in place from now on), then
# segment 7 zeroed (or trimmed) whole without a flush, and the server
# killed 0..4 ms later by the client.  Found by snapshot-model.py's
# kill -9 cuts (seeds 72, 73, 80): the server zeroed the freed physical
# segment before the transaction that frees it, and marks it, committed.
#
#   CBT_DISCARD_ROUNDS   rounds (default 16, half of them trims)

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd

rounds=${CBT_DISCARD_ROUNDS:-16}
s=$sm_tmpdir/s
start_segmap "$s"
segctl "$s" container add c "$sm_tmpdir/c.img" 1G >/dev/null ||
  fail "container add failed"

zeroed=0
for (( t = 1; t <= rounds; t++ )); do
  v=v$t
  op=$([ $(( t % 2 )) = 0 ] && echo trim || echo zero)
  segctl "$s" vdisk create "$v" 8M --container c --segment-size 1M \
    >/dev/null || fail "vdisk create $v failed"
  "$PYTHON" - "$s/nbd.sock" "$v" <<'PY' || fail "filling $v failed"
import sys, nbd
h = nbd.NBD(); h.set_export_name(sys.argv[2]); h.connect_unix(sys.argv[1])
h.pwrite(b'\x55' * (8 << 20), 0)
h.flush()
PY
  segctl "$s" snapshot create "$v" s1 >/dev/null ||
    fail "snapshot create $v s1 failed"
  "$PYTHON" - "$s/nbd.sock" "$v" "$(server_pid "$s")" "$t" "$op" <<'PY' ||
import os, signal, sys, time, nbd
h = nbd.NBD(); h.set_export_name(sys.argv[2]); h.connect_unix(sys.argv[1])
h.pwrite(b'\x66' * 4096, (7 << 20) + 50 * 4096)
h.flush()
getattr(h, sys.argv[5])(1 << 20, 7 << 20)
time.sleep(int(sys.argv[4]) % 5 * 0.001)
os.kill(int(sys.argv[3]), signal.SIGKILL)
PY
    fail "round $t: the $op failed"
  kill_segmap "$s"
  start_segmap "$s"
  segctl "$s" --json vdisk diff "$v" s1 >"$sm_tmpdir/diff.json" ||
    fail "vdisk diff $v s1 failed"
  r=$("$PYTHON" - "$s/nbd.sock" "$v" "$sm_tmpdir/diff.json" <<'PY'
import json, sys, nbd
h = nbd.NBD(); h.set_export_name(sys.argv[2]); h.connect_unix(sys.argv[1])
seg = h.pread(1 << 20, 7 << 20)
got = set()
for r in json.load(open(sys.argv[3]))["ranges"]:
    got.update(range(r["offset"] // 4096, (r["offset"] + r["length"]) // 4096))
old = b'\x55' * 4096
differ = [b for b in range(7 * 256, 8 * 256)
          if seg[(b - 7 * 256) * 4096:(b - 7 * 256 + 1) * 4096] != old]
missing = [b for b in differ if b not in got]
print("zeroed" if seg[:4096] == bytes(4096) else "kept",
      len(missing), missing[:5])
PY
      ) || fail "round $t: reading $v failed"
  echo "round $t ($op): segment 7 $r"
  case $r in
    "zeroed 0 "*) zeroed=$(( zeroed + 1 )) ;;
    "kept 0 "*) ;;
    *) fail "round $t: after a kill -9 in an unflushed whole-segment" \
            "$op, blocks of $v read other bytes than s1 but are not in" \
            "vdisk diff $v s1 (segment 7: $r)" ;;
  esac
done
echo "$sm_test_name: $rounds rounds, the $zeroed where the discard survived" \
     "listed in the diff"
