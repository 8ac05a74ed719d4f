#!/usr/bin/env bash
# Crashes of a mirrored vdisk (src/controller/mirror.c).
#
# disk0 is mirrored on container b while tests/crash-workload.py writes,
# trims and flushes its first MIRROR_CRASH_REGION bytes; first
# MIRROR_CRASH_KILL_CUTS kill -9 cuts, then MIRROR_CRASH_POWER_CUTS power
# cuts under powercut.so (every write not synced is lost, on either
# copy).  After each cut the server starts again, every copy that was in
# sync is stale (a write in flight may have reached one copy only), and
# a resync job runs, across later cuts too.  After each start: every
# flushed write is there (crash_verify) and `segmapctl check' passes
# (copies counted, no leak).  At the end the resync completes, and every
# copy holds the same bytes as its segment.
#
#   MIRROR_CRASH_KILL_CUTS   kill -9 cuts (default 10)
#   MIRROR_CRASH_POWER_CUTS  power cuts (default 10)
#   MIRROR_CRASH_SEED        seed (default random, printed for a replay)
#   MIRROR_CRASH_REGION      bytes written (default 32M)

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/crash-lib.sh"
requires_python_nbd
requires awk

requires_powercut
crash_plan MIRROR_CRASH 10 "$((32 * MiB))"

s=$sm_tmpdir/s
state=$sm_tmpdir/model.json

verify_after ()
{
  crash_verify_after "$s" "$state" "$@"
}

start_segmap "$s"
segctl "$s" container add b "$s/b.img" 1G >/dev/null ||
  fail "container add b failed"
segctl "$s" vdisk mirror disk0 b >/dev/null || fail "vdisk mirror failed"
: >"$sm_tmpdir/log-0"
verify_after "fresh disk0" "$sm_tmpdir/log-0"
for (( t = 1; t <= kill_cuts + power_cuts; t++ )); do
  log=$sm_tmpdir/log-$t
  what="cut $t (seed $seed)"
  if (( t > kill_cuts )); then
    what="power $what"
    stop_segmap "$s"
    SEGMAP_PRELOAD=$POWERCUT_SO POWERCUT_DIR=$s \
      POWERCUT_MATCH='segmap.db:segmap.db-*:*.img' start_segmap "$s"
  fi
  crash_trial "$s" "$log" $(( seed * 1000 + t )) $(( t * 10000000 )) \
    "$max_load" "$what"
  start_segmap "$s"
  verify_after "after $what" "$log"
done

# The resync after the last cut completes; then the copies are exact.
for (( i = 0; i < sm_timeout * 10; i++ )); do
  segctl "$s" --json vdisk info disk0 | grep -q '"mirror_stale_blocks": 0' &&
    break
  sleep 0.1
done
segctl "$s" --json vdisk info disk0 | grep -q '"mirror_stale_blocks": 0' ||
  fail "the copies are still behind: $(segctl "$s" vdisk info disk0)"
"$PYTHON" "$(dirname "$0")/failure-workload.py" - - copies "$s/segmap.db" ||
  fail "a copy differs from its segment"
verify_after "after the resync" /dev/null
echo "$sm_test_name: $(( kill_cuts + power_cuts )) cuts, no flushed write" \
     "lost, copies identical"
