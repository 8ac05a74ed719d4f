# Guest script of tests/test-iscsi-linux.sh, run by linux-guest inside a
# throw-away Linux guest under dash (busybox tools, open-iscsi):
#
#   iscsi-ext4.sh PORT TARGET-IQN CHAP-USER CHAP-SECRET DENIED-IQN SEQ-COUNT
#
# 1. As DENIED-IQN (an iface with its own initiator name, not on the
#    target's access list): SendTargets discovery must not list
#    TARGET-IQN, and a login to it must fail.
# 2. As the guest's own initiator (allowed): discovery (SendTargets, with
#    CHAP) lists TARGET-IQN; log in with CHAP (node.session.auth.*);
#    make ext4 on the LUN, write seq.txt (`seq 1 SEQ-COUNT') and a
#    random file, remount and check both md5s, unmount, e2fsck -fn
#    clean; md5 of the whole raw LUN; log out.
# Output lines for the host: GUEST_DENIED_OK, GUEST_SEQ_MD5 <md5>,
# GUEST_RAND_MD5 <md5>, GUEST_DISK_MD5 <md5> <bytes>, GUEST_EXT4_OK.
# Any failure prints "GUEST_FAIL: why" and exits 1.

port=$1 iqn=$2 user=$3 secret=$4 denied=$5 count=$6
portal=10.0.2.2:$port

die () { echo "GUEST_FAIL: $*"; iscsiadm -m node --logoutall=all >/dev/null 2>&1; exit 1; }

mkdir -p /var/lib/iscsi /run/lock/iscsi
iscsid -f >/tmp/iscsid.log 2>&1 &
sleep 1

# discover IFACE: SendTargets on the portal as IFACE, with CHAP, or
# without authentication if the target refuses a CHAP discovery (whether
# discovery sessions need CHAP is the target's choice); prints the
# target names found; fails if discovery fails both ways.
discover ()
{
  iscsiadm -m discoverydb -t sendtargets -p "$portal" -I "$1" -o new >/dev/null 2>&1
  for kv in authmethod:CHAP username:"$user" password:"$secret"; do
    iscsiadm -m discoverydb -t sendtargets -p "$portal" -I "$1" -o update \
      -n "discovery.sendtargets.auth.${kv%%:*}" -v "${kv#*:}" >/dev/null ||
      return 1
  done
  iscsiadm -m discoverydb -t sendtargets -p "$portal" -I "$1" --discover &&
    return 0
  echo "(discovery with CHAP failed; trying without authentication)"
  iscsiadm -m discoverydb -t sendtargets -p "$portal" -I "$1" -o update \
    -n discovery.sendtargets.auth.authmethod -v None >/dev/null || return 1
  iscsiadm -m discoverydb -t sendtargets -p "$portal" -I "$1" --discover
}

# node_chap IFACE: a node record for the target as IFACE, with CHAP.
node_chap ()
{
  iscsiadm -m node -o new -T "$iqn" -p "$portal" -I "$1" >/dev/null || return 1
  for kv in authmethod:CHAP username:"$user" password:"$secret"; do
    iscsiadm -m node -T "$iqn" -p "$portal" -I "$1" -o update \
      -n "node.session.auth.${kv%%:*}" -v "${kv#*:}" >/dev/null || return 1
  done
}

# --- 1. the denied initiator ------------------------------------------
iscsiadm -m iface -I denied -o new >/dev/null || die "iface new"
iscsiadm -m iface -I denied -o update -n iface.initiatorname -v "$denied" \
  >/dev/null || die "iface update"
out=$(discover denied 2>&1)
echo "discovery as $denied: $out"
case $out in *"$iqn"*) die "the denied initiator discovers $iqn" ;; esac
node_chap denied || die "node record for the denied iface"
if iscsiadm -m node -T "$iqn" -p "$portal" -I denied --login; then
  die "the denied initiator logged in to $iqn"
fi
[ ! -e /dev/sda ] || die "a disk appeared after the denied login"
iscsiadm -m node -T "$iqn" -p "$portal" -I denied -o delete >/dev/null 2>&1
echo GUEST_DENIED_OK

# --- 2. the allowed initiator -----------------------------------------
out=$(discover default 2>&1) || die "discovery failed: $out"
echo "discovery: $out"
case $out in *"$iqn"*) ;; *) die "discovery does not list $iqn" ;; esac
node_chap default || die "node record"
iscsiadm -m node -T "$iqn" -p "$portal" -I default --login || die "login failed"
i=0
while [ ! -b /dev/sda ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
[ -b /dev/sda ] || die "no /dev/sda after login"
bytes=$(blockdev --getsize64 /dev/sda)
echo "LUN: /dev/sda, $bytes bytes"

mke2fs -q -t ext4 -F /dev/sda || die "mke2fs"
mount -t ext4 /dev/sda /mnt || die "mount"
seq 1 "$count" >/mnt/seq.txt || die "writing seq.txt"
dd if=/dev/urandom of=/mnt/rand.bin bs=1M count=8 2>/dev/null || die "writing rand.bin"
rand=$(md5sum </mnt/rand.bin | cut -d' ' -f1)
umount /mnt || die "umount"
sync
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 /dev/sda /mnt || die "remount"
seqmd5=$(md5sum </mnt/seq.txt | cut -d' ' -f1)
[ "$(md5sum </mnt/rand.bin | cut -d' ' -f1)" = "$rand" ] ||
  die "rand.bin reads back differently after a remount"
umount /mnt || die "second umount"
e2fsck -fn /dev/sda || die "e2fsck -fn found problems"
blockdev --flushbufs /dev/sda
disk=$(dd if=/dev/sda bs=1M 2>/dev/null | md5sum | cut -d' ' -f1)
echo "GUEST_SEQ_MD5 $seqmd5"
echo "GUEST_RAND_MD5 $rand"
echo "GUEST_DISK_MD5 $disk $bytes"
iscsiadm -m node -T "$iqn" -p "$portal" --logout || die "logout failed"
echo GUEST_EXT4_OK
exit 0
