#!/usr/bin/env bash
# Data integrity through real clients.
#
# 1. 256 MiB of random data copied into disk0 with nbdcopy (which uses
#    several connections when the server advertises multi-conn) and copied
#    back reads byte-identical; the rest of the 1 GiB disk reads zeros.
# 2. qemu-img compare (a second, independent NBD client) agrees.
# 3. Multi-conn: two writers on separate connections, running at the same
#    time on disjoint ranges -- first two 64 MiB halves of a region, then
#    interleaved 64 KiB chunks so that both connections write (and fault
#    in) the same 1 MiB segments concurrently -- and both land intact.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo qemu-img cmp head
requires_python_nbd

s=$sm_tmpdir/s
start_segmap "$s"
uri=$(nbd_uri "$s" disk0)

size=$(nbdinfo --size "$uri")
[ "$size" = $GiB ] || fail "disk0 is $size bytes, expected 1 GiB"

# --- 1. nbdcopy round trip ----------------------------------------------
src=$sm_tmpdir/src
head -c $((256 * MiB)) /dev/urandom >"$src"
nbdcopy --flush "$src" "$uri" || fail "nbdcopy into disk0 failed"
nbdcopy "$uri" "$sm_tmpdir/back" || fail "nbdcopy out of disk0 failed"
[ "$(stat -c %s "$sm_tmpdir/back")" = $GiB ] ||
  fail "copy of disk0 is $(stat -c %s "$sm_tmpdir/back") bytes"
cmp -n $((256 * MiB)) "$src" "$sm_tmpdir/back" ||
  fail "data read back from disk0 differs from what was written"
cmp -n $((768 * MiB)) -i $((256 * MiB)):0 "$sm_tmpdir/back" /dev/zero ||
  fail "the unwritten part of disk0 does not read as zeros"
rm -f "$sm_tmpdir/back"

# --- 2. qemu-img compare --------------------------------------------------
# The image sizes differ (256 MiB vs 1 GiB): without -s, qemu-img compares
# the extra 768 MiB with zeros.
qemu-img compare -f raw -F raw "$src" "$uri" ||
  fail "qemu-img compare: source file and disk0 differ"

# --- 3. multi-conn -------------------------------------------------------
nbdinfo --json "$uri" | python3 -c '
import json, sys
e = json.load(sys.stdin)["exports"][0]
sys.exit(0 if e.get("can_multi_conn") else "disk0 does not advertise multi-conn")
' || fail "multi-conn not advertised"

# writer URI FILE BASE CHUNK STRIDE PHASE: write FILE's chunks number
# PHASE, PHASE+STRIDE, ... (each CHUNK bytes, file offset i*CHUNK) at
# BASE + i*CHUNK, up to 16 requests in flight, then flush.
writer ()
{
  "$PYTHON" - "$@" <<'EOF'
import sys, nbd
uri, path, base, chunk, stride, phase = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
data = open(path, "rb").read()
h = nbd.NBD()
h.connect_uri(uri)
n = len(data) // chunk
bufs = []                       # keep every buffer alive until the end
for i in range(phase, n, stride):
    while h.aio_in_flight() >= 16:
        h.poll(-1)
    bufs.append(nbd.Buffer.from_bytearray(bytearray(data[i*chunk:(i+1)*chunk])))
    h.aio_pwrite(bufs[-1], base + i * chunk)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.flush()
h.shutdown()
EOF
}

# reader URI OUT BASE LENGTH: read [BASE, BASE+LENGTH) into OUT.
reader ()
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

# run_pair DESCRIPTION WRITER-ARGS1 -- WRITER-ARGS2: run two writers at the
# same time, fail if either fails.
run_pair ()
{
  local what=$1 p1 p2 st1=0 st2=0
  writer "${@:2:6}" & p1=$!
  writer "${@:9:6}" & p2=$!
  wait "$p1" || st1=$?
  wait "$p2" || st2=$?
  if [ $st1 != 0 ] || [ $st2 != 0 ]; then
    fail "$what: concurrent writers exited with $st1 and $st2"
  fi
}

a=$sm_tmpdir/a; b=$sm_tmpdir/b
head -c $((64 * MiB)) /dev/urandom >"$a"
head -c $((64 * MiB)) /dev/urandom >"$b"

# 3a. Two 64 MiB halves of [512M, 640M), one per connection.
region=$((512 * MiB))
run_pair "halves" \
  "$uri" "$a" $region $MiB 1 0 \
  -- "$uri" "$b" $((region + 64 * MiB)) $MiB 1 0
reader "$uri" "$sm_tmpdir/r" $region $((128 * MiB))
cat "$a" "$b" | cmp - "$sm_tmpdir/r" ||
  fail "multi-conn halves: data read back differs"

# 3b. The same files interleaved in 64 KiB chunks over [768M, 832M): the
# first writer does the even chunks of A, the second the odd chunks of B,
# so every 1 MiB segment is faulted in by both connections at once.
region=$((768 * MiB))
chunk=$((64 * 1024))
run_pair "interleaved" \
  "$uri" "$a" $region $chunk 2 0 \
  -- "$uri" "$b" $region $chunk 2 1
reader "$uri" "$sm_tmpdir/r" $region $((64 * MiB))
"$PYTHON" - "$a" "$b" "$sm_tmpdir/r" $chunk <<'EOF' ||
import sys
a, b, r = (open(p, "rb").read() for p in sys.argv[1:4])
chunk = int(sys.argv[4])
for i in range(len(r) // chunk):
    want = (a if i % 2 == 0 else b)[i*chunk:(i+1)*chunk]
    if r[i*chunk:(i+1)*chunk] != want:
        sys.exit("chunk %d (offset %d into the region) differs" % (i, i * chunk))
EOF
  fail "multi-conn interleaved: data read back differs"

# The first 256 MiB are still what nbdcopy wrote.
reader "$uri" "$sm_tmpdir/r" 0 $((256 * MiB))
cmp "$src" "$sm_tmpdir/r" || fail "first 256 MiB changed after multi-conn writes"
