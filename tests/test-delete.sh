#!/usr/bin/env bash
# vdisk delete frees in the background, and survives a crash midway.
#
# A 512 MiB vdisk with 64 KiB segments (8192 segments) is filled.
# `vdisk delete' answers at once: the vdisk is no longer listed and its
# name can be reused immediately, while the controller frees its
# segments a batch at a time.  The server is killed (SIGKILL) right
# after the delete; the restarted server resumes the deletion: the
# container's space comes back to what the new vdisk uses (nothing),
# and check passes.  The database is looked at after the kill to say
# whether the deletion was really cut midway (it is, unless the machine
# freed 8192 segments before the kill landed).

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires fio jq
fio --enghelp 2>/dev/null | grep -qx '[[:space:]]*nbd' || skip "fio has no nbd engine"

s=$sm_tmpdir/s
start_segmap "$s"
segctl "$s" container add c "$sm_tmpdir/c.img" 4G >/dev/null ||
  fail "container add failed"
segctl "$s" vdisk create big 512M --container c --segment-size 64K \
  >/dev/null || fail "vdisk create failed"
fio --name=fill --ioengine=nbd --uri="$(nbd_uri "$s" big)" --rw=write \
  --bs=1M --size=512M --iodepth=8 --end_fsync=1 >/dev/null ||
  fail "filling the vdisk failed"
mapped=$(segctl "$s" --json vdisk info big | jq -r .mapped_segments)
[ "$mapped" = 8192 ] || fail "the filled vdisk maps $mapped segments, not 8192"

used ()
{
  json_field "$(segctl "$s" --json container list)" name c used ||
    fail "container list failed"
}

start=$(date +%s%N)
segctl "$s" vdisk delete big || fail "vdisk delete failed"
took=$(( ($(date +%s%N) - start) / 1000000 ))
segctl "$s" vdisk create big 1G --container c >/dev/null ||
  fail "the name of a vdisk being deleted is not free"
kill_segmap "$s"
echo "delete answered in $took ms"
left=$(sqlite3 "$s/segmap.db" \
  "SELECT count (*) FROM map JOIN vdisk ON id = vdisk_id WHERE deleting = 1")
echo "map rows of the deleted vdisk left at the kill: $left"

start_segmap "$s"
segctl "$s" --json vdisk list | jq -e '[.[].name] | sort == ["big", "disk0"]' >/dev/null ||
  fail "vdisk list: $(segctl "$s" --json vdisk list)"
for (( i = 0; i < 300; i++ )); do
  [ "$(used)" != 0 ] || break
  sleep 0.1
done
[ "$(used)" = 0 ] || fail "container c still has $(used) bytes used 30 s after the restart"
left=$(sqlite3 "$s/segmap.db" "SELECT count (*) FROM vdisk WHERE deleting = 1")
[ "$left" = 0 ] || fail "$left vdisks still marked deleting"
segctl "$s" check || fail "check failed"
