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
#
# Then a clean stop in the middle of a deletion: a 256 MiB vdisk filled
# with 0xab is deleted and the server stopped at once.  The restart does
# not zero free space (the stop was clean), so the stop itself must have
# zeroed, durably, every segment already freed.  A new vdisk then writes
# 4 KiB at the start of each 64 KiB segment (every one a first write
# into a reused segment) and is read back whole: no 0xab anywhere.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires fio jq nbdcopy
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
deleting ()
{
  sqlite3 "$s/segmap.db" "SELECT count (*) FROM vdisk WHERE deleting = 1"
}
# The space comes back first, the vdisk row goes with the next batch.
for (( i = 0; i < 300; i++ )); do
  [ "$(used)" != 0 ] || [ "$(deleting)" != 0 ] || break
  sleep 0.1
done
[ "$(used)" = 0 ] || fail "container c still has $(used) bytes used 30 s after the restart"
[ "$(deleting)" = 0 ] || fail "$(deleting) vdisks still marked deleting"
segctl "$s" check || fail "check failed"

# A clean stop while a deletion is under way.
segctl "$s" vdisk delete big >/dev/null || fail "vdisk delete big failed"
segctl "$s" vdisk create old 256M --container c --segment-size 64K \
  >/dev/null || fail "vdisk create old failed"
fio --name=fill --ioengine=nbd --uri="$(nbd_uri "$s" old)" --rw=write \
  --bs=1M --size=256M --iodepth=8 --buffer_pattern=0xab --end_fsync=1 \
  >/dev/null || fail "filling old failed"
segctl "$s" vdisk delete old || fail "vdisk delete old failed"
sleep 0.5
stop_segmap "$s"
left=$(sqlite3 "$s/segmap.db" \
  "SELECT count (*) FROM map JOIN vdisk ON id = vdisk_id WHERE deleting = 1")
echo "map rows of the deleted vdisk left at the clean stop: $left"
start_segmap "$s"
segctl "$s" vdisk create new 256M --container c --segment-size 64K \
  >/dev/null || fail "vdisk create new failed"
fio --name=sparse --ioengine=nbd --uri="$(nbd_uri "$s" new)" \
  --rw=write:60k --bs=4k --size=256M --buffer_pattern=0x42 --end_fsync=1 \
  >/dev/null || fail "the sparse writes failed"
nbdcopy "$(nbd_uri "$s" new)" "$sm_tmpdir/new.img" || fail "nbdcopy failed"
stale=$(LC_ALL=C tr -cd '\253' <"$sm_tmpdir/new.img" | wc -c)
[ "$stale" = 0 ] ||
  fail "a new vdisk reads $stale bytes of a deleted one (not zeroed)"
written=$(LC_ALL=C tr -cd 'B' <"$sm_tmpdir/new.img" | wc -c)
[ "$written" = $(( 4096 * 4096 )) ] ||
  fail "the new vdisk reads $written bytes written, not $(( 4096 * 4096 ))"
segctl "$s" check || fail "check failed"
