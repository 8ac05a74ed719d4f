# segmap benchmarks: what bench-nbd.sh and bench-iscsi.sh share.
# Sourced, not run.  The script sets $builddir (its -b option) first.

bench_name=$(basename "$0" .sh)

usage () { sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit "$1"; }

die () { echo "$bench_name: $*" >&2; exit 1; }

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
