#!/usr/bin/env bash
# The Linux kernel's iSCSI initiator (open-iscsi) against segmap, in a
# throw-away guest (../shared/tools/linux-guest: Debian's kernel under
# qemu, TCG if there is no KVM), and the same bytes read back over NBD.
#
# segmap serves a 128 MiB thin vdisk with CHAP required and an access
# list naming only the guest's initiator.  The guest (tests/guest/
# iscsi-ext4.sh) first proves that an initiator not on the list neither
# discovers nor logs in to the target; then it discovers the target
# (SendTargets, CHAP), logs in with CHAP, makes ext4, writes seq.txt
# (known content) and an 8 MiB random file, checks both after a remount,
# runs e2fsck -fn, hashes the whole raw LUN and logs out.  On the host
# the vdisk is copied out through NBD (nbdcopy) and must have the same
# md5 as the guest's raw LUN; e2fsck -fn finds it clean and debugfs
# reads both files with the md5s the guest printed (seq.txt's is also
# computed here from `seq').
#
# Skips (77) if linux-guest is absent or the guest cannot boot (no qemu
# and no way to install it); a guest that boots and fails is a failure.
# LINUX_GUEST overrides the tool's path.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdcopy e2fsck debugfs md5sum seq
: "${LINUX_GUEST:=$abs_top_srcdir/../shared/tools/linux-guest}"
[ -x "$LINUX_GUEST" ] || skip "no linux-guest tool at $LINUX_GUEST"
# The guest is slow under valgrind's server: iSCSI timeouts would fire.
[ "$SEGMAP_VALGRIND" != 1 ] || skip "not under valgrind (guest timeouts)"

guest_iqn=iqn.2026-11.guest:initiator   # set by linux-guest
count=200000

s=$sm_tmpdir/s
mkdir -p "$s"
secret=$(make_chap_secret "$s/chap.secret")
cat >"$s/segmap.conf" <<EOF
[iscsi]
chap-user = guestuser
chap-secret-file = chap.secret

[container c]
path = c.img
size = 4G

[vdisk linux]
size = 128M

[host guest]
initiator = $guest_iqn
vdisk = linux
EOF
start_segmap_iscsi "$s" 1 "config=$s/segmap.conf"
port=${SM_ISCSI_PORTALS[0]##*:}

out=$sm_tmpdir/guest.log
st=0
"$LINUX_GUEST" -t 1200 "$abs_top_srcdir/tests/guest/iscsi-ext4.sh" \
  "$port" "$(iscsi_iqn linux)" guestuser "$secret" "$SM_ISCSI_DENIED" \
  "$count" >"$out" 2>&1 || st=$?
cat "$out"
if ! grep -q '^linux-guest: kernel' "$out"; then
  skip "the guest did not boot (linux-guest exited with $st)"
fi
[ $st = 0 ] || fail "the guest script failed (status $st)"
grep -q '^GUEST_DENIED_OK' "$out" || fail "no GUEST_DENIED_OK from the guest"
grep -q '^GUEST_EXT4_OK' "$out" || fail "no GUEST_EXT4_OK from the guest"

field () { sed -n "s/^$1 //p" "$out" | head -n 1; }
seq_md5=$(field GUEST_SEQ_MD5)
rand_md5=$(field GUEST_RAND_MD5)
read -r disk_md5 disk_bytes <<<"$(field GUEST_DISK_MD5)"
if [ -z "$seq_md5" ] || [ -z "$rand_md5" ] || [ -z "$disk_md5" ]; then
  fail "the guest did not print its md5s"
fi
[ "$disk_bytes" = $((128 * MiB)) ] ||
  fail "the guest saw a LUN of $disk_bytes bytes, expected 128 MiB"
[ "$seq_md5" = "$(seq 1 $count | md5sum | cut -d' ' -f1)" ] ||
  fail "seq.txt read back in the guest has the wrong md5 ($seq_md5)"

# The same vdisk through NBD.
img=$sm_tmpdir/linux.img
nbdcopy "$(nbd_uri "$s" linux)" "$img" || fail "nbdcopy of the vdisk failed"
host_md5=$(md5sum <"$img" | cut -d' ' -f1)
[ "$host_md5" = "$disk_md5" ] ||
  fail "the vdisk through NBD (md5 $host_md5) differs from the LUN the guest read (md5 $disk_md5)"
e2fsck -fn "$img" || fail "e2fsck -fn on the vdisk read through NBD"
for f in seq.txt:$seq_md5 rand.bin:$rand_md5; do
  got=$(debugfs -R "cat /${f%%:*}" "$img" 2>/dev/null | md5sum | cut -d' ' -f1)
  [ "$got" = "${f#*:}" ] ||
    fail "/${f%%:*} read through NBD has md5 $got, the guest's is ${f#*:}"
done
echo "guest and NBD agree: disk md5 $host_md5, seq.txt $seq_md5, rand.bin $rand_md5"
