#!/usr/bin/env bash
# Live migration of a vdisk between containers (`segmapctl migrate',
# src/controller/migrate.c).
#
# A 64 MiB vdisk v on container a is filled with a pattern.  While it
# migrates to container b (--rate 24M, so that it takes a few seconds),
# a writer keeps writing and flushing 4 KiB blocks through NBD and
# reading back blocks it wrote; afterwards v reads exactly the model's
# bytes, every segment of v is on b, a holds nothing any more (its
# space was returned) and `segmapctl check' passes.  Then v migrates
# back to a and the server is killed (SIGKILL) in the middle, with the
# writer running: after the restart the job resumes by itself and
# completes, and every flushed write is there.  A migration of a vdisk
# with a snapshot copies the shared segments: the snapshot keeps its
# own on the old container and reads its bytes.  Pause holds a job's
# progress, resume finishes it; a cancelled migration leaves v reading
# its bytes with segments on both containers; the refusals (an unknown
# container or vdisk, a vdisk that already has a job, a bad rate) change
# nothing.  The container a vdisk left can be removed.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd
set -o pipefail

s=$sm_tmpdir/s
M=$((1 << 20))
start_segmap "$s"
segctl "$s" container add a "$s/a.img" 512M >/dev/null ||
  fail "container add a failed"
segctl "$s" container add b "$s/b.img" 512M >/dev/null ||
  fail "container add b failed"
segctl "$s" vdisk create v 64M --container a >/dev/null ||
  fail "vdisk create failed"

model=$sm_tmpdir/model.img

# writer MODE: flushing-writer.py on v (fill, write, verify).
writer ()
{
  "$PYTHON" "$(dirname "$0")/flushing-writer.py" "$(nbd_uri "$s" v)" \
    "$model" "$sm_tmpdir/stop" "$1"
}

segments ()
{
  container_segments "$s" "$1"
}

vdisk_container ()
{
  segctl "$s" vdisk info v | awk '$1 == "Container:" { print $2 }'
}

check_ok ()
{
  segctl "$s" check >/dev/null || fail "$1: segmapctl check failed"
}

writer fill || fail "filling v failed"
[ "$(segments a)" = 64 ] || fail "a holds $(segments a) segments, not 64"

# 1. Under writes.
rm -f "$sm_tmpdir/stop"
writer write >"$sm_tmpdir/writer.log" 2>&1 &
wpid=$!
segctl "$s" migrate v b --rate 24M >"$sm_tmpdir/migrate.out" ||
  fail "migrate v b failed"
grep -q "^job 1: migrating vdisk v to container b (64 segments" \
  "$sm_tmpdir/migrate.out" || fail "migrate printed: $(cat "$sm_tmpdir/migrate.out")"
[ "$(vdisk_container)" = b ] || fail "v is not on b after migrate"
[ "$(job_field "$s" 1 rate)" = $((24 * M)) ] || fail "the job's rate is not 24M"
segctl "$s" job wait 1 >/dev/null || fail "job 1 did not complete"
touch "$sm_tmpdir/stop"
wait "$wpid" || fail "the writer failed: $(cat "$sm_tmpdir/writer.log")"
echo "$(cat "$sm_tmpdir/writer.log") during the migration to b"
[ "$(job_field "$s" 1 state)" = done ] || fail "job 1 is $(job_field "$s" 1 state)"
writer verify || fail "after the migration to b"
[ "$(segments a)" = 0 ] || fail "a still holds $(segments a) segments"
[ "$(segments b)" = 64 ] || fail "b holds $(segments b) segments, not 64"
check_ok "after the migration to b"

# 2. Killed in the middle, writer running: the job resumes.
rm -f "$sm_tmpdir/stop"
writer write >"$sm_tmpdir/writer.log" 2>&1 &
wpid=$!
segctl "$s" migrate v a --rate 8M >/dev/null || fail "migrate v a failed"
sleep 2
kill_segmap "$s"
wait "$wpid"
start_segmap "$s"
writer verify || fail "after the kill in the middle of the migration"
state=$(job_field "$s" 2 state)
[ "$state" = running ] || [ "$state" = done ] ||
  fail "job 2 is $state after the restart"
segctl "$s" job wait 2 >/dev/null || fail "job 2 did not complete"
writer verify || fail "after the resumed migration to a"
[ "$(segments b)" = 0 ] || fail "b still holds $(segments b) segments"
check_ok "after the resumed migration"

# 3. A snapshot keeps its segments where they were.
segctl "$s" snapshot create v s1 >/dev/null || fail "snapshot create failed"
cp "$model" "$sm_tmpdir/s1.img"
segctl "$s" migrate v b >/dev/null || fail "migrate with a snapshot failed"
segctl "$s" job wait 3 >/dev/null || fail "job 3 did not complete"
writer verify || fail "after the migration with a snapshot"
[ "$(segments a)" = 64 ] || fail "a holds $(segments a), not s1's 64"
[ "$(segments b)" = 64 ] || fail "b holds $(segments b), not v's 64"
nbdcopy "$(nbd_uri "$s" v@s1)" "$sm_tmpdir/s1.back" ||
  fail "reading v@s1 failed"
cmp -s "$sm_tmpdir/s1.img" "$sm_tmpdir/s1.back" ||
  fail "v@s1 changed with the migration"
segctl "$s" snapshot delete v s1 >/dev/null || fail "snapshot delete failed"
check_ok "after the migration with a snapshot"

# 4. Pause, resume, cancel, refusals.
segctl "$s" migrate v a --rate 4M >/dev/null || fail "migrate v a failed"
sleep 1
segctl "$s" job pause 4 >/dev/null || fail "job pause failed"
sleep 0.5
done1=$(job_field "$s" 4 done)
sleep 1
[ "$(job_field "$s" 4 done)" = "$done1" ] || fail "a paused job went on"
[ "$(job_field "$s" 4 state)" = paused ] || fail "job 4 is not paused"
err=$(segctl "$s" migrate v b 2>&1) && fail "a second job was accepted"
grep -q "already has job 4" <<<"$err" || fail "second job: $err"
segctl "$s" job resume 4 >/dev/null || fail "job resume failed"
segctl "$s" job cancel 4 >/dev/null || fail "job cancel failed"
[ "$(job_field "$s" 4 state)" = cancelled ] || fail "job 4 is not cancelled"
writer verify || fail "after a cancelled migration"
[ "$(segments a)" -gt 0 ] && [ "$(segments b)" -gt 0 ] ||
  fail "a cancelled migration left a $(segments a), b $(segments b) segments"
check_ok "after a cancelled migration"
err=$(segctl "$s" migrate v nosuch 2>&1) && fail "an unknown container"
grep -q "no container 'nosuch'" <<<"$err" || fail "unknown container: $err"
err=$(segctl "$s" migrate w a 2>&1) && fail "an unknown vdisk"
grep -q "no vdisk 'w'" <<<"$err" || fail "unknown vdisk: $err"
segctl "$s" migrate v a --rate fast >/dev/null 2>&1 &&
  fail "a bad rate was accepted"
segctl "$s" migrate v a >/dev/null || fail "migrate v a failed"
segctl "$s" job wait 5 >/dev/null || fail "job 5 did not complete"
writer verify || fail "after the last migration"
[ "$(segments b)" = 0 ] || fail "b still holds $(segments b) segments"
segctl "$s" container remove b >/dev/null ||
  fail "the container migrated away from cannot be removed"
writer verify || fail "after container remove"
check_ok "at the end"
echo "migrations: under writes, killed and resumed, with a snapshot," \
     "paused, cancelled: the data intact"
