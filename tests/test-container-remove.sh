#!/usr/bin/env bash
# `segmapctl container remove` under flush load (issue 12, item 7).
#
# Two NBD clients write and flush disk0 (on the default container) as
# fast as they can while a second container is added and removed 40
# times.  Every flush syncs every container the agent has attached, so
# removals race with syncs of the very container being removed: the
# agent must detach it (waiting for flushes in progress) before the
# controller forgets it.  Before the agent/controller boundary work the
# controller closed and freed the container while a flush could still
# be syncing it (a use after free that ASan reports; `make
# check-sanitizers` runs this test with it).
#
# Passes when no write or flush fails, every block reads back what was
# last written to it, the server survives, and `segmapctl check` (run
# by the harness at the end) finds the map consistent.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd

rounds=${REMOVE_ROUNDS:-40}
s=$sm_tmpdir/s
start_segmap "$s"
uri=$(nbd_uri "$s" disk0)
stop=$sm_tmpdir/stop

# load N: write 64 KiB blocks of slot N's area with a counter, flush after
# each, until $stop exists; then read every block back.
load ()
{
  "$PYTHON" - "$uri" "$1" "$stop" <<'PY'
import os, sys, nbd
uri, slot, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
h = nbd.NBD()
h.connect_uri(uri)
bs, nblocks = 65536, 64
base = slot * nblocks * bs * 4           # 16 MiB apart: fresh segments too
last = {}
i = 0
while not os.path.exists(stop) or i < 50:
    blk = (i * 7) % nblocks
    data = (b"%08d:%04d:" % (i, slot)) * (bs // 14) + b"\0" * (bs % 14)
    h.pwrite(data, base + blk * bs)
    h.flush()
    last[blk] = data
    i += 1
for blk, data in last.items():
    if h.pread(bs, base + blk * bs) != data:
        sys.exit("slot %d block %d does not read back" % (slot, blk))
print("slot %d: %d writes+flushes" % (slot, i))
PY
}

stop_loads ()
{
  kill "$p0" "$p1" 2>/dev/null || true
}

load 0 & p0=$!
load 1 & p1=$!
cleanup_fn stop_loads

for (( r = 0; r < rounds; r++ )); do
  segctl "$s" container add extra "$sm_tmpdir/extra.img" 64M >/dev/null ||
    fail "round $r: container add failed"
  segctl "$s" container remove extra >/dev/null ||
    fail "round $r: container remove failed"
  kill -0 "$p0" 2>/dev/null && kill -0 "$p1" 2>/dev/null ||
    break                               # a client ended early: see below
done
touch "$stop"
st=0
wait "$p0" || st=$?
wait "$p1" || st=$?
[ "$st" = 0 ] || fail "a client's write, flush or read-back failed"
[ "$r" = "$rounds" ] || fail "a client stopped after $r rounds"
segctl "$s" container list | grep -q '^extra ' &&
  fail "container extra is still listed"
exit 0
