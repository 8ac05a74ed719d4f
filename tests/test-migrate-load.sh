#!/usr/bin/env bash
# Migration under load through both protocols (issue: migration under
# load acceptance).
#
# A fully written 4 GiB vdisk (MIGRATE_LOAD_SIZE) on container a
# migrates to container b at --rate 200M.  Meanwhile fio (nbd engine)
# writes 1 GiB of 4 KiB blocks in random order over the first 7/8, each
# block once, with verify=crc32c, verify_backlog and verify_fatal (blocks
# read back and checked while the migration runs), and qemu-io writes a
# pattern over the last 1/8 through iSCSI, in 1 MiB writes.  After the job completes:
# a verify-only fio pass over the first part and a qemu-io pattern read
# of the last (through iSCSI) find 0 mismatches, `segmapctl check'
# passes, and container a holds nothing: its space was returned.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_qemu_iscsi
requires fio qemu-io
fio --enghelp 2>/dev/null | grep -qx '[[:space:]]*nbd' ||
  skip "fio has no nbd engine"

size=${MIGRATE_LOAD_SIZE:-$((4 << 30))}
fio_part=$(( size / 8 * 7 ))
s=$sm_tmpdir/s
mkdir -p "$s"
cat >"$s/segmap.conf" <<EOF
[container a]
path = a.img
size = $(( size / MiB + 256 ))M
[container b]
path = b.img
size = $(( size / MiB + 256 ))M
[vdisk big]
size = $(( size / MiB ))M
container = a
EOF
start_segmap_iscsi "$s" 1 "config=$s/segmap.conf"
nbd=$(nbd_uri "$s" big)
opts="driver=iscsi,transport=tcp,portal=${SM_ISCSI_PORTALS[0]},target=$(iscsi_iqn big),lun=0,initiator-name=$SM_ISCSI_INITIATOR"

# fio_load EXTRA...: the verified random writes over the first part.
fio_load ()
{
  fio --name=load --ioengine=nbd --uri="$nbd" --rw=randwrite --bs=4k \
    --iodepth=16 --size="$fio_part" --io_size=$(( size / 4 )) \
    --verify=crc32c --verify_fatal=1 \
    --randseed=1234 --output="$sm_tmpdir/fio.out" "$@"
}

# qemu_cmds OP: qemu-io commands OP-ing the pattern over the last part in
# 1 MiB requests.
qemu_cmds ()
{
  local off
  for (( off = fio_part; off < size; off += MiB )); do
    printf -- '-c\n%s -P 0x5a %d 1M\n' "$1" "$off"
  done
}

fio --name=fill --ioengine=nbd --uri="$nbd" --rw=write --bs=1M \
  --iodepth=8 --size="$size" --output="$sm_tmpdir/fill.out" ||
  fail "filling big failed: $(cat "$sm_tmpdir/fill.out")"
segctl "$s" migrate big b --rate 200M >/dev/null || fail "migrate big failed"

fio_load --verify_backlog=1024 & fpid=$!
mapfile -t writes < <(qemu_cmds write)
qemu-io --image-opts "$opts" "${writes[@]}" -c flush \
  >"$sm_tmpdir/qemu-io.log" 2>&1 & qpid=$!
wait $qpid || fail "qemu-io writing through iSCSI failed:" \
  "$(tail -3 "$sm_tmpdir/qemu-io.log")"
wait $fpid || fail "fio's verified writes failed: $(tail -20 "$sm_tmpdir/fio.out")"
state=$(json_field "$(segctl "$s" --json job list)" id 1 state)
echo "the loads ended with the migration $state," \
     "$(json_field "$(segctl "$s" --json job list)" id 1 done) segments moved"
segctl "$s" job wait 1 >/dev/null || fail "the migration did not complete"

fio_load --verify_only=1 ||
  fail "fio's verify pass found mismatches: $(tail -20 "$sm_tmpdir/fio.out")"
mapfile -t reads < <(qemu_cmds read)
qemu-io --image-opts "$opts" "${reads[@]}" >"$sm_tmpdir/qemu-read.log" 2>&1 ||
  fail "qemu-io's pattern read failed: $(tail -3 "$sm_tmpdir/qemu-read.log")"
grep -qi "pattern verification failed\|error" "$sm_tmpdir/qemu-read.log" &&
  fail "qemu-io's pattern read: $(grep -i -m3 "pattern\|error" "$sm_tmpdir/qemu-read.log")"
segctl "$s" check >/dev/null || fail "segmapctl check failed"
[ "$(container_segments "$s" a)" = 0 ] ||
  fail "a still holds $(container_segments "$s" a) segments"
used=$(json_field "$(segctl "$s" --json container list)" name a used)
[ "$used" = 0 ] || fail "a still has $used bytes used"
echo "migrate-load: $(( size >> 20 )) MiB migrated under fio verify (NBD)" \
     "and qemu-io (iSCSI): 0 mismatches, a's space returned"
