#!/usr/bin/env bash
# segmap NBD benchmark: segmap against nbdkit's file plugin, as ratios,
# measured in the same run on the same filesystem.  Not part of make check.
#
#   bench/bench-nbd.sh [-t SECONDS] [-r REPEATS] [-s SIZE] [-d WORKDIR]
#                      [-b BUILDDIR] [-w WORKLOADS] [-S] [-Q]
#
#   -t SECONDS  length of each fio run (default 5)
#   -r REPEATS  runs of each (workload, server) pair; medians are reported
#               (default 11)
#   -s SIZE     size of the benchmark disk, fio/truncate syntax (default 2G)
#   -d WORKDIR  where the raw file and segmap's state go (default: a new
#               bench-tmp-XXXX in the current directory; removed at exit)
#   -b BUILDDIR the segmap build tree (default: SEGMAP_PLUGIN/SEGMAPCTL from
#               the environment, else the current directory)
#   -w WORKLOADS comma-separated subset of randread4k, randwrite4k,
#               seqread1m, seqwrite1m and first (default: all of them)
#   -S          run each workload on one server after the other (the
#               order alternating per repeat) instead of on both at once
#   -Q          leave the kernel's DAMON proactive reclaim running; by
#               default it is paused while measuring where it runs and we
#               may (root; restarted at exit): it pages out the cache of
#               whichever disk sat idle for a minute, so reads hit the
#               disk by chance (see bench/README.md)
#
# Servers, both `nbdkit -f -U SOCKET` with nbdkit's default thread count:
#   (a) nbdkit-file   `nbdkit file RAW` on a fully written raw file
#   (b) segmap        a fully allocated vdisk on a container file, both in
#                     WORKDIR (same filesystem as RAW)
# Both disks are filled through their servers, then the page cache is
# dropped (when we may) and warmed by one 4 KiB random read of every block
# of each disk.
# Workloads (fio, ioengine=nbd): for each repeat, for each workload, one
# fio job against each server, both at the same time: they share the
# host's cores and see the same host at every moment, so its drift (other
# guests: up to 3x between 5 s runs on a shared VM) hits both alike and the
# ratio compares what a request costs each server.  With -S, (a) then (b)
# on odd repeats, (b) then (a) on even ones.
#   4k randread QD32, 4k randwrite QD32, 1M seqread QD8, 1M seqwrite QD8
# then, after all repeats of those, (c) first writes: 4 KiB random
# writes, QD32, each to a segment never
# written before (blockalign=1M on a fresh 8 TiB thin vdisk, created for
# each repeat and deleted after), against segmap's 4k randwrite rate on
# the allocated vdisk measured right after it ("prewrite"); the page
# cache is dropped before each such pair when we are allowed to.
#
# Output: markdown tables on stdout: the rates (workload | nbdkit-file |
# segmap | ratio segmap/nbdkit-file of the medians | paired ratio, the
# median of the per-repeat ratios), then the servers' CPU time per
# request in the same runs; raw fio JSON (and each run's server CPU
# ticks, *.cpu) stays in WORKDIR with -d.

set -e

secs=5
repeats=11
size=2G
workdir=
builddir=

# shellcheck source=bench-common.sh
source "$(dirname "$0")/bench-common.sh"

all_workloads=(randread4k randwrite4k seqread1m seqwrite1m)
selected=randread4k,randwrite4k,seqread1m,seqwrite1m,first

pause_reclaim=1
concurrent=1
while getopts "t:r:s:d:b:w:SQh" opt; do
  case $opt in
    S) concurrent=0 ;;
    Q) pause_reclaim=0 ;;
    w) selected=$OPTARG ;;
    t) secs=$OPTARG ;;
    r) repeats=$OPTARG ;;
    s) size=$OPTARG ;;
    d) workdir=$OPTARG ;;
    b) builddir=$OPTARG ;;
    h) usage 0 ;;
    *) usage 2 >&2 ;;
  esac
done

bench_find_build

# The comparisons to run, in their fixed order, and whether (c) runs.
workloads=()
first_writes=0
IFS=, read -r -a wanted <<<"$selected"
for w in "${wanted[@]}"; do
  case " ${all_workloads[*]} first " in
    *" $w "*) ;;
    *) die "unknown workload '$w' (-w takes $(IFS=,; echo "${all_workloads[*]}"),first)" ;;
  esac
done
for w in "${all_workloads[@]}"; do
  case ",$selected," in *",$w,"*) workloads+=("$w") ;; esac
done
case ",$selected," in *",first,"*) first_writes=1 ;; esac

for c in nbdkit fio nbdcopy python3 truncate; do
  command -v $c >/dev/null || die "missing $c"
done
fio --enghelp=nbd >/dev/null 2>&1 || die "fio has no nbd engine"
[ -x "$SEGMAPCTL" ] || die "no segmapctl at $SEGMAPCTL (use -b)"

bytes=$(bench_size_bytes "$size")
bench_make_workdir

bench_begin "$pause_reclaim"

# start_server NAME ARGS...: nbdkit -f -U WORKDIR/NAME.sock ARGS, waiting
# for its pidfile (and for segmap, its control socket).
start_server ()
{
  local name=$1 i; shift
  rm -f "$workdir/$name-nbd.sock" "$workdir/$name.pid"
  nbdkit -f -U "$workdir/$name-nbd.sock" -P "$workdir/$name.pid" "$@" \
    >"$workdir/$name.log" 2>&1 &
  pids+=($!)
  for (( i = 0; i < 600; i++ )); do
    if [ -s "$workdir/$name.pid" ] &&
       { [ "$name" != segmap ] || [ -S "$workdir/state/segmap.sock" ]; }; then
      return 0
    fi
    kill -0 "${pids[-1]}" 2>/dev/null ||
      die "$name server failed to start: $(cat "$workdir/$name.log")"
    sleep 0.1
  done
  die "$name server did not start"
}

ctl () { "$SEGMAPCTL" -s "$workdir/state/segmap.sock" "$@"; }

echo "bench-nbd: preparing $size raw file and segmap vdisk in $workdir" >&2
# Both disks are filled the same way (nbdcopy through their own server
# from the same random source), so the kernel's page cache holds them in
# the same shape; the caches are dropped before measuring when we can.
head -c "$bytes" /dev/urandom >"$workdir/source.img"
truncate -s "$bytes" "$workdir/raw.img"
start_server file file "$workdir/raw.img"
file_pid=${pids[-1]}
start_server segmap "$SEGMAP_PLUGIN" "state-dir=$workdir/state" iscsi=off
seg_pid=${pids[-1]}
ctl vdisk create bench "$bytes" >/dev/null || die "vdisk create bench failed"
file_uri="nbd+unix:///?socket=$workdir/file-nbd.sock"
seg_uri="nbd+unix:///bench?socket=$workdir/segmap-nbd.sock"
# Allocate every segment of the segmap vdisk (and give it real data).
nbdcopy --flush "$workdir/source.img" "$file_uri" || die "filling the raw file failed"
nbdcopy --flush "$workdir/source.img" "$seg_uri" || die "filling the vdisk failed"
rm -f "$workdir/source.img"
sync
if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi
# Warm both caches the same way before the first repeat: one 4 KiB random
# read of every block.  From a dropped cache, the first repeat used to
# read from the disk (nbdkit-file's 4k randread went 12917, 34603, 38217,
# 68379 IOPS over four repeats).  A random pass, not a sequential one:
# readahead fills the cache with large folios, and 4 KiB random writes
# into those run slower afterwards, so a sequential warm-up would shape
# the two caches by how each server happens to issue its reads.
for uri in "$file_uri" "$seg_uri"; do
  echo "bench-nbd: warming the cache: random reads of $uri" >&2
  fio --name=warm --ioengine=nbd "--uri=$uri" --rw=randread --bs=4k \
    --iodepth=32 --output=/dev/null >/dev/null || die "warm-up read failed"
done

# server_cpu PID: CPU time (user + system, clock ticks) PID has used.
server_cpu () { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# fio_run OUT URI PID FIO-ARGS...: one time-based fio run against the
# server PID, JSON into OUT; the CPU time the server used from the end of
# fio's 1 s ramp to the end of the run (clock ticks) into OUT with .cpu
# for .json: the cost side of the same run (a server that does more work
# per request shows it here even when the rates are close).  Callers
# sync first: the previous run's writeback must not land in this one.
fio_run ()
{
  local out=$1 uri=$2 pid=$3 fio_pid cpu0; shift 3
  fio --name=bench --ioengine=nbd "--uri=$uri" --time_based \
    "--runtime=$secs" --ramp_time=1 --output-format=json "--output=$out" \
    "$@" >/dev/null &
  fio_pid=$!
  sleep 1
  cpu0=$(server_cpu "$pid")
  wait "$fio_pid" || die "fio failed: $* (see $out)"
  echo $(( $(server_cpu "$pid") - cpu0 )) >"${out%.json}.cpu"
}

declare -A args=(
  [randread4k]="--rw=randread --bs=4k --iodepth=32"
  [randwrite4k]="--rw=randwrite --bs=4k --iodepth=32"
  [seqread1m]="--rw=read --bs=1m --iodepth=8"
  [seqwrite1m]="--rw=write --bs=1m --iodepth=8"
)

# Each server's URI and pid, by the name its results are filed under.
declare -A uri_of=([file]=$file_uri [segmap]=$seg_uri)
declare -A pid_of=([file]=$file_pid [segmap]=$seg_pid)

# run_one W R SERVER: workload W of repeat R against SERVER (file or
# segmap).
run_one ()
{
  local w=$1 r=$2 t=$3
  # shellcheck disable=SC2086 # the fio arguments are meant to split
  fio_run "$workdir/$w-$t-$r.json" "${uri_of[$t]}" "${pid_of[$t]}" ${args[$w]}
}

# The order of a repeat's two runs (one after the other), or of their two
# starts (at once): alternating, so that neither server always gets the
# colder cache, the other's writeback, or the head start.
order_of () { if (( $1 % 2 )); then echo file segmap; else echo segmap file; fi; }

# run_pair W R: workload W of repeat R on both servers at the same time:
# both see the same host at every moment, and share its cores.
run_pair ()
{
  local w=$1 r=$2 t job jobs=()
  echo "bench-nbd: repeat $r/$repeats: $w on both at once" >&2
  sync
  for t in $(order_of "$r"); do
    run_one "$w" "$r" "$t" &
    jobs+=($!)
  done
  for job in "${jobs[@]}"; do wait "$job" || die "a run of $w failed"; done
}

for (( r = 1; r <= repeats; r++ )); do
  for w in "${workloads[@]}"; do
    if [ $concurrent = 1 ]; then
      run_pair "$w" "$r"
      continue
    fi
    for t in $(order_of "$r"); do
      echo "bench-nbd: repeat $r/$repeats: $w on $t" >&2
      sync
      run_one "$w" "$r" "$t"
    done
  done
done

# wait_deletes: until segmap's database holds no vdisk being deleted
# (read-only, through python3's sqlite3 module).
wait_deletes ()
{
  python3 - "$workdir/state/segmap.db" <<'EOF' || die "waiting for a vdisk delete failed"
import sqlite3, sys, time
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
deadline = time.time() + 600
while db.execute("SELECT count (*) FROM vdisk WHERE deleting = 1").fetchone()[0]:
    if time.time() > deadline:
        sys.exit("a vdisk delete did not finish within 600 s")
    time.sleep(0.05)
EOF
}

# (c) first writes, after all the comparisons above (the cache drops
# below would otherwise hand the next repeat's reads a cold cache).
for (( r = 1; r <= repeats * first_writes; r++ )); do
  # A fresh thin vdisk, every write to a new segment.
  # Writes into new space make the kernel add page-cache pages to the
  # container file, and how fast it does that depends on what earlier
  # runs left in the cache (measured on ext4: without a drop, each
  # repeat's first writes ran 20-30% slower than the one before).  So
  # the pair (c) + prewrite starts from an empty cache each time, when
  # we may drop it: both halves of the ratio see the same state.
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi
  echo "bench-nbd: repeat $r/$repeats: first-write on segmap" >&2
  # blockalign turns fio's random map off, so a write may hit a segment
  # written before; over 8 TiB (8 Mi segments) that is well under 1% of
  # the writes fio can issue in a few seconds.
  ctl vdisk create "first$r" 8T >/dev/null || die "vdisk create first$r failed"
  fio_run "$workdir/firstwrite-segmap-$r.json" \
    "nbd+unix:///first$r?socket=$workdir/segmap-nbd.sock" "$seg_pid" \
    --rw=randwrite --bs=4k --iodepth=32 --blockalign=1m --randrepeat=0
  ctl vdisk delete "first$r" >/dev/null || die "vdisk delete first$r failed"
  # A delete frees its segments in the background (punched holes, a
  # container sync): let it finish, or it runs under the next workload.
  wait_deletes
  # ... and the pre-allocated rate right after it, in the same conditions.
  sync
  fio_run "$workdir/prewrite-segmap-$r.json" "$seg_uri" "$seg_pid" \
    --rw=randwrite --bs=4k --iodepth=32
done

python3 - "$workdir" "$repeats" "$first_writes" "$secs" "$(getconf CLK_TCK)" \
  "$concurrent" "${workloads[@]}" <<'EOF'
import json, statistics, sys
workdir, repeats, first_writes = sys.argv[1], int(sys.argv[2]), sys.argv[3]
secs, tick = float(sys.argv[4]), 1e6 / float(sys.argv[5])
concurrent = sys.argv[6] == "1"
workloads = sys.argv[7:]

def result(name, target, r):
    text = open("%s/%s-%s-%d.json" % (workdir, name, target, r)).read()
    j = json.loads(text[text.index("{"):])     # fio may print notes first
    job = j["jobs"][0]
    d = job["read"] if job["read"]["io_bytes"] else job["write"]
    bw = d.get("bw_bytes", d["bw"] * 1024)
    return d["iops"], bw

# The server's CPU time per request (microseconds) in one run.
def cpu_per_request(name, target, r):
    ticks = int(open("%s/%s-%s-%d.cpu" % (workdir, name, target, r)).read())
    return ticks * tick / (result(name, target, r)[0] * secs)

def median_cpu(name, target):
    return statistics.median(cpu_per_request(name, target, r)
                             for r in range(1, repeats + 1))

def median(name, target):
    rs = [result(name, target, r) for r in range(1, repeats + 1)]
    return (statistics.median(x[0] for x in rs),
            statistics.median(x[1] for x in rs))

# The median of the per-repeat ratios: each repeat's two runs are at the
# same time (with -S, back to back), so a machine that drifts between
# repeats moves both alike.
def paired(name, target, ref_name, ref_target, use_iops):
    k = 0 if use_iops else 1
    return statistics.median(
        result(name, target, r)[k] / result(ref_name, ref_target, r)[k]
        for r in range(1, repeats + 1))

labels = {"randread4k": "4k randread QD32", "randwrite4k": "4k randwrite QD32",
          "seqread1m": "1M seqread QD8", "seqwrite1m": "1M seqwrite QD8"}

def fmt(name, iops, bw):
    if name.endswith("4k"):
        return "%.0f IOPS" % iops
    return "%.0f MB/s" % (bw / 1e6)

if workloads:
    print("| workload | nbdkit-file | segmap | ratio | paired ratio |")
    print("|---|---|---|---|---|")
for w in workloads:
    fi, fb = median(w, "file")
    si, sb = median(w, "segmap")
    iops = w.endswith("4k")
    ratio = si / fi if iops else sb / fb
    print("| %s | %s | %s | %.2f | %.2f |"
          % (labels[w], fmt(w, fi, fb), fmt(w, si, sb), ratio,
             paired(w, "segmap", w, "file", iops)))
if first_writes == "1":
    pi, _ = median("prewrite", "segmap")
    xi, _ = median("firstwrite", "segmap")
    if workloads:
        print()
    print("| first write (segmap) | pre-allocated 4k randwrite QD32 | "
          "first-write 4k randwrite QD32 | ratio | paired ratio |")
    print("|---|---|---|---|---|")
    print("| 4k, one new segment per write | %.0f IOPS | %.0f IOPS | %.2f "
          "| %.2f |" % (pi, xi, xi / pi,
                        paired("firstwrite", "segmap", "prewrite", "segmap",
                               True)))

# The same runs, by the servers' CPU time per request.
if workloads:
    print()
    print("| server CPU per request | nbdkit-file | segmap "
          "| segmap / nbdkit-file |")
    print("|---|---|---|---|")
for w in workloads:
    fc, sc = median_cpu(w, "file"), median_cpu(w, "segmap")
    print("| %s | %.1f us | %.1f us | %.2f |" % (labels[w], fc, sc, sc / fc))
if first_writes == "1":
    pc, xc = median_cpu("prewrite", "segmap"), median_cpu("firstwrite", "segmap")
    print()
    print("| first write (segmap) CPU per request | pre-allocated 4k randwrite "
          "| first-write 4k randwrite | first / pre-allocated |")
    print("|---|---|---|---|")
    print("| 4k, one new segment per write | %.1f us | %.1f us | %.2f |"
          % (pc, xc, xc / pc))
print()
if workloads:
    print("nbdkit-file and segmap ran each workload "
          + ("at the same time" if concurrent else "one after the other (-S)"))
print("ratio: of the medians; paired ratio: median of the per-repeat ratios")
print("CPU: user + system time of the server process from the end of each")
print("run's ramp to its end, per request fio counted (lower is better)")
print("medians of %d runs each" % repeats)
EOF
