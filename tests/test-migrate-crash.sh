#!/usr/bin/env bash
# Crashes in the middle of live migrations (issue: migration crash
# acceptance; src/controller/migrate.c, faults-move.c, cow.c).
#
# disk0 migrates back and forth between the state directory's default
# container and container b (--rate 32M, so a job spans several cuts)
# while tests/crash-workload.py writes, trims and flushes its first
# MIGRATE_CRASH_REGION bytes.  First MIGRATE_CRASH_KILL_CUTS plain kill
# -9 cuts (unsynced writes survive in the page cache), then
# MIGRATE_CRASH_POWER_CUTS power cuts under powercut.so (every write not
# synced is lost; both containers and the database are in the state
# directory).  After each cut the server starts again and: every
# flushed write is there (crash_verify), `segmapctl check' passes (a
# movement's row and the map agree: no segment has two authoritative
# locations, references and bitmaps are exact), and the job that was
# running is running again (or done), or a new one starts.  At the end
# the last job completes, every segment of disk0 is on its target, and
# the data is still exact.
#
#   MIGRATE_CRASH_KILL_CUTS   kill -9 cuts (default 50)
#   MIGRATE_CRASH_POWER_CUTS  power cuts (default 50)
#   MIGRATE_CRASH_SEED        seed (default random, printed for a replay)
#   MIGRATE_CRASH_REGION      bytes written (default 64M)

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/crash-lib.sh"
requires_python_nbd
requires awk

requires_powercut
kill_cuts=${MIGRATE_CRASH_KILL_CUTS:-50}
power_cuts=${MIGRATE_CRASH_POWER_CUTS:-50}
seed=${MIGRATE_CRASH_SEED:-$(( $(date +%s) % 100000 ))}
CRASH_REGION=${MIGRATE_CRASH_REGION:-$((64 * MiB))}
max_load=1.0
RANDOM=$seed
echo "$sm_test_name: $kill_cuts kill -9 cuts, $power_cuts power cuts," \
     "seed $seed (set MIGRATE_CRASH_SEED=$seed to replay)"

s=$sm_tmpdir/s
state=$sm_tmpdir/model.json

# job_state ID: the state of job ID ("" if none).
job_state ()
{
  local rows
  rows=$(segctl "$s" --json job list) || fail "job list failed"
  json_field "$rows" id "$1" state 2>/dev/null || true
}

# ensure_job: the latest migration runs; if it is done, start the next
# one, to the other container.
jobs=0
ensure_job ()
{
  local st target
  [ $jobs = 0 ] || st=$(job_state $jobs)
  case $st in
    running) return ;;
    ""|done) ;;
    *) fail "job $jobs is $st after a cut" ;;
  esac
  target=$([ $(( jobs % 2 )) = 0 ] && echo b || echo default)
  segctl "$s" migrate disk0 "$target" --rate 32M >/dev/null ||
    fail "migrate disk0 $target failed"
  jobs=$(( jobs + 1 ))
}

# verify_after WHAT LOG: the data and the store after a cut.
verify_after ()
{
  local out
  out=$(crash_verify "$s" "$2" "$state") ||
    fail "$1: flushed data lost or corrupted (log kept in $2)"
  echo "$1: $out"
  out=$(segctl "$s" check 2>&1) || fail "$1: segmapctl check failed: $out"
}

start_segmap "$s"
segctl "$s" container add b "$s/b.img" 1G >/dev/null ||
  fail "container add b failed"
: >"$sm_tmpdir/log-0"
verify_after "fresh disk0" "$sm_tmpdir/log-0"
prev=$sm_tmpdir/log-0
for (( t = 1; t <= kill_cuts + power_cuts; t++ )); do
  log=$sm_tmpdir/log-$t
  what="cut $t (seed $seed)"
  if (( t > kill_cuts )); then
    what="power $what"
    stop_segmap "$s"
    SEGMAP_PRELOAD=$POWERCUT_SO POWERCUT_DIR=$s \
      POWERCUT_MATCH='segmap.db:segmap.db-*:*.img' start_segmap "$s"
  fi
  ensure_job
  crash_trial "$s" "$log" $(( seed * 1000 + t )) $(( t * 10000000 )) \
    "$max_load" "$what"
  start_segmap "$s"
  verify_after "after $what, job $jobs $(job_state $jobs)" "$log"
  prev=$log
done

segctl "$s" job wait $jobs >/dev/null || fail "job $jobs did not complete"
verify_after "after job $jobs completed" /dev/null
target=$([ $(( jobs % 2 )) = 1 ] && echo b || echo default)
other=$([ "$target" = b ] && echo default || echo b)
[ "$(container_segments "$s" "$other")" = 0 ] ||
  fail "$other still holds $(container_segments "$s" "$other") segments"
echo "$sm_test_name: $(( kill_cuts + power_cuts )) cuts in $jobs" \
     "migrations, no flushed write lost"
