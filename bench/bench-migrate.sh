#!/usr/bin/env bash
# segmap migration benchmark: what a live migration costs the host that
# writes to the vdisk, and how fast an idle vdisk moves.  Not part of
# make check.
#
#   bench/bench-migrate.sh [-t SECONDS] [-r REPEATS] [-s SIZE]
#                          [-R RATE] [-w PARTS] [-d WORKDIR]
#                          [-b BUILDDIR] [-Q]
#
#   -t SECONDS  length of each fio run of part "impact" (default 10)
#   -r REPEATS  repeats of each measurement; medians are reported
#               (default 5)
#   -s SIZE     size of the vdisks (default 2G)
#   -R RATE     the --rate of part "impact" (default 200M)
#   -w PARTS    comma-separated subset of "impact" and "speed"
#               (default: both)
#   -d WORKDIR  where the files and segmap's state go (default: a new
#               bench-tmp-XXXX in the current directory; removed at exit)
#   -b BUILDDIR the segmap build tree (default: SEGMAP_PLUGIN/SEGMAPCTL
#               from the environment, else the current directory)
#   -Q          leave the kernel's DAMON proactive reclaim running (see
#               bench/README.md; paused by default where we may)
#
# One segmap with two file containers, a and b, in WORKDIR.
#
# Part "impact": a vdisk of SIZE filled with nbdcopy --flush from a
# random file.  Each repeat runs fio (nbd engine, 4 KiB random writes,
# QD32, time-based) twice on it: idle, then right after `segmapctl
# migrate' to the other container with --rate RATE was started (the
# repeats go a -> b -> a ...).  After the second run the script waits
# for the job, so that its work does not land in the next repeat.
# Reported: IOPS, p99 and max completion latency (fio's clat) of both,
# medians, and the ratio during/idle of the p99 (of the medians, and
# paired).
#
# Part "speed": another vdisk of SIZE, filled the same way, migrated
# with no rate and nothing else running (wall time of migrate + job
# wait), against, on the same file system, the same amount of data
# copied by `cp' of the random file and by `qemu-img convert' of it
# to a new raw file (qemu's bulk copy; qemu's live mirror job is not
# driven here), each followed by sync.  Each repeat drops the page
# cache first where it may (root), so that every copy reads the disk.

set -e

secs=10
repeats=5
size=2G
rate=200M
parts=impact,speed
workdir=
builddir=
pause_reclaim=1

# shellcheck source=bench-common.sh
source "$(dirname "$0")/bench-common.sh"

while getopts "t:r:s:R:w:d:b:Qh" opt; do
  case $opt in
    t) secs=$OPTARG ;;
    r) repeats=$OPTARG ;;
    s) size=$OPTARG ;;
    R) rate=$OPTARG ;;
    w) parts=$OPTARG ;;
    d) workdir=$OPTARG ;;
    b) builddir=$OPTARG ;;
    Q) pause_reclaim=0 ;;
    h) usage 0 ;;
    *) usage 2 >&2 ;;
  esac
done
do_impact=0 do_speed=0
IFS=, read -r -a wanted <<<"$parts"
for p in "${wanted[@]}"; do
  case $p in
    impact) do_impact=1 ;;
    speed) do_speed=1 ;;
    *) die "unknown part '$p' (-w takes impact,speed)" ;;
  esac
done
[[ $repeats =~ ^[1-9][0-9]*$ ]] || die "-r wants a positive count"

bench_find_build
[ -x "$SEGMAPCTL" ] || die "no segmapctl at $SEGMAPCTL (use -b)"
for c in nbdkit fio nbdcopy qemu-img; do
  command -v $c >/dev/null || die "missing $c"
done
fio --enghelp=nbd >/dev/null 2>&1 || die "fio has no nbd engine"

bytes=$(bench_size_bytes "$size")
bench_make_workdir
bench_begin "$pause_reclaim"

say () { echo "$bench_name: $*" >&2; }
state=$workdir/segmap
ctl () { "$SEGMAPCTL" -s "$state/segmap.sock" "$@"; }
uri () { echo "nbd+unix:///$1?socket=$state/nbd.sock"; }
now () { date +%s%N; }

drop_caches ()
{
  sync
  [ -w /proc/sys/vm/drop_caches ] && echo 3 >/proc/sys/vm/drop_caches
  return 0
}

mkdir -p "$state"
nbdkit -f -U "$state/nbd.sock" -P "$state/pid" "$SEGMAP_PLUGIN" \
  "state-dir=$state" iscsi=off >"$state/server.log" 2>&1 &
pids+=("$!")
for (( i = 0; i < 600; i++ )); do
  ctl status >/dev/null 2>&1 && break
  sleep 0.1
done
ctl status >/dev/null || die "segmap did not start: $(cat "$state/server.log")"
# Room for two copies of both vdisks on each container (sparse files).
ctl container add a "$workdir/a.img" $(( 4 * bytes )) >/dev/null
ctl container add b "$workdir/b.img" $(( 4 * bytes )) >/dev/null

say "writing $size of random data"
head -c "$bytes" /dev/urandom >"$workdir/random.img"

# fill VDISK: create it on a and write the random file to it.
fill ()
{
  ctl vdisk create "$1" "$size" --container a >/dev/null
  nbdcopy --flush "$workdir/random.img" "$(uri "$1")"
}

# migrate VDISK CONTAINER [ARGS]: start the job; its id on stdout.
migrate ()
{
  ctl --json migrate "$@" | sed -n 's/^ *"id": \([0-9]*\),*$/\1/p'
}

fio_randwrite ()
{
  fio --name=bench --ioengine=nbd "--uri=$2" --rw=randwrite --bs=4k \
    --iodepth=32 --time_based "--runtime=$secs" --output-format=json \
    "--output=$1" >/dev/null || die "fio failed (see $1)"
}

if (( do_impact )); then
  fill v
  to=b
  for (( r = 1; r <= repeats; r++ )); do
    say "impact, repeat $r/$repeats: idle"
    sync
    fio_randwrite "$workdir/idle-$r.json" "$(uri v)"
    say "impact, repeat $r/$repeats: migrating to $to at $rate/s"
    sync
    id=$(migrate v "$to" --rate "$rate")
    [ -n "$id" ] || die "migrate did not start"
    fio_randwrite "$workdir/during-$r.json" "$(uri v)"
    t0=$(now)
    ctl job wait "$id" >/dev/null || die "job $id did not complete"
    echo "$(( ($(now) - t0) / 1000000 ))" >"$workdir/after-$r.ms"
    to=$([ "$to" = b ] && echo a || echo b)
  done
fi

if (( do_speed )); then
  fill w
  to=b
  for (( r = 1; r <= repeats; r++ )); do
    say "speed, repeat $r/$repeats"
    drop_caches
    t0=$(now)
    id=$(migrate w "$to")
    ctl job wait "$id" >/dev/null || die "job $id did not complete"
    sync
    echo "$(( ($(now) - t0) / 1000000 ))" >"$workdir/migrate-$r.ms"
    drop_caches
    t0=$(now)
    cp "$workdir/random.img" "$workdir/cp.img"
    sync
    echo "$(( ($(now) - t0) / 1000000 ))" >"$workdir/cp-$r.ms"
    rm -f "$workdir/cp.img"
    drop_caches
    t0=$(now)
    qemu-img convert -f raw -O raw "$workdir/random.img" "$workdir/qi.img"
    sync
    echo "$(( ($(now) - t0) / 1000000 ))" >"$workdir/qemu-img-$r.ms"
    rm -f "$workdir/qi.img"
    to=$([ "$to" = b ] && echo a || echo b)
  done
fi

python3 - "$workdir" "$repeats" "$do_impact" "$do_speed" "$size" "$rate" \
  "$secs" <<'PYEOF'
import json, statistics, sys
workdir, repeats, do_impact, do_speed, size, rate, secs = sys.argv[1:]
R = range(1, int(repeats) + 1)
med = statistics.median

def fio(name):
    w = json.load(open("%s/%s.json" % (workdir, name)))["jobs"][0]["write"]
    return {"iops": w["iops"],
            "p99": w["clat_ns"]["percentile"]["99.000000"] / 1e6,
            "max": w["clat_ns"]["max"] / 1e6}

def ms(name, r):
    return int(open("%s/%s-%d.ms" % (workdir, name, r)).read())

if do_impact == "1":
    res = {k: [fio("%s-%d" % (k, r)) for r in R] for k in ("idle", "during")}
    print("4 KiB random writes, QD32, %s s, a %s vdisk: idle, and while it "
          "migrates at --rate %s (medians of %s)" % (secs, size, rate,
                                                      repeats))
    print()
    print("| run | IOPS | p99 | max |")
    print("|---|---|---|---|")
    for k in ("idle", "during"):
        print("| %s | %.0f | %.2f ms | %.1f ms |" % (
            k, med(x["iops"] for x in res[k]), med(x["p99"] for x in res[k]),
            med(x["max"] for x in res[k])))
    m = med(x["p99"] for x in res["during"]) / med(x["p99"] for x in res["idle"])
    p = med(d["p99"] / i["p99"] for d, i in zip(res["during"], res["idle"]))
    print()
    print("p99 during / idle: %.2f (of the medians), %.2f (paired); "
          "wanted <= 1.5, max <= 50 ms" % (m, p))
    print("per repeat (IOPS, p99 ms, max ms; the job's rest after the run):")
    for r in R:
        i, d = res["idle"][r - 1], res["during"][r - 1]
        print("  %d: idle %.0f, %.2f, %.1f | during %.0f, %.2f, %.1f | "
              "%.1f s" % (r, i["iops"], i["p99"], i["max"], d["iops"],
                          d["p99"], d["max"], ms("after", r) / 1000))
    print()

if do_speed == "1":
    t = {k: [ms(k, r) for r in R] for k in ("migrate", "cp", "qemu-img")}
    print("moving %s of data, nothing else running (medians of %s, page "
          "cache dropped before each)" % (size, repeats))
    print()
    print("| copy | time | speed of cp / it |")
    print("|---|---|---|")
    for k in ("migrate", "cp", "qemu-img"):
        print("| %s | %.2f s | %.2f |" % (k, med(t[k]) / 1000,
                                         med(t["cp"]) / med(t[k])))
    print()
    print("migrate / cp speed: %.2f (of the medians), %.2f (paired); "
          "wanted >= 0.8" % (med(t["cp"]) / med(t["migrate"]),
                             med(c / m for c, m in zip(t["cp"],
                                                       t["migrate"]))))
PYEOF
