# segmap benchmarks: what bench-nbd.sh and bench-iscsi.sh share.
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
