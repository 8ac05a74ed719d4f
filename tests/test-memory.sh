#!/usr/bin/env bash
# Memory stays bounded however large a vdisk is and however widely it is
# used: the agent's tables are loaded on demand and bounded by
# memory-limit (default 64M), never sized by the vdisk.
#
# A 1 PiB vdisk on the default (1 TiB, sparse) container gets random 4 KiB
# writes to 10,000 distinct segments and random 4 KiB reads all over it
# (fio's nbd engine if available, else a python loop), plus known data at
# known places that must read back.  Afterwards the server's resident set
# (VmRSS) must be under 100 MiB.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdinfo
requires_python_nbd

PiB=$((1 << 50))
nsegs=10000

s=$sm_tmpdir/s
start_segmap "$s"
segctl "$s" vdisk create big 1P || fail "vdisk create big 1P failed"
uri=$(nbd_uri "$s" big)
size=$(nbdinfo --size "$uri") || fail "nbdinfo --size failed on big"
[ "$size" = $PiB ] || fail "big is $size bytes, expected 1 PiB ($PiB)"

# --- load -----------------------------------------------------------------
if command -v fio >/dev/null && fio --enghelp=nbd >/dev/null 2>&1; then
  echo "load: fio (nbd engine)"
  # tausworthe64: the default generators cannot address 2^38 blocks;
  # norandommap: a map of 1 PiB would itself take gigabytes.
  cat >"$sm_tmpdir/job.fio" <<EOF
[global]
ioengine=nbd
uri=$uri
bs=4k
iodepth=16
norandommap=1
random_generator=tausworthe64
randrepeat=0

[writes]
rw=randwrite
number_ios=$nsegs

[reads]
stonewall
rw=randread
number_ios=$nsegs
EOF
  fio --output="$sm_tmpdir/fio.out" "$sm_tmpdir/job.fio" ||
    { cat "$sm_tmpdir/fio.out" >&2; fail "fio failed"; }
else
  echo "load: python (fio or its nbd engine missing)"
  "$PYTHON" - "$uri" $nsegs <<'EOF' || fail "python load failed"
import random, sys, nbd
uri, n = sys.argv[1], int(sys.argv[2])
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
segs = random.sample(range(size >> 20), n)
for seg in segs:
    h.pwrite(b"\xee" * 4096, (seg << 20) + random.randrange(256) * 4096)
for _ in range(n):
    h.pread(4096, random.randrange(size >> 12) * 4096)
h.flush()
EOF
fi

# Known data at known places, spread over the whole vdisk: must read back.
"$PYTHON" - "$uri" <<'EOF' || fail "data written to big does not read back"
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
size = h.get_size()
places = [(size // 200) * i // 4096 * 4096 for i in range(200)] + [size - 4096]
for i, off in enumerate(places):
    h.pwrite(i.to_bytes(4, "little") * 1024, off)
h.flush()
for i, off in enumerate(places):
    if h.pread(4096, off) != i.to_bytes(4, "little") * 1024:
        sys.exit("block at offset %d reads wrong data" % off)
EOF

# --- the map saw the load --------------------------------------------------
mapped=$(json_field "$(segctl "$s" --json vdisk list)" name big mapped_segments) ||
  fail "segmapctl --json vdisk list has no mapped_segments for big"
echo "big: $mapped mapped segments"
[ "$mapped" -ge $((nsegs * 99 / 100)) ] ||
  fail "only $mapped segments mapped after writes to $nsegs distinct segments"

# --- memory -----------------------------------------------------------------
pid=$(server_pid "$s")
grep -E '^Vm(RSS|HWM)' "/proc/$pid/status"
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
if [ "$SEGMAP_VALGRIND" = 1 ]; then
  echo "(RSS bound not checked under valgrind)"
elif [ "${SEGMAP_SANITIZERS:-0}" = 1 ] || grep -q __asan_init "$SEGMAP_PLUGIN"; then
  echo "(RSS bound not checked: the plugin is built with AddressSanitizer)"
elif [ "$rss_kb" -ge $((100 * 1024)) ]; then
  fail "server RSS is $rss_kb KiB after using $nsegs segments of a 1 PiB" \
       "vdisk; expected under 100 MiB"
fi
