# segmap benchmarks: what bench-nbd.sh, bench-iscsi.sh and bench-snapshot.sh share.
# Sourced, not run.  The script sets $builddir (its -b option) first.

bench_name=$(basename "$0" .sh)

usage () { sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit "$1"; }

die () { echo "$bench_name: $*" >&2; exit 1; }

# bench_pause_reclaim: stop every running kdamond (the kernel's DAMON,
# here doing proactive reclaim: it pages out file pages that stayed idle
# for about a minute, whoever owns them) until bench_resume_reclaim.  On
# a machine running it, a disk idle while the other server is measured
# loses part of its page cache, and the next run reads the disk for a
# while: one server's run reads from memory, the other's partly from the
# disk, by chance.  Needs root; does nothing where no kdamond runs, and
# says so where one runs that it may not stop.
damon_paused=()
bench_pause_reclaim ()
{
  local state
  for state in /sys/kernel/mm/damon/admin/kdamonds/*/state; do
    [ -r "$state" ] && [ "$(cat "$state")" = on ] || continue
    if [ ! -w "$state" ]; then
      echo "$bench_name: warning: DAMON reclaim runs and cannot be" \
           "paused (not root): idle disks may lose their cache" >&2
      continue
    fi
    echo off >"$state" || die "cannot stop the kdamond of $state"
    damon_paused+=("$state")
  done
  if [ ${#damon_paused[@]} -gt 0 ]; then
    echo "$bench_name: DAMON reclaim paused for the run" \
         "(${#damon_paused[@]} kdamond, restarted at exit)" >&2
  fi
}

bench_resume_reclaim ()
{
  local state
  for state in "${damon_paused[@]}"; do
    echo on >"$state" || echo "$bench_name: could not restart the kdamond" \
                              "of $state: write 'on' to it" >&2
  done
  damon_paused=()
}

# bench_find_build: SEGMAP_PLUGIN and SEGMAPCTL from -b BUILDDIR, else
# from the environment, else the current directory; the plugin must exist.
bench_find_build ()
{
  if [ -n "$builddir" ]; then
    SEGMAP_PLUGIN=$builddir/plugins/segmap/.libs/nbdkit-segmap-plugin.so
    SEGMAPCTL=$builddir/src/segmapctl
  fi
  : "${SEGMAP_PLUGIN:=$PWD/plugins/segmap/.libs/nbdkit-segmap-plugin.so}"
  : "${SEGMAPCTL:=$PWD/src/segmapctl}"
  [ -f "$SEGMAP_PLUGIN" ] || die "no segmap plugin at $SEGMAP_PLUGIN (use -b)"
}

# bench_size_bytes SIZE: SIZE (K, M, G or T suffix, powers of 1024) in
# bytes; dies unless it is a multiple of 1 MiB.
bench_size_bytes ()
{
  local b
  b=$(python3 -c '
import sys
s = sys.argv[1].upper().rstrip("B").rstrip("I")
m = {"K": 10, "M": 20, "G": 30, "T": 40}
print(int(s[:-1]) << m[s[-1]] if s[-1] in m else int(s))
' "$1") || die "bad size '$1'"
  [ $((b % (1 << 20))) = 0 ] || die "size must be a multiple of 1M"
  echo "$b"
}

# bench_make_workdir: $workdir (its -d option) made and absolute; when
# empty, a new bench-tmp-XXXX in the current directory, and keep=0 so
# that the script's cleanup removes it (keep=1 otherwise).
bench_make_workdir ()
{
  keep=1
  if [ -z "$workdir" ]; then
    workdir=$(mktemp -d "$PWD/bench-tmp-XXXX")
    keep=0
  fi
  mkdir -p "$workdir"
  workdir=$(cd "$workdir" && pwd)
}

# bench_stop_pids PID...: stop the servers (and probes) the script
# started: SIGTERM, up to 5 s for all of them to go (a server inside a
# long transaction does not stop on SIGTERM), then SIGKILL; reap them.
bench_stop_pids ()
{
  local p i alive
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for (( i = 0; i < 50; i++ )); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 1 ] || break
    sleep 0.1
  done
  for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# bench_begin PAUSE: after bench_make_workdir, what every benchmark sets
# up before it starts anything: $pids (the servers and probes to stop
# at exit), the exit and signal traps, and DAMON reclaim paused unless
# PAUSE is 0.  At exit bench_cleanup stops $pids, removes a workdir the
# script made and restarts the reclaim.
bench_begin ()
{
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  [ "$1" = 0 ] || bench_pause_reclaim
}

bench_cleanup ()
{
  bench_stop_pids "${pids[@]}"
  [ "$keep" = 1 ] || rm -rf "$workdir"
  bench_resume_reclaim
}
