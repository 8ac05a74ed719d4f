#!/usr/bin/env bash
# A container fails mid-workload (src/controller/failure.c).
#
# The container `bad' is a file whose I/O really fails on demand: nbdkit's
# file plugin behind its error filter (every request fails with EIO while
# the file INJECT exists), mounted as a file with nbdfuse.  Three vdisks:
# vb on bad, vg on good, vp spread over good,bad (even segments on good,
# odd ones on bad).  All three are filled, then random writes and flushes
# run over them while INJECT appears (failure-workload.py):
#   - vg never sees a failed write or flush; vb and vp may;
#   - `container list' shows bad failed, `status' counts it;
#   - per 4 KiB block, every block of a segment on bad reads EIO and
#     every other block reads its model (so vp serves its good half);
#   - over iSCSI, a read of a block on bad gets CHECK CONDITION, MEDIUM
#     ERROR, UNRECOVERED READ ERROR, with the failing LBA in the sense
#     data, also when the read starts on a good segment before it;
#   - bad stays failed across a restart (`check' passes);
#   - `container online bad' is refused while the I/O still fails, and
#     works once it does not; every block of every vdisk then reads its
#     model, a vdisk fenced for lost writes is made writable again, and
#     writes and flushes work on all three.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd
requires nbdfuse fusermount3
[ -c /dev/fuse ] || skip "no /dev/fuse (FUSE is needed for nbdfuse)"
nbdkit --filter=error null --dump-plugin >/dev/null 2>&1 ||
  skip "nbdkit has no error filter"
set -o pipefail

workload=$(dirname "$0")/failure-workload.py
f=$sm_tmpdir/fuse
s=$sm_tmpdir/s
inject=$f/inject
mkdir -p "$f/mnt" "$s"

# The failing device: nbdkit file + error filter, as a file via nbdfuse.
truncate -s 128M "$f/back.img"
nbdkit -f -U "$f/nbd.sock" -P "$f/nbdkit.pid" --filter=error \
  file "$f/back.img" error-rate=100% error-file="$inject" \
  >"$f/nbdkit.log" 2>&1 &
cleanup_fn kill "$!"
for _ in $(seq 50); do [ -S "$f/nbd.sock" ] && break; sleep 0.1; done
nbdfuse "$f/mnt/disk" --unix "$f/nbd.sock" >"$f/nbdfuse.log" 2>&1 &
cleanup_fn fusermount3 -u -z "$f/mnt"
for _ in $(seq 50); do [ -f "$f/mnt/disk" ] && break; sleep 0.1; done
[ -f "$f/mnt/disk" ] || fail "nbdfuse did not mount: $(cat "$f/nbdfuse.log")"

cat >"$s/segmap.conf" <<EOF
[container good]
path = good.img
size = 1G

[container bad]
path = $f/mnt/disk

[vdisk vb]
size = 16M
container = bad

[vdisk vg]
size = 16M
container = good

[vdisk vp]
size = 16M
container = good,bad
placement = spread
EOF
start_segmap_iscsi "$s" 1 "config=$s/segmap.conf"
portal=${SM_ISCSI_PORTALS[0]}
state=$sm_tmpdir/model.json

wl ()
{
  "$PYTHON" "$workload" "$s/nbd.sock" "$state" "$@"
}

container_state ()
{
  segctl "$s" container list --json |
    "$PYTHON" -c 'import json, sys
print(next(c["state"] for c in json.load(sys.stdin) if c["name"] == "bad"))'
}

# 1. Fill, then write while bad fails.
wl fill vb vg vp || fail "filling the vdisks failed"
[ "$(container_state)" = online ] || fail "bad is $(container_state) at first"
wl run "$inject" 1200 405 -vb vg -vp | tee "$sm_tmpdir/run.out" ||
  fail "the workload failed while bad failed"
grep -q '"vb": {[^}]*"failed": [1-9]' "$sm_tmpdir/run.out" ||
  fail "no write to vb failed: the injection did not work"

# 2. The failure is visible and recorded.
[ "$(container_state)" = failed ] || fail "bad is $(container_state)"
segctl "$s" container list --json | grep -q '"failed": "agent .*I/O' ||
  segctl "$s" container list --json | grep -q '"failed": "' ||
  fail "container list does not say why bad failed"
segctl "$s" status | grep -q '^Containers: *2 (1 failed)' ||
  fail "status: $(segctl "$s" status | grep Containers)"
segctl "$s" container list | grep -q '^bad  *file  *failed ' ||
  fail "container list: $(segctl "$s" container list)"

# 3. Per block: errors exactly on bad's segments.
wl check "$s/segmap.db" bad | tee "$sm_tmpdir/check1.out" ||
  fail "per-block check while bad is failed"
grep -q '"vp": {"errors": [1-9][0-9]*, "intact": [1-9]' "$sm_tmpdir/check1.out" ||
  fail "vp should serve its good half and fail its bad half"
grep -q '"vg": {"errors": 0,' "$sm_tmpdir/check1.out" || fail "vg had errors"

# 4. iSCSI: MEDIUM ERROR with the failing LBA.  vp's segment 3 is on bad
# (spread: odd segments); segment 2 on good.
"$PYTHON" - "$(dirname "$0")/iscsi-raw.py" "$portal" "$(iscsi_iqn vp)" \
  "$SM_ISCSI_INITIATOR" <<'EOF' || fail "iSCSI medium error"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("iscsi_raw", sys.argv[1])
raw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(raw)
s = raw.open_session(sys.argv[2], sys.argv[3], sys.argv[4])
s.capacity()
per_seg = (1 << 20) // s.block_size
for first, n, fail_lba in ((3 * per_seg + 16, 8, 3 * per_seg + 16),
                           (2 * per_seg + 8, per_seg, 3 * per_seg)):
    status, sense, _ = s.read(first, n)
    if status != 2 or sense != (3, 0x11, 0):
        sys.exit("read of %d blocks at LBA %d: status %d, sense %s"
                 % (n, first, status, raw.sense_str(sense)))
    if s.last_sense_info != fail_lba:
        sys.exit("read at LBA %d: sense INFORMATION %s, expected LBA %d"
                 % (first, s.last_sense_info, fail_lba))
    print("read at LBA %d: MEDIUM ERROR at LBA %d" % (first, fail_lba))
status, sense, _ = s.read(2 * per_seg, 8)
if status != 0:
    sys.exit("read of a good segment: status %d, %s" % (status,
                                                        raw.sense_str(sense)))
EOF

# 5. A restart keeps bad failed.
stop_segmap "$s"
start_segmap_iscsi "$s" 1 "config=$s/segmap.conf"
[ "$(container_state)" = failed ] ||
  fail "bad is $(container_state) after a restart"
wl check "$s/segmap.db" bad >/dev/null || fail "per-block check after a restart"

# 6. Online: refused while the I/O fails, then everything is back.
if segctl "$s" container online bad 2>"$sm_tmpdir/online.err"; then
  fail "container online worked while bad still fails"
fi
grep -q "still fails" "$sm_tmpdir/online.err" ||
  fail "container online: $(cat "$sm_tmpdir/online.err")"
rm -f "$inject"
segctl "$s" container online bad || fail "container online failed"
[ "$(container_state)" = online ] || fail "bad is $(container_state)"
wl check "$s/segmap.db" - | tee "$sm_tmpdir/check2.out" ||
  fail "data after container online"
for v in vb vg vp; do
  if segctl "$s" vdisk list | grep -q "^$v .* ro$"; then
    echo "$v was fenced read-only (writes lost in the failure)"
    segctl "$s" vdisk set "$v" --read-write || fail "vdisk set $v"
  fi
done
wl run "$inject.never" 300 -1 vb vg vp >/dev/null ||
  fail "writes after container online"
wl check "$s/segmap.db" - >/dev/null || fail "data after the last writes"
stop_segmap "$s"
