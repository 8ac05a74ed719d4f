#!/usr/bin/env bash
# Per-vdisk read-only: `segmapctl vdisk set NAME --read-only|--read-write'
# through both front-ends, with real clients, and across a restart.
#
# 1. A pattern is written through NBD, then the vdisk is made read-only:
#    `vdisk list' and `vdisk info' show it.
# 2. NBD: a new connection gets a read-only export (nbdinfo), qemu-io
#    cannot write; a connection opened before the change (libnbd, held
#    open) still negotiated a writable export, and its writes, trims and
#    zeroes fail (EROFS in the server, which NBD carries as EPERM: the
#    protocol has no EROFS); reads return the pattern.
# 3. iSCSI: qemu's iscsi driver reads the WP bit of MODE SENSE and
#    refuses to open the LUN read-write; a qemu-io session opened before
#    the change gets DATA PROTECT (qemu: "Permission denied") on write.
# 4. A restart keeps the vdisk read-only; another vdisk stays writable.
# 5. --read-write: both protocols write again, the data reads back.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_qemu_iscsi
requires_python_nbd
requires nbdinfo

s=$sm_tmpdir/s
mkdir -p "$s"
start_segmap_iscsi "$s" 1
portal=${SM_ISCSI_PORTALS[0]}
segctl "$s" vdisk create ro 64M >/dev/null
segctl "$s" vdisk create other 64M >/dev/null
nbd=$(nbd_uri "$s" ro)

iscsi_opts ()
{
  echo "driver=iscsi,transport=tcp,portal=$portal,target=$(iscsi_iqn "$1"),lun=0,initiator-name=$SM_ISCSI_INITIATOR"
}

# mode VDISK: "rw" or "ro" from `vdisk list'.
mode ()
{
  segctl "$s" vdisk list | awk -v n="$1" '$1 == n { print $NF }'
}

# nbd_ro URI: nbdinfo's is_read_only for a new connection.
nbd_ro ()
{
  nbdinfo --json "$1" | python3 -c '
import json, sys
print(json.load(sys.stdin)["exports"][0]["is_read_only"])'
}

# 1. Pattern, then read-only.
qemu-io -f raw -c 'write -P 0x5a 0 1M' "$nbd" >/dev/null ||
  fail "cannot write the pattern through NBD"
[ "$(mode ro)" = rw ] || fail "a new vdisk is not rw: $(mode ro)"

# The held-open NBD connection: opened now, used after the change.
fifo=$sm_tmpdir/nbd.fifo
mkfifo "$fifo"
"$PYTHON" - "$nbd" "$fifo" >"$sm_tmpdir/held.out" 2>&1 <<'EOF' &
import errno, sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert not h.is_read_only(), "writable before the change"
open(sys.argv[2]).read()                # wait for the change
for what, fn in (("write", lambda: h.pwrite(b"x" * 4096, 0)),
                 ("trim", lambda: h.trim(1 << 20, 2 << 20)),
                 ("zero", lambda: h.zero(4096, 8192))):
    try:
        fn()
        sys.exit("%s succeeded on a read-only vdisk" % what)
    except nbd.Error as e:
        if e.errnum != errno.EPERM:
            sys.exit("%s failed with %s, not EPERM (EROFS)" % (what, e))
assert h.pread(4096, 0) == b"\x5a" * 4096, "the pattern is gone"
print("held connection: EPERM")
EOF
held=$!
# qemu-io session opened read-write before the change.
qemu-io --image-opts "$(iscsi_opts ro)" \
  -c 'write -P 0x11 1M 4k' -c 'sleep 3000' -c 'write -P 0x22 1M 4k' \
  -c 'read -P 0x11 1M 4k' >"$sm_tmpdir/qio.out" 2>&1 &
qio=$!
sleep 1

segctl "$s" vdisk set ro --read-only | grep -q 'vdisk ro is now read-only' ||
  fail "vdisk set --read-only did not say so"
[ "$(mode ro)" = ro ] || fail "vdisk list shows $(mode ro), not ro"
segctl "$s" vdisk info ro | grep -q '^Read-only: *yes' ||
  fail "vdisk info does not show read-only"
echo go >"$fifo"

# 2. NBD.
wait "$held" || fail "held NBD connection: $(cat "$sm_tmpdir/held.out")"
[ "$(nbd_ro "$nbd")" = True ] || fail "a new NBD connection is writable"
! qemu-io -f raw -c 'write 0 4k' "$nbd" >/dev/null 2>&1 ||
  fail "qemu-io wrote to a read-only export"
qemu-io -f raw -r -c 'read -P 0x5a 0 1M' "$nbd" >/dev/null ||
  fail "read of the pattern through NBD failed"

# 3. iSCSI.
wait "$qio" || true
grep -q 'DATA PROTECTION.*WRITE_PROTECTED' "$sm_tmpdir/qio.out" &&
  grep -q 'write failed: Permission denied' "$sm_tmpdir/qio.out" ||
  fail "iSCSI write to a read-only vdisk did not fail with DATA PROTECT:
$(cat "$sm_tmpdir/qio.out")"
qemu-io --image-opts "$(iscsi_opts ro)" -c 'write 0 4k' \
  >"$sm_tmpdir/open.out" 2>&1 &&
  fail "qemu opened a write-protected LUN read-write and wrote"
grep -qi 'write.protected' "$sm_tmpdir/open.out" ||
  fail "qemu did not see the LUN's WP bit: $(cat "$sm_tmpdir/open.out")"
qemu-io -r --image-opts "$(iscsi_opts ro)" -c 'read -P 0x11 1M 4k' \
  -c 'read -P 0x5a 0 1M' >/dev/null ||
  fail "iSCSI reads of a read-only vdisk failed"

# 4. Restart.
stop_segmap "$s"
start_segmap_iscsi "$s" 1
portal=${SM_ISCSI_PORTALS[0]}
[ "$(mode ro)" = ro ] || fail "after a restart vdisk ro is $(mode ro)"
[ "$(mode other)" = rw ] || fail "after a restart vdisk other is $(mode other)"
[ "$(nbd_ro "$nbd")" = True ] || fail "after a restart NBD is writable"
qemu-io -f raw -c 'write -P 0x33 0 64k' "$(nbd_uri "$s" other)" >/dev/null ||
  fail "vdisk other is not writable"

# 5. Read-write again.
segctl "$s" vdisk set ro --read-write | grep -q 'is now read-write' ||
  fail "vdisk set --read-write did not say so"
[ "$(mode ro)" = rw ] || fail "vdisk list shows $(mode ro), not rw"
[ "$(nbd_ro "$nbd")" = False ] || fail "NBD is still read-only"
qemu-io -f raw -c 'write -P 0x44 2M 64k' "$nbd" >/dev/null ||
  fail "NBD write after --read-write failed"
qemu-io --image-opts "$(iscsi_opts ro)" -c 'write -P 0x55 3M 64k' \
  >/dev/null || fail "iSCSI write after --read-write failed"
qemu-io -f raw -r -c 'read -P 0x44 2M 64k' -c 'read -P 0x55 3M 64k' \
  -c 'read -P 0x11 1M 4k' "$nbd" >/dev/null ||
  fail "the data written after --read-write does not read back"
echo "readonly: NBD and iSCSI refuse writes, the mode persists, rw again OK"
