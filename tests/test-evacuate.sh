#!/usr/bin/env bash
# Evacuating a container (`segmapctl container evacuate',
# src/controller/evacuate.c).
#
# Container a holds a 64 MiB vdisk v (filled), its snapshot s1 (which
# shares all of v's segments) and a clone w of s1, written a little (its
# own copies of some segments).  Evacuating a to b with nothing running
# moves every segment and keeps the sharing: b then holds exactly as
# many segments as a did.  Evacuating b (to the container with the most
# free space: the state directory's 1 TiB default) while a writer writes
# and flushes v, and evacuating that back to a with the server killed
# (SIGKILL) in the middle: every
# flushed write is there, s1 and w read their bytes, the job resumes
# after the restart and completes, and the container evacuated holds
# nothing.  While an evacuation is paused, the container takes no new
# vdisk and no migration; a second evacuation of it, one to itself and
# unknown names are refused.  An evacuated container can be removed.
# `segmapctl check' passes after each step.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd
requires nbdcopy
set -o pipefail

s=$sm_tmpdir/s
start_segmap "$s"
segctl "$s" container add a "$s/a.img" 512M >/dev/null &&
  segctl "$s" container add b "$s/b.img" 512M >/dev/null &&
  segctl "$s" container add c "$s/c.img" 1G >/dev/null ||
  fail "container add failed"
segctl "$s" vdisk create v 64M --container a >/dev/null ||
  fail "vdisk create failed"

# writer VDISK MODE: flushing-writer.py on VDISK, its model in
# $sm_tmpdir/VDISK.img.
writer ()
{
  "$PYTHON" "$(dirname "$0")/flushing-writer.py" "$(nbd_uri "$s" "$1")" \
    "$sm_tmpdir/$1.img" "$sm_tmpdir/stop" "$2"
}

# write_for VDISK SECONDS: the writer on VDISK for SECONDS.
write_for ()
{
  rm -f "$sm_tmpdir/stop"
  writer "$1" write >"$sm_tmpdir/writer.log" 2>&1 &
  local pid=$!
  sleep "$2"
  touch "$sm_tmpdir/stop"
  wait "$pid" || fail "the writer failed: $(cat "$sm_tmpdir/writer.log")"
}

segments ()
{
  container_segments "$s" "$1"
}

# verify_all WHEN: v, w and the snapshot s1 read their models.
verify_all ()
{
  writer v verify || fail "v, $1"
  writer w verify || fail "w, $1"
  nbdcopy "$(nbd_uri "$s" v@s1)" "$sm_tmpdir/s1.back" ||
    fail "reading v@s1 failed, $1"
  cmp -s "$sm_tmpdir/s1.img" "$sm_tmpdir/s1.back" || fail "v@s1 changed, $1"
  segctl "$s" check >/dev/null || fail "segmapctl check failed, $1"
}

writer v fill || fail "filling v failed"
segctl "$s" snapshot create v s1 >/dev/null || fail "snapshot create failed"
segctl "$s" clone create v s1 w >/dev/null || fail "clone create failed"
cp "$sm_tmpdir/v.img" "$sm_tmpdir/s1.img"
cp "$sm_tmpdir/v.img" "$sm_tmpdir/w.img"
write_for w 1
on_a=$(segments a)
[ "$on_a" -gt 64 ] || fail "a holds $on_a segments: w copied none"

# 1. Idle: every segment moves, the shared ones once.
segctl "$s" container evacuate a --to b >"$sm_tmpdir/evacuate.out" ||
  fail "container evacuate a failed"
grep -q "^job 1: evacuating container a ($on_a segments" \
  "$sm_tmpdir/evacuate.out" ||
  fail "evacuate printed: $(cat "$sm_tmpdir/evacuate.out")"
[ "$(job_field "$s" 1 container)" = a ] ||
  fail "job 1 does not name container a"
segctl "$s" job wait 1 >/dev/null || fail "job 1 did not complete"
[ "$(segments a)" = 0 ] || fail "a still holds $(segments a) segments"
[ "$(segments b)" = "$on_a" ] ||
  fail "b holds $(segments b) segments, a held $on_a: sharing was lost"
segctl "$s" vdisk info v | grep -q "^Container: *b$" ||
  fail "v does not take new segments from b"
verify_all "after the idle evacuation of a"

# 2. Under writes, to the container with the most free space.
rm -f "$sm_tmpdir/stop"
writer v write >"$sm_tmpdir/writer.log" 2>&1 &
wpid=$!
segctl "$s" container evacuate b >/dev/null || fail "evacuate b failed"
segctl "$s" job wait 2 >/dev/null || fail "job 2 did not complete"
touch "$sm_tmpdir/stop"
wait "$wpid" || fail "the writer failed: $(cat "$sm_tmpdir/writer.log")"
echo "$(cat "$sm_tmpdir/writer.log") during the evacuation of b"
[ "$(segments b)" = 0 ] || fail "b still holds $(segments b) segments"
[ "$(segments default)" -gt 0 ] || fail "b's segments did not go to default"
verify_all "after the evacuation of b under writes"

# 3. Killed in the middle, writer running: the job resumes.
rm -f "$sm_tmpdir/stop"
writer v write >"$sm_tmpdir/writer.log" 2>&1 &
wpid=$!
segctl "$s" container evacuate default --to a >/dev/null ||
  fail "evacuate default failed"
sleep 0.3
kill_segmap "$s"
wait "$wpid"
start_segmap "$s"
state=$(job_field "$s" 3 state)
[ "$state" = running ] || [ "$state" = done ] ||
  fail "job 3 is $state after the restart"
segctl "$s" job wait 3 >/dev/null || fail "job 3 did not complete"
[ "$(segments default)" = 0 ] ||
  fail "default still holds $(segments default) segments"
verify_all "after the evacuation of default, killed and resumed"

# 4. Paused: the container takes nothing new; refusals.
segctl "$s" container evacuate a --to c >/dev/null || fail "evacuate a failed"
segctl "$s" job pause 4 >/dev/null || fail "job pause failed"
err=$(segctl "$s" vdisk create x 1M --container a 2>&1) &&
  fail "a vdisk was created on a container being evacuated"
grep -q "container 'a' is being evacuated" <<<"$err" || fail "create: $err"
err=$(segctl "$s" migrate v a 2>&1) && fail "a migration to a was accepted"
grep -q "container 'a' is being evacuated" <<<"$err" || fail "migrate: $err"
err=$(segctl "$s" container evacuate a 2>&1) && fail "a second evacuation"
grep -q "being evacuated already" <<<"$err" || fail "second: $err"
err=$(segctl "$s" container evacuate b --to b 2>&1) && fail "b to itself"
grep -q "cannot be evacuated to itself" <<<"$err" || fail "itself: $err"
err=$(segctl "$s" container evacuate nosuch 2>&1) && fail "an unknown one"
grep -q "no container 'nosuch'" <<<"$err" || fail "unknown: $err"
err=$(segctl "$s" container evacuate b --to nosuch 2>&1) &&
  fail "an unknown destination"
grep -q "no container 'nosuch'" <<<"$err" || fail "unknown --to: $err"
segctl "$s" container evacuate a --rate 1M >/dev/null 2>&1 &&
  fail "--rate was accepted by container evacuate"
segctl "$s" job resume 4 >/dev/null || fail "job resume failed"
segctl "$s" job wait 4 >/dev/null || fail "job 4 did not complete"
[ "$(segments a)" = 0 ] || fail "a still holds $(segments a) segments"

# 5. The evacuated containers go.
segctl "$s" container remove a >/dev/null || fail "container remove a failed"
segctl "$s" container remove b >/dev/null || fail "container remove b failed"
verify_all "after the evacuated containers were removed"
stop_segmap "$s"
start_segmap "$s"
verify_all "after a restart"
echo "evacuations: idle (sharing kept), under writes, killed and resumed," \
     "paused: the data intact"
