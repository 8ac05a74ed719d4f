#!/usr/bin/env bash
# segmap iSCSI benchmark: segmap's iSCSI target against Debian's tgt, as
# ratios, measured in the same run with the same client on the same
# filesystem.  Not part of make check.
#
#   bench/bench-iscsi.sh [-r REPEATS] [-s SIZE] [-n COUNT4K] [-d WORKDIR]
#                        [-b BUILDDIR]
#
#   -r REPEATS  runs of each (workload, target) pair; medians are reported
#               (default 3)
#   -s SIZE     size of the benchmark disk, a multiple of 1M (default 2G)
#   -n COUNT4K  requests per 4 KiB run (default 200000); 1 MiB runs read
#               or write the whole disk once
#   -d WORKDIR  where the backing files go (default: a new bench-tmp-XXXX
#               in the current directory; removed at exit)
#   -b BUILDDIR the segmap build tree (default: SEGMAP_PLUGIN/SEGMAPCTL
#               from the environment, else the current directory)
#
# Targets, both on 127.0.0.1, on files in WORKDIR:
#   (a) tgt      tgtd (its own control port), LUN 1 on RAW with bs rdwr,
#                RAW fully written with random data
#   (b) segmap   nbdkit + segmap, iscsi=127.0.0.1:PORT, a vdisk of the
#                same size on a container file, fully written (every
#                segment allocated) with the same data through NBD
# Client: `qemu-img bench' with qemu's iscsi:// driver (libiscsi), cache
# none, for both.  Workloads, interleaved: for each repeat, for each
# workload, (a) then (b) on odd repeats, (b) then (a) on even ones:
#   4k randread QD32   -d 32 -s 4k, step 7919 x 4k (scattered: the step
#                      is odd in 4k units, so it visits every 4k block of
#                      a power-of-two sized disk before it repeats)
#   4k randwrite QD32  the same with -w
#   1M seqread QD8     -d 8 -s 1M, the whole disk
#   1M seqwrite QD8    the same with -w
#
# Output: a markdown table on stdout (workload | tgt | segmap | ratio
# segmap/tgt); every run's output stays in WORKDIR with -d.

set -e

repeats=3
size=2G
count4k=200000
workdir=
builddir=

# shellcheck source=bench-common.sh
source "$(dirname "$0")/bench-common.sh"

while getopts "r:s:n:d:b:h" opt; do
  case $opt in
    r) repeats=$OPTARG ;;
    s) size=$OPTARG ;;
    n) count4k=$OPTARG ;;
    d) workdir=$OPTARG ;;
    b) builddir=$OPTARG ;;
    h) usage 0 ;;
    *) usage 2 >&2 ;;
  esac
done

bench_find_build

for c in nbdkit nbdcopy qemu-img tgtd tgtadm python3 truncate; do
  command -v $c >/dev/null || die "missing $c"
done
qemu-img --help | grep -q '^Supported formats:.* iscsi' ||
  die "qemu-img has no iscsi driver (Debian package qemu-block-extra)"
[ -x "$SEGMAPCTL" ] || die "no segmapctl at $SEGMAPCTL (use -b)"

bytes=$(bench_size_bytes "$size")
bench_make_workdir

# Two free loopback ports (tgt's portal, segmap's portal), and a tgtd
# control port (0..32767: only the suffix of its control socket
# /var/run/tgtd/socket.N) no other tgtd uses.
read -r tgt_port seg_port <<<"$(python3 -c '
import random, socket
got = []
while len(got) < 2:
    p = random.randrange(20000, 60000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        if p not in got:
            got.append(p)
    except OSError:
        pass
    s.close()
print(*got)
')"
tgt_ctl=
for (( i = 0; i < 100; i++ )); do
  tgt_ctl=$(( RANDOM % 30000 + 1000 ))
  [ -e "/var/run/tgtd/socket.$tgt_ctl" ] || break
done

pids=()
tgtd_pid=
cleanup ()
{
  local p i
  # tgtd ignores SIGTERM: ask it to exit through its control socket,
  # then SIGKILL it if it is still there.
  if [ -n "$tgtd_pid" ]; then
    tgtadm -C "$tgt_ctl" --mode system --op delete >/dev/null 2>&1 || true
    for (( i = 0; i < 50; i++ )); do
      kill -0 "$tgtd_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$tgtd_pid" 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ $keep = 1 ] || rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_portal PORT NAME: until 127.0.0.1:PORT accepts.
wait_portal ()
{
  python3 - "$1" <<'EOF' || die "$2 does not listen on 127.0.0.1:$1"
import socket, sys, time
for _ in range(600):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

echo "bench-iscsi: preparing $size backing file for tgt and segmap vdisk in $workdir" >&2
head -c "$bytes" /dev/urandom >"$workdir/source.img"

# (b) segmap: NBD to fill the vdisk, iSCSI to measure.
rm -f "$workdir/segmap-nbd.sock"
nbdkit -f -U "$workdir/segmap-nbd.sock" -P "$workdir/segmap.pid" \
  "$SEGMAP_PLUGIN" "state-dir=$workdir/state" "iscsi=127.0.0.1:$seg_port" \
  >"$workdir/segmap.log" 2>&1 &
pids+=($!)
for (( i = 0; i < 600; i++ )); do
  [ -S "$workdir/state/segmap.sock" ] && break
  kill -0 "${pids[-1]}" 2>/dev/null ||
    die "segmap failed to start: $(cat "$workdir/segmap.log")"
  sleep 0.1
done
ctl () { "$SEGMAPCTL" -s "$workdir/state/segmap.sock" "$@"; }
ctl vdisk create bench "$bytes" >/dev/null || die "vdisk create bench failed"
nbdcopy --flush "$workdir/source.img" \
  "nbd+unix:///bench?socket=$workdir/segmap-nbd.sock" ||
  die "filling the vdisk failed"
wait_portal "$seg_port" segmap

# (a) tgt on a raw copy of the same data.
cp "$workdir/source.img" "$workdir/raw.img"
rm -f "$workdir/source.img"
tgtd -f -C "$tgt_ctl" --iscsi "portal=127.0.0.1:$tgt_port" \
  >"$workdir/tgtd.log" 2>&1 &
tgtd_pid=$!
pids+=($!)
wait_portal "$tgt_port" tgtd
tgt () { tgtadm -C "$tgt_ctl" --lld iscsi "$@"; }
tgt --mode target --op new --tid 1 --targetname iqn.2026-11.bench:tgt
tgt --mode logicalunit --op new --tid 1 --lun 1 --bstype rdwr \
  --backing-store "$workdir/raw.img"
tgt --mode target --op bind --tid 1 --initiator-address ALL

declare -A url=(
  [tgt]="iscsi://127.0.0.1:$tgt_port/iqn.2026-11.bench:tgt/1"
  [segmap]="iscsi://127.0.0.1:$seg_port/iqn.2026-11.org.segmap:bench/0"
)
for t in tgt segmap; do
  got=$(qemu-img info --output=json "${url[$t]}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])') ||
    die "qemu-img info ${url[$t]} failed"
  [ "$got" = "$bytes" ] || die "$t's LUN is $got bytes, expected $bytes"
done
sync
if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi

step4k=$((4096 * 7919))
count1m=$((bytes >> 20))
workloads=(randread4k randwrite4k seqread1m seqwrite1m)
declare -A args=(
  [randread4k]="-c $count4k -d 32 -s 4096 -S $step4k"
  [randwrite4k]="-w -c $count4k -d 32 -s 4096 -S $step4k"
  [seqread1m]="-c $count1m -d 8 -s 1M"
  [seqwrite1m]="-w -c $count1m -d 8 -s 1M"
)

# bench_run OUT URL ARGS...: one qemu-img bench run, its output in OUT.
bench_run ()
{
  local out=$1 u=$2; shift 2
  sync
  qemu-img bench -f raw -t none "$@" "$u" >"$out" 2>&1 ||
    die "qemu-img bench $* $u failed: $(cat "$out")"
}

for (( r = 1; r <= repeats; r++ )); do
  if (( r % 2 )); then order="tgt segmap"; else order="segmap tgt"; fi
  for w in "${workloads[@]}"; do
    for t in $order; do
      echo "bench-iscsi: repeat $r/$repeats: $w on $t" >&2
      # shellcheck disable=SC2086 # the bench arguments are meant to split
      bench_run "$workdir/$w-$t-$r.txt" "${url[$t]}" ${args[$w]}
    done
  done
done

python3 - "$workdir" "$repeats" "$count4k" "$count1m" "${workloads[@]}" <<'EOF'
import re, statistics, sys
workdir, repeats, count4k, count1m = sys.argv[1], *map(int, sys.argv[2:5])
workloads = sys.argv[5:]

def seconds(name, target, r):
    text = open("%s/%s-%s-%d.txt" % (workdir, name, target, r)).read()
    return float(re.search(r"Run completed in ([0-9.]+) seconds", text).group(1))

def rate(name, target):
    """Median IOPS (4k) or MB/s (1M) over the repeats."""
    n, size = (count4k, 4096) if name.endswith("4k") else (count1m, 1 << 20)
    rs = [n / seconds(name, target, r) for r in range(1, repeats + 1)]
    m = statistics.median(rs)
    return m if name.endswith("4k") else m * size / 1e6

labels = {"randread4k": "4k randread QD32", "randwrite4k": "4k randwrite QD32",
          "seqread1m": "1M seqread QD8", "seqwrite1m": "1M seqwrite QD8"}
print("| workload | tgt | segmap | ratio |")
print("|---|---|---|---|")
for w in workloads:
    unit = "IOPS" if w.endswith("4k") else "MB/s"
    a, b = rate(w, "tgt"), rate(w, "segmap")
    print("| %s | %.0f %s | %.0f %s | %.2f |" % (labels[w], a, unit, b, unit,
                                                 b / a))
print()
print("medians of %d runs each (qemu-img bench, iscsi://, cache none)"
      % repeats)
EOF
