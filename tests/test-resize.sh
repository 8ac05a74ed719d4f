#!/usr/bin/env bash
# Live resize under first writes: fio writes 4 KiB blocks at random
# offsets of a 512 GiB vdisk with 64 KiB segments (nearly every write
# is the first into its segment, so it claims a granted segment inside
# its epoch) while the vdisk grows RESIZES times (default 20) in 2 GiB
# steps (each step needs a new top slot of the agent's table, so each
# resize drains).  Every resize must answer (table_grow used to drain
# while holding the lock those writes wait for: the server hung), fio
# must finish without errors, and `check' must pass.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires fio
fio --enghelp 2>/dev/null | grep -qx '[[:space:]]*nbd' || skip "fio has no nbd engine"

s=$sm_tmpdir/s
resizes=${RESIZES:-20}
start_segmap "$s"
segctl "$s" container add big "$sm_tmpdir/big.img" 512G >/dev/null ||
  fail "container add failed"
segctl "$s" vdisk create grow 512G --container big --segment-size 64K \
  >/dev/null || fail "vdisk create failed"

fio --name=firstwrites --ioengine=nbd --uri="$(nbd_uri "$s" grow)" \
  --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 --size=512G \
  --time_based --runtime=600 --randrepeat=0 \
  --output="$sm_tmpdir/fio.out" >/dev/null 2>&1 &
fio_pid=$!
cleanup_fn eval "kill $fio_pid 2>/dev/null"
sleep 1

size=512
for (( i = 1; i <= resizes; i++ )); do
  size=$((size + 2))
  timeout 60 "$SEGMAPCTL" -s "$s/segmap.sock" vdisk resize grow "${size}G" ||
    fail "resize $i to ${size}G failed or hung (status $?)"
  kill -0 "$fio_pid" 2>/dev/null || fail "fio stopped during resize $i"
  sleep 0.1
done
echo "$resizes resizes to ${size}G under first writes"

kill -INT "$fio_pid"
st=0
wait "$fio_pid" || st=$?
grep -E "err=|write:" "$sm_tmpdir/fio.out" || true
grep -q "err= 0" "$sm_tmpdir/fio.out" || fail "fio reported errors (status $st)"
segctl "$s" vdisk info grow | grep -E "^(Size|Allocated)" || true
segctl "$s" check || fail "check failed after the resizes"
