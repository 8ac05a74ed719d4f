#!/usr/bin/env bash
# One map, two protocols: iSCSI and NBD writers on the same thin vdisk at
# the same time, each range read back through the other protocol.
#
# 1. Halves: qemu-img (qemu's iscsi:// driver, through libiscsi) writes
#    64 MiB of random data A to [0, 64M) while a libnbd client writes
#    64 MiB of random data B to [64M, 128M).
# 2. Interleaved: over [128M, 160M), qemu-io writes the even 64 KiB
#    chunks through iSCSI and a libnbd client the odd ones through NBD,
#    at the same time, so that every 1 MiB segment is faulted in from
#    both front-ends at once; chunk i holds the byte (i % 251) + 1.
# 3. Cross reads: A read through NBD, B through iSCSI, the interleaved
#    region through both, checked chunk by chunk; the unwritten rest
#    reads zeros through both.  The teardown runs `segmapctl check'.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_qemu_iscsi
requires_python_nbd
requires cmp head

s=$sm_tmpdir/s
mkdir -p "$s"
cat >"$s/segmap.conf" <<EOF
[container c]
path = c.img
size = 4G

[vdisk both]
size = 256M
EOF
start_segmap_iscsi "$s" 1 "config=$s/segmap.conf"
portal=${SM_ISCSI_PORTALS[0]}
nbd=$(nbd_uri "$s" both)

# iscsi_opts OFFSET SIZE: qemu --image-opts for [OFFSET, OFFSET+SIZE) of
# the vdisk's LUN (the raw driver's offset/size window).
iscsi_opts ()
{
  echo "driver=raw,offset=$1,size=$2,file.driver=iscsi,file.transport=tcp,file.portal=$portal,file.target=$(iscsi_iqn both),file.lun=0,file.initiator-name=$SM_ISCSI_INITIATOR"
}

# nbd_write URI FILE OFFSET CHUNK STRIDE PHASE LENGTH: write the chunks
# number PHASE, PHASE+STRIDE, ... (CHUNK bytes each) of the first LENGTH
# bytes of FILE at OFFSET + i*CHUNK, 16 requests in flight, then flush.
# FILE "-": chunk i is all the byte (i % 251) + 1.
nbd_write ()
{
  "$PYTHON" - "$@" <<'EOF'
import sys, nbd
uri, path, base, chunk, stride, phase, length = (sys.argv[1], sys.argv[2],
                                                 *map(int, sys.argv[3:8]))
data = open(path, "rb").read() if path != "-" else None
h = nbd.NBD()
h.connect_uri(uri)
bufs = []
for i in range(phase, length // chunk, stride):
    while h.aio_in_flight() >= 16:
        h.poll(-1)
    b = data[i*chunk:(i+1)*chunk] if data else bytes([i % 251 + 1]) * chunk
    bufs.append(nbd.Buffer.from_bytearray(bytearray(b)))
    h.aio_pwrite(bufs[-1], base + i * chunk)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.flush()
h.shutdown()
EOF
}

# nbd_read URI OUT OFFSET LENGTH: [OFFSET, OFFSET+LENGTH) into OUT.
nbd_read ()
{
  "$PYTHON" - "$@" <<'EOF'
import sys, nbd
uri, out, base, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
h = nbd.NBD()
h.connect_uri(uri)
with open(out, "wb") as f:
    for off in range(0, length, 4 << 20):
        f.write(h.pread(min(4 << 20, length - off), base + off))
h.shutdown()
EOF
}

# iscsi_read OUT OFFSET LENGTH: the same through iSCSI (qemu-img).
iscsi_read ()
{
  rm -f "$1"
  qemu-img convert --image-opts "$(iscsi_opts "$2" "$3")" -O raw "$1" ||
    fail "qemu-img: reading [$2, +$3) through iSCSI failed"
}

# check_chunks FILE CHUNK WHAT: chunk i of FILE must be all
# the byte (i % 251) + 1.
check_chunks ()
{
  "$PYTHON" - "$@" <<'EOF' || fail "$3: interleaved chunks differ"
import sys
data, chunk, what = open(sys.argv[1], "rb").read(), int(sys.argv[2]), sys.argv[3]
for i in range(len(data) // chunk):
    want = bytes([i % 251 + 1]) * chunk
    if data[i*chunk:(i+1)*chunk] != want:
        sys.exit("%s: chunk %d (written through %s) is wrong" % (
            what, i, "iSCSI" if i % 2 == 0 else "NBD"))
EOF
}

a=$sm_tmpdir/a; b=$sm_tmpdir/b
head -c $((64 * MiB)) /dev/urandom >"$a"
head -c $((64 * MiB)) /dev/urandom >"$b"

# --- 1. halves, at the same time -----------------------------------------
st1=0 st2=0
qemu-img convert -n -f raw "$a" --target-image-opts \
  "$(iscsi_opts 0 $((64 * MiB)))" & p1=$!
nbd_write "$nbd" "$b" $((64 * MiB)) $MiB 1 0 $((64 * MiB)) & p2=$!
wait $p1 || st1=$?
wait $p2 || st2=$?
[ $st1 = 0 ] || fail "qemu-img writing A through iSCSI exited with $st1"
[ $st2 = 0 ] || fail "the NBD writer of B exited with $st2"

# --- 2. interleaved 64 KiB chunks, at the same time --------------------
base=$((128 * MiB)) chunk=$((64 * 1024)) len=$((32 * MiB))
qemu_cmds=()
for (( i = 0; i < len / chunk; i += 2 )); do
  qemu_cmds+=(-c "write -P $(( i % 251 + 1 )) $(( base + i * chunk )) $chunk")
done
qemu-io --image-opts "$(iscsi_opts 0 $((256 * MiB)))" \
  "${qemu_cmds[@]}" -c flush >"$sm_tmpdir/qemu-io.log" 2>&1 & p1=$!
nbd_write "$nbd" - $base $chunk 2 1 $len & p2=$!
st1=0 st2=0
wait $p1 || st1=$?
wait $p2 || st2=$?
if [ $st1 != 0 ] || grep -qi 'error\|fail' "$sm_tmpdir/qemu-io.log"; then
  tail "$sm_tmpdir/qemu-io.log" >&2
  fail "qemu-io writing the even chunks through iSCSI failed ($st1)"
fi
[ $st2 = 0 ] || fail "the NBD writer of the odd chunks exited with $st2"

# --- 3. each range through the other protocol -----------------------------
r=$sm_tmpdir/r
nbd_read "$nbd" "$r" 0 $((64 * MiB))
cmp "$a" "$r" || fail "A, written through iSCSI, reads differently through NBD"
iscsi_read "$r" $((64 * MiB)) $((64 * MiB))
cmp "$b" "$r" || fail "B, written through NBD, reads differently through iSCSI"
nbd_read "$nbd" "$r" $base $len
check_chunks "$r" $chunk "interleaved region read through NBD"
iscsi_read "$r" $base $len
check_chunks "$r" $chunk "interleaved region read through iSCSI"
rest=$((256 * MiB - base - len))
nbd_read "$nbd" "$r" $((base + len)) $rest
cmp -n $rest "$r" /dev/zero || fail "the unwritten tail is not zero through NBD"
iscsi_read "$r" $((base + len)) $rest
cmp -n $rest "$r" /dev/zero || fail "the unwritten tail is not zero through iSCSI"
# And the halves through their own protocol too, after all the rest.
iscsi_read "$r" 0 $((64 * MiB))
cmp "$a" "$r" || fail "A reads differently through iSCSI at the end"
segctl "$s" check >/dev/null || fail "segmapctl check failed"
