#!/usr/bin/env bash
# segmap: fault latency while a fully written vdisk is deleted.
# Not part of make check (tests/test-delete.sh covers the function).
#
#   bench/bench-delete-latency.sh [-s SIZE] [-g SEGMENT] [-d WORKDIR]
#                                 [-b BUILDDIR] [-o]
#
#   -s SIZE     size of the vdisk that is filled, then deleted (default 10G)
#   -g SEGMENT  its segment size (default 1M)
#   -d WORKDIR  where the state goes (default: a new bench-tmp-XXXX in the
#               current directory; removed at exit)
#   -b BUILDDIR the segmap build tree (default: SEGMAP_PLUGIN/SEGMAPCTL
#               from the environment, else the current directory)
#   -o          put the probe vdisk on another container file (the same
#               file system) instead of the deleted vdisk's container
#
# One server (nbdkit -f -U).  The vdisk "victim" (SIZE, SEGMENT) is
# filled with fio.  Two probe clients (python3 libnbd, open loop, one
# request per millisecond each) then run 5 s alone (baseline), then
# again while `segmapctl vdisk delete victim' runs and until the
# database has no vdisk marked deleting left:
#
#   faults  reads 4 KiB of the empty 1 TiB vdisk "rprobe" 64 segments
#           apart: the agent has never loaded those entries, so every
#           read is a fault answered by the controller thread (and reads
#           no container).  Its latency is the controller's.
#   writes  writes 4 KiB at the start of successive 64 KiB segments of
#           the vdisk "probe": every write is a first write into a
#           segment the controller granted ahead (or a fault when none
#           is at hand), so it also waits for the file system of the
#           container, where the deleted segments' holes are punched.
#
# Printed: the delete command's own time, the time until the space was
# freed, and for each phase and probe the count, median, p99 and maximum
# latency.
set -e
size=10G seg=1M workdir='' builddir='' probe_container=c
while getopts s:g:d:b:o opt; do
  case $opt in
    s) size=$OPTARG ;;
    g) seg=$OPTARG ;;
    d) workdir=$OPTARG ;;
    b) builddir=$OPTARG ;;
    o) probe_container=c2 ;;
    *) sed -n '2,35p' "$0"; exit 2 ;;
  esac
done
if [ -n "$builddir" ]; then
  SEGMAP_PLUGIN=$builddir/plugins/segmap/.libs/nbdkit-segmap-plugin.so
  SEGMAPCTL=$builddir/src/segmapctl
fi
: "${SEGMAP_PLUGIN:=$PWD/plugins/segmap/.libs/nbdkit-segmap-plugin.so}"
: "${SEGMAPCTL:=$PWD/src/segmapctl}"
for cmd in nbdkit fio python3 sqlite3; do
  command -v $cmd >/dev/null || { echo "missing $cmd" >&2; exit 77; }
done
PYTHON=
for p in "$(command -v python3)" /usr/bin/python3; do
  if "$p" -c 'import nbd' 2>/dev/null; then PYTHON=$p; break; fi
done
[ -n "$PYTHON" ] || { echo "missing python3 libnbd" >&2; exit 77; }

made_workdir=
if [ -z "$workdir" ]; then
  workdir=$(mktemp -d "$PWD/bench-tmp-XXXX")
  made_workdir=1
fi
# The server is stopped at exit; a workdir we made is removed.
trap 'kill $(cat "$workdir/s/pid" 2>/dev/null) 2>/dev/null; sleep 1
      [ -z "$made_workdir" ] || rm -rf "$workdir"' EXIT
s=$workdir/s
mkdir -p "$s"
ctl () { "$SEGMAPCTL" -s "$s/segmap.sock" "$@"; }
uri () { echo "nbd+unix:///$1?socket=$s/nbd.sock"; }

nbdkit -f -U "$s/nbd.sock" -P "$s/pid" "$SEGMAP_PLUGIN" "state-dir=$s" \
  iscsi=off >"$s/server.log" 2>&1 &
for (( i = 0; i < 300; i++ )); do
  ctl status >/dev/null 2>&1 && break
  sleep 0.1
done
ctl container add c "$s/c.img" 1T >/dev/null
[ "$probe_container" = c ] || ctl container add c2 "$s/c2.img" 1T >/dev/null
ctl vdisk create victim "$size" --container c --segment-size "$seg" >/dev/null
ctl vdisk create probe 1T --container "$probe_container" --segment-size 64K \
  >/dev/null
ctl vdisk create rprobe 1T --container "$probe_container" --segment-size 64K \
  >/dev/null
echo "filling victim ($size, segments of $seg)..."
fio --name=fill --ioengine=nbd --uri="$(uri victim)" --rw=write --bs=1M \
  --size="$size" --iodepth=8 --end_fsync=1 >/dev/null
ctl vdisk info victim | grep -i mapped

# probe write|read OUT SECONDS|STOPFILE START: latencies (ms), one per
# line; prints the next START.
probe ()
{
  local vdisk=probe
  [ "$1" = write ] || vdisk=rprobe
  "$PYTHON" - "$(uri $vdisk)" "$@" <<'PY'
import nbd, os, sys, time
uri, kind, out, until, start = sys.argv[1:6]
h = nbd.NBD()
h.connect_uri(uri)
buf = b"\x42" * 4096
# A read 64 segments (one load run of the agent) past the last one.
stride = 65536 * (64 if kind == "read" else 1)
lat, i = [], int(start)
t_end = time.monotonic() + float(until) if until.isdigit() else None
# Open loop: one request every INTERVAL, each timed from when it was
# due, so a stall counts against every request it delayed (no
# coordinated omission: a closed loop would record a 10 s stall as one
# sample).
INTERVAL = 0.001
t0, k = time.perf_counter(), 0
while (time.monotonic() < t_end) if t_end else not os.path.exists(until):
    due = t0 + k * INTERVAL
    now = time.perf_counter()
    if now < due:
        time.sleep(due - now)
    if kind == "write":
        h.pwrite(buf, i * stride)
    else:
        h.pread(4096, i * stride)
    lat.append((time.perf_counter() - due) * 1000)
    i += 1
    k += 1
with open(out, "w") as f:
    f.write("\n".join("%.3f" % x for x in lat) + "\n")
print(i)
PY
}

report ()
{
  "$PYTHON" - "$1" "$2" <<'PY'
import sys
lat = sorted(float(x) for x in open(sys.argv[2]) if x.strip())
n = len(lat)
pct = lambda p: lat[min(n - 1, int(p * n))]
print("%-18s %7d  p50 %7.3f ms  p99 %7.3f ms  max %8.3f ms"
      % (sys.argv[1], n, pct(0.5), pct(0.99), lat[-1]))
PY
}

next_w=$(probe write "$workdir/base-w.lat" 5 0)
next_r=$(probe read "$workdir/base-r.lat" 5 0)
rm -f "$workdir/stop"
probe write "$workdir/delete-w.lat" "$workdir/stop" "$next_w" >/dev/null &
probe_w=$!
probe read "$workdir/delete-r.lat" "$workdir/stop" "$next_r" >/dev/null &
probe_r=$!
sleep 1
t0=$(date +%s%N)
ctl vdisk delete victim
t1=$(date +%s%N)
while [ "$(sqlite3 "$s/segmap.db" \
            'SELECT count (*) FROM vdisk WHERE deleting = 1' 2>/dev/null \
            || echo 0)" != 0 ]; do
  sleep 0.05
done
t2=$(date +%s%N)
sleep 1
touch "$workdir/stop"
wait $probe_w $probe_r
echo "vdisk delete answered in $(( (t1 - t0) / 1000000 )) ms;" \
     "space freed after $(( (t2 - t0) / 1000000 )) ms"
report "faults, baseline" "$workdir/base-r.lat"
report "faults, delete" "$workdir/delete-r.lat"
report "writes, baseline" "$workdir/base-w.lat"
report "writes, delete" "$workdir/delete-w.lat"
ctl check
