#!/usr/bin/env bash
# segmap snapshot benchmark: writes to a vdisk just shared with a
# snapshot, and the cost of taking a snapshot.  Not part of make check.
#
#   bench/bench-snapshot.sh [-t SECONDS] [-r REPEATS] [-s SIZE]
#                           [-n SEGMENTS] [-w PARTS] [-d WORKDIR]
#                           [-b BUILDDIR] [-Q]
#
#   -t SECONDS  length of each fio run of part "writes" (default 10)
#   -r REPEATS  repeats of each measurement; medians are reported
#               (default 5)
#   -s SIZE     size of the disks of part "writes" (default 2G)
#   -n SEGMENTS mapped 1 MiB segments of the vdisk of part "create"
#               (default 100000)
#   -w PARTS    comma-separated subset of "writes" and "create"
#               (default: both)
#   -d WORKDIR  where the files and segmap's state go (default: a new
#               bench-tmp-XXXX in the current directory; removed at exit)
#   -b BUILDDIR the segmap build tree (default: SEGMAP_PLUGIN/SEGMAPCTL
#               from the environment, else the current directory)
#   -Q          leave the kernel's DAMON proactive reclaim running (see
#               bench/README.md; paused by default where we may)
#
# Part "writes": 4 KiB random writes, QD32, fio's nbd engine, time-based
# (no ramp: the first second is when shared segments are hit), each
# repeat on three disks one after the other, the order rotating:
#   unshared  a fully written vdisk of segmap, never snapshotted
#   shared    another one, of which a snapshot is taken right before
#             the run (the previous repeat's snapshot is deleted first)
#   qemu-nbd  qemu-nbd serving a fresh qcow2 overlay (default cluster
#             size) on a fully written raw file
# All three are filled from the same random file with nbdcopy --flush
# through their server.  After a shared run the script waits until the
# copier has moved every shared segment, so its work does not land in
# the next run.  Reported: IOPS, p99 and max completion latency (fio's
# clat), medians, and the ratios shared/unshared and shared/qemu-nbd
# (of the medians, and paired: the median of the per-repeat ratios).
#
# Part "create": a sparse vdisk of SEGMENTS MiB, one 4 KiB write in each
# 1 MiB segment (fio, rw=write:1020k).  Each repeat takes a new snapshot
# (none is deleted) while two open-loop probes (python3 libnbd, one
# request due every millisecond, timed from when it was due) run on the
# vdisk: 4 KiB reads of random mapped segments, and 4 KiB writes to one
# segment (the last), which every snapshot shares again, so the first
# probe write after each create is a copy-on-write.  Reported: the wall
# time of `segmapctl snapshot create', and each probe's max latency and
# p99 over its run (1 s before the create, the create, 1 s after).

set -e

secs=10
repeats=5
size=2G
nsegs=100000
parts=writes,create
workdir=
builddir=
pause_reclaim=1

# shellcheck source=bench-common.sh
source "$(dirname "$0")/bench-common.sh"

while getopts "t:r:s:n:w:d:b:Qh" opt; do
  case $opt in
    t) secs=$OPTARG ;;
    r) repeats=$OPTARG ;;
    s) size=$OPTARG ;;
    n) nsegs=$OPTARG ;;
    w) parts=$OPTARG ;;
    d) workdir=$OPTARG ;;
    b) builddir=$OPTARG ;;
    Q) pause_reclaim=0 ;;
    h) usage 0 ;;
    *) usage 2 >&2 ;;
  esac
done
do_writes=0 do_create=0
IFS=, read -r -a wanted <<<"$parts"
for p in "${wanted[@]}"; do
  case $p in
    writes) do_writes=1 ;;
    create) do_create=1 ;;
    *) die "unknown part '$p' (-w takes writes,create)" ;;
  esac
done
[[ $repeats =~ ^[1-9][0-9]*$ ]] || die "-r wants a positive count"
[[ $nsegs =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive count"

bench_find_build
[ -x "$SEGMAPCTL" ] || die "no segmapctl at $SEGMAPCTL (use -b)"
for c in nbdkit fio nbdcopy qemu-img qemu-nbd sqlite3; do
  command -v $c >/dev/null || die "missing $c"
done
fio --enghelp=nbd >/dev/null 2>&1 || die "fio has no nbd engine"
PYTHON=
for p in "$(command -v python3)" /usr/bin/python3; do
  if "$p" -c 'import nbd' 2>/dev/null; then PYTHON=$p; break; fi
done
[ -n "$PYTHON" ] || die "missing python3 libnbd (python3-libnbd)"

bytes=$(bench_size_bytes "$size")
bench_make_workdir

bench_begin "$pause_reclaim"

say () { echo "$bench_name: $*" >&2; }

# start_segmap NAME: nbdkit + segmap on WORKDIR/NAME (state, sockets,
# log), waiting for its control socket.  Its pid in $server_pid.
start_segmap ()
{
  local d=$workdir/$1 i
  mkdir -p "$d"
  nbdkit -f -U "$d/nbd.sock" -P "$d/pid" "$SEGMAP_PLUGIN" "state-dir=$d" \
    iscsi=off >"$d/server.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for (( i = 0; i < 600; i++ )); do
    [ -S "$d/segmap.sock" ] && "$SEGMAPCTL" -s "$d/segmap.sock" status \
      >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null ||
      die "segmap failed to start: $(cat "$d/server.log")"
    sleep 0.1
  done
  die "segmap did not start"
}

# stop_pid PID: end a server this script started, and wait for it.
stop_pid ()
{
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# start_qemu_nbd IMAGE FORMAT SOCKET: qemu-nbd with its default cache and
# aio modes, waiting for its socket.  Its pid in $qemu_pid.
start_qemu_nbd ()
{
  local i
  rm -f "$3"
  qemu-nbd -f "$2" --socket="$3" --persistent "$1" \
    >>"$workdir/qemu-nbd.log" 2>&1 &
  qemu_pid=$!
  pids+=("$qemu_pid")
  for (( i = 0; i < 300; i++ )); do
    [ -S "$3" ] && return 0
    kill -0 "$qemu_pid" 2>/dev/null || die "qemu-nbd failed to start"
    sleep 0.05
  done
  die "qemu-nbd did not start"
}

# db_count STATEDIR SQL: one number from segmap's database (read-only).
db_count ()
{
  sqlite3 -readonly "$1/segmap.db" "$2" 2>/dev/null || echo busy
}

# wait_idle STATEDIR: until no copy-on-write movement and no vdisk being
# deleted is left in the database; prints the seconds it took.
wait_idle ()
{
  local t0 n
  t0=$(date +%s%N)
  while :; do
    n=$(db_count "$1" "SELECT (SELECT count (*) FROM movement)
                              + (SELECT count (*) FROM vdisk
                                 WHERE deleting = 1)")
    [ "$n" = 0 ] && break
    (( $(date +%s%N) - t0 < 900000000000 )) ||
      die "copies or deletes still pending after 900 s"
    sleep 0.05
  done
  awk -v t0="$t0" -v t1="$(date +%s%N)" 'BEGIN { printf "%.2f\n", (t1 - t0) / 1e9 }' 
}

# ---------------------------------------------------------------------
# Part "writes"

fio_randwrite ()
{
  fio --name=bench --ioengine=nbd "--uri=$2" --rw=randwrite --bs=4k \
    --iodepth=32 --time_based "--runtime=$secs" --output-format=json \
    "--output=$1" "--write_iops_log=${1%.json}" --log_avg_msec=500 \
    >/dev/null || die "fio failed (see $1)"
}

# run_unshared R, run_shared R, run_qemu R: one run of repeat R.
run_unshared ()
{
  say "repeat $1/$repeats: unshared"
  sync
  fio_randwrite "$workdir/unshared-$1.json" "$(seg_uri a)"
}

run_shared ()
{
  local r=$1 drain
  if (( r > 1 )); then
    ctl snapshot delete b "s$((r - 1))" >/dev/null ||
      die "snapshot delete b s$((r - 1)) failed"
  fi
  wait_idle "$wstate" >/dev/null
  sync
  ctl snapshot create b "s$r" >/dev/null || die "snapshot create b s$r failed"
  say "repeat $r/$repeats: shared (just after snapshot b@s$r)"
  fio_randwrite "$workdir/shared-$r.json" "$(seg_uri b)"
  echo "$(db_count "$wstate" "SELECT count (*) FROM movement")" \
    >"$workdir/shared-$r.backlog"
  drain=$(wait_idle "$wstate")
  echo "$drain" >>"$workdir/shared-$r.backlog"
}

run_qemu ()
{
  local r=$1 overlay=$workdir/overlay.qcow2
  rm -f "$overlay"
  qemu-img create -q -f qcow2 -b "$workdir/base.raw" -F raw "$overlay" ||
    die "qemu-img create failed"
  start_qemu_nbd "$overlay" qcow2 "$workdir/qemu.sock"
  say "repeat $r/$repeats: qemu-nbd (fresh qcow2 overlay)"
  sync
  fio_randwrite "$workdir/qemu-$r.json" "nbd+unix:///?socket=$workdir/qemu.sock"
  stop_pid "$qemu_pid"
  rm -f "$overlay"
}

part_writes ()
{
  local r i k sides=(unshared shared qemu)
  wstate=$workdir/w
  say "writes: preparing two $size vdisks and a $size raw file in $workdir"
  head -c "$bytes" /dev/urandom >"$workdir/source.img"
  start_segmap w
  wserver=$server_pid
  ctl () { "$SEGMAPCTL" -s "$wstate/segmap.sock" "$@"; }
  seg_uri () { echo "nbd+unix:///$1?socket=$wstate/nbd.sock"; }
  for v in a b; do
    ctl vdisk create $v "$bytes" >/dev/null || die "vdisk create $v failed"
    nbdcopy --flush "$workdir/source.img" "$(seg_uri $v)" ||
      die "filling vdisk $v failed"
  done
  truncate -s "$bytes" "$workdir/base.raw"
  start_qemu_nbd "$workdir/base.raw" raw "$workdir/qemu.sock"
  nbdcopy --flush "$workdir/source.img" \
    "nbd+unix:///?socket=$workdir/qemu.sock" || die "filling base.raw failed"
  stop_pid "$qemu_pid"
  rm -f "$workdir/source.img"
  sync
  for (( r = 1; r <= repeats; r++ )); do
    for (( i = 0; i < 3; i++ )); do
      k=$(( (i + r - 1) % 3 ))
      "run_${sides[$k]}" "$r"
    done
  done
  stop_pid "$wserver"
}

# ---------------------------------------------------------------------
# Part "create"

# thread_cpu PID: "TID TICKS" for each thread of PID (user + system).
thread_cpu ()
{
  local t
  for t in /proc/"$1"/task/*; do
    awk -v t="${t##*/}" '{ print t, $14 + $15 }' "$t/stat" 2>/dev/null || true
  done
}

# probe KIND OUT STOPFILE: open-loop probe of vdisk big, one request due
# every millisecond; "due-time latency" lines (seconds since the epoch,
# milliseconds) into OUT.
probe ()
{
  "$PYTHON" - "nbd+unix:///big?socket=$cstate/nbd.sock" "$nsegs" "$@" <<'PY'
import nbd, os, random, sys, time
uri, nsegs, kind, out, stop = sys.argv[1:6]
nsegs, M = int(nsegs), 1 << 20
h = nbd.NBD()
h.connect_uri(uri)
buf = b"\x5a" * 4096
INTERVAL = 0.001
# Open loop: each request is timed from when it was due, so a stall
# counts against every request due during it.
t0, k, lat = time.perf_counter(), 0, []
wall0 = time.time() - t0
while not os.path.exists(stop):
    due = t0 + k * INTERVAL
    now = time.perf_counter()
    if now < due:
        time.sleep(due - now)
    if kind == "write":
        h.pwrite(buf, (nsegs - 1) * M + (k % 256) * 4096)
    else:
        h.pread(4096, random.randrange(nsegs) * M)
    lat.append((wall0 + due, (time.perf_counter() - due) * 1000))
    k += 1
with open(out, "w") as f:
    f.writelines("%.6f %.3f\n" % x for x in lat)
PY
}

part_create ()
{
  local r t0 t1 pr pw
  cstate=$workdir/c
  start_segmap c
  cserver=$server_pid
  cctl () { "$SEGMAPCTL" -s "$cstate/segmap.sock" "$@"; }
  cctl vdisk create big "${nsegs}M" >/dev/null || die "vdisk create big failed"
  say "create: writing 4 KiB into each of $nsegs segments"
  t0=$(date +%s%N)
  fio --name=fill --ioengine=nbd \
    "--uri=nbd+unix:///big?socket=$cstate/nbd.sock" --rw=write:1020k \
    --bs=4k --iodepth=32 "--size=${nsegs}M" "--io_size=$((nsegs * 4))k" \
    --output=/dev/null >/dev/null ||
    die "filling vdisk big failed"
  cctl vdisk info big >/dev/null
  echo "$(( ($(date +%s%N) - t0) / 1000000 ))" >"$workdir/create-fill.ms"
  mapped=$(cctl --json vdisk info big | "$PYTHON" -c \
             'import json, sys; print(json.load(sys.stdin)["mapped_segments"])')
  [ "$mapped" = "$nsegs" ] ||
    die "vdisk big has $mapped mapped segments, not $nsegs"
  for (( r = 1; r <= repeats; r++ )); do
    wait_idle "$cstate" >/dev/null
    sync
    rm -f "$workdir/stop"
    probe read "$workdir/create-read-$r.lat" "$workdir/stop" &
    pr=$!
    probe write "$workdir/create-write-$r.lat" "$workdir/stop" &
    pw=$!
    pids+=("$pr" "$pw")
    sleep 1
    say "repeat $r/$repeats: snapshot create big s$r ($nsegs mapped segments)"
    thread_cpu "$cserver" >"$workdir/create-$r.cpu0"
    t0=$(date +%s.%N)
    cctl snapshot create big "s$r" >/dev/null ||
      die "snapshot create big s$r failed"
    t1=$(date +%s.%N)
    thread_cpu "$cserver" >"$workdir/create-$r.cpu1"
    sleep 1
    touch "$workdir/stop"
    wait "$pr" "$pw" || die "a probe failed"
    echo "$t0 $t1" >"$workdir/create-$r.time"
  done
  stop_pid "$cserver"
}

[ $do_writes = 0 ] || part_writes
[ $do_create = 0 ] || part_create

"$PYTHON" - "$workdir" "$repeats" "$do_writes" "$do_create" "$secs" \
  "$size" "$nsegs" <<'EOF'
import json, os, statistics, sys
workdir, repeats = sys.argv[1], int(sys.argv[2])
do_writes, do_create = sys.argv[3] == "1", sys.argv[4] == "1"
secs, size, nsegs = sys.argv[5], sys.argv[6], int(sys.argv[7])
R = range(1, repeats + 1)
med = statistics.median

# The IOPS of the first second of a run (fio's log of 500 ms averages).
def first_second(side, r):
    rows = [l.split(",") for l in
            open("%s/%s-%d_iops.1.log" % (workdir, side, r))]
    return statistics.mean(float(x[1]) for x in rows
                           if 0 < int(x[0]) <= 1000) if rows else 0

def fio(side, r):
    text = open("%s/%s-%d.json" % (workdir, side, r)).read()
    w = json.loads(text[text.index("{"):])["jobs"][0]["write"]
    clat = w["clat_ns"]
    return {"iops": w["iops"], "p99": clat["percentile"]["99.000000"] / 1e6,
            "max": clat["max"] / 1e6, "first": first_second(side, r)}

if do_writes:
    res = {s: [fio(s, r) for r in R] for s in ("unshared", "shared", "qemu")}
    print("4 KiB random writes, QD32, %s s, %s disks (medians of %d)"
          % (secs, size, repeats))
    print()
    print("| disk | IOPS | p99 | max | IOPS in the first second |")
    print("|---|---|---|---|---|")
    names = {"unshared": "segmap, unshared vdisk",
             "shared": "segmap, just shared with a snapshot",
             "qemu": "qemu-nbd, fresh qcow2 overlay on raw"}
    for s in ("unshared", "shared", "qemu"):
        print("| %s | %.0f | %.2f ms | %.1f ms | %.0f |"
              % (names[s], med(x["iops"] for x in res[s]),
                 med(x["p99"] for x in res[s]), med(x["max"] for x in res[s]),
                 med(x["first"] for x in res[s])))
    print()
    print("| ratio | of the medians | paired | wanted |")
    print("|---|---|---|---|")
    def ratio(label, a, b, key, want):
        m = med(x[key] for x in res[a]) / med(x[key] for x in res[b])
        p = med(x[key] / y[key] for x, y in zip(res[a], res[b]))
        print("| %s | %.2f | %.2f | %s |" % (label, m, p, want))
    ratio("shared / unshared IOPS", "shared", "unshared", "iops", ">= 0.8")
    ratio("shared / unshared p99", "shared", "unshared", "p99", "<= 2")
    ratio("shared / qemu-nbd IOPS", "shared", "qemu", "iops", ">= 5")
    print()
    print("per repeat (IOPS, p99 ms): unshared | shared | qemu-nbd | "
          "shared backlog at the end of its run (movements), drained in")
    for r in R:
        b = open("%s/shared-%d.backlog" % (workdir, r)).read().split()
        print("  %d: %s | %s | %s | %s, %s s" % (r, *(
            "%.0f, %.2f" % (res[s][r - 1]["iops"], res[s][r - 1]["p99"])
            for s in ("unshared", "shared", "qemu")), b[0], b[1]))
    print()

# The CPU time of the server's busiest thread during the create (the
# controller thread, which runs the create), in ms.
def busiest_thread(r):
    def load(n):
        return dict(l.split() for l in
                    open("%s/create-%d.%s" % (workdir, r, n)))
    a, b = load("cpu0"), load("cpu1")
    tick = 1000.0 / os.sysconf("SC_CLK_TCK")
    return max(int(b[t]) - int(a.get(t, 0)) for t in b) * tick

def probe(kind, r):
    rows = [tuple(map(float, l.split()))
            for l in open("%s/create-%s-%d.lat" % (workdir, kind, r))]
    lat = sorted(x[1] for x in rows)
    return lat[-1], lat[min(len(lat) - 1, int(0.99 * len(lat)))], len(lat)

if do_create:
    fill = int(open("%s/create-fill.ms" % workdir).read())
    print("snapshot create of a vdisk with %d mapped segments (filled in "
          "%.1f s)" % (nsegs, fill / 1000))
    print()
    print("| repeat | create | controller CPU | read probe max / p99 "
          "| write probe max / p99 |")
    print("|---|---|---|---|---|")
    rows = []
    for r in R:
        t0, t1 = map(float, open("%s/create-%d.time" % (workdir, r)).read().split())
        rd, wr = probe("read", r), probe("write", r)
        rows.append(((t1 - t0) * 1000, rd, wr, busiest_thread(r)))
        print("| %d | %.0f ms | %.0f ms | %.1f / %.2f ms | %.1f / %.2f ms |"
              % (r, (t1 - t0) * 1000, rows[-1][3], rd[0], rd[1], wr[0],
                 wr[1]))
    print("| median | %.0f ms | %.0f ms | %.1f / %.2f ms | %.1f / %.2f ms |"
          % (med(x[0] for x in rows), med(x[3] for x in rows),
             med(x[1][0] for x in rows), med(x[1][1] for x in rows),
             med(x[2][0] for x in rows), med(x[2][1] for x in rows)))
    print()
    print("wanted: create <= 1000 ms, host I/O pause (probe max) <= 50 ms")
    print("probes: one 4 KiB request due every ms (open loop), from 1 s "
          "before the create to 1 s after it; p99 over that span")
EOF
