#!/usr/bin/env bash
# Mirrored vdisks (src/controller/mirror.c).
#
# 1. vm (32 MiB) on container `a' is filled, then mirrored on `b' (both
#    files whose I/O fails on demand: failing_file in functions.sh): the
#    resync job copies every written block, and every copy then holds
#    the same bytes as its segment (read from the backing files).
# 2. Writes to vm go to both copies: after random writes, the copies are
#    still identical.
# 3. a (the serving copy's container) fails mid-workload (the vdisk is
#    flushed just before): the client sees no error at all, every block
#    reads its model while a is failed, `vdisk info' shows how many
#    blocks are behind.
# 4. `container online a': the resync copies exactly the distinct blocks
#    written while a was away (the job's count is checked against the
#    workload's), and both copies are identical again.
# 5. b fails instead: again no client error, and the resync after
#    `container online b' copies only what was written meanwhile.
# 6. Refusals: a snapshot or migration of a mirrored vdisk, a mirror on
#    a container of the vdisk's pool; `vdisk unmirror' frees the copies
#    (`check' passes: no leak) and vm keeps working.
# 7. vm mirrored again while a client writes to it: once the resync is
#    done, the copies are identical and every block reads its model.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd
set -o pipefail

workload=$(dirname "$0")/failure-workload.py
s=$sm_tmpdir/s
mkdir -p "$sm_tmpdir/a" "$sm_tmpdir/b" "$s"
failing_file "$sm_tmpdir/a" 128M >/dev/null
failing_file "$sm_tmpdir/b" 128M >/dev/null

cat >"$s/segmap.conf" <<EOF
[container a]
path = $sm_tmpdir/a/mnt/disk

[container b]
path = $sm_tmpdir/b/mnt/disk

[vdisk vm]
size = 32M
container = a
EOF
start_segmap "$s" "config=$s/segmap.conf"
state=$sm_tmpdir/model.json

wl ()
{
  "$PYTHON" "$workload" "$s/nbd.sock" "$state" "$@"
}

copies_identical ()
{
  wl copies "$s/segmap.db" "a=$sm_tmpdir/a/back.img" \
    "b=$sm_tmpdir/b/back.img" || fail "copies differ: $1"
}

# job_done ID: the job's `done' once it has ended (done), else fail.
job_done ()
{
  segctl "$s" job wait "$1" >/dev/null || fail "job $1 did not complete"
  json_field "$(segctl "$s" --json job list)" id "$1" done
}

# resync_job: the id of the latest resync job.
resync_job ()
{
  segctl "$s" --json job list | "$PYTHON" -c 'import json, sys
jobs = [j for j in json.load(sys.stdin) if j["kind"] == "resync"]
print(max(j["id"] for j in jobs) if jobs else "")'
}

# fail_and_back NAME WRITES FAIL_AT: container NAME fails at write
# FAIL_AT of WRITES (the vdisk flushed just before) with no client
# error, comes back, and the resync copies what was written meanwhile.
fail_and_back ()
{
  local name=$1 out after id done_blocks
  out=$(FAILURE_FLUSH_FIRST=1 wl run "$sm_tmpdir/$name/inject" "$2" "$3" vm) ||
    fail "a client saw an error while $name failed: $out"
  echo "$out"
  after=$(tail -n1 <<<"$out" | "$PYTHON" -c 'import json, sys
print(json.load(sys.stdin)["vm"]["after"])')
  [ "$(json_field "$(segctl "$s" --json container list)" name "$name" \
       state)" = failed ] || fail "$name is not failed"
  wl check "$s/segmap.db" - >/dev/null || fail "data while $name is failed"
  segctl "$s" vdisk info vm | grep -q "^Mirror: .*($after blocks behind)" ||
    fail "vdisk info: $(segctl "$s" vdisk info vm), expected $after behind"
  rm -f "$sm_tmpdir/$name/inject"
  segctl "$s" container online "$name" >/dev/null ||
    fail "container online $name"
  id=$(resync_job)
  done_blocks=$(job_done "$id")
  echo "resync after $name came back: $done_blocks blocks (written: $after)"
  [ "$done_blocks" = "$after" ] ||
    fail "the resync copied $done_blocks blocks, $after were written"
  copies_identical "after $name came back"
  wl check "$s/segmap.db" - >/dev/null || fail "data after the resync"
}

# 1. Mirror a written vdisk.
wl fill vm || fail "filling vm failed"
out=$(segctl "$s" --json vdisk mirror vm b) || fail "vdisk mirror: $out"
id=$(json_field "[$out]" kind resync id)
total=$(json_field "[$out]" kind resync total)
[ "$total" = $((32 * 256)) ] || fail "the first resync has $total blocks"
[ "$(job_done "$id")" = "$total" ] || fail "the first resync copied less"
segctl "$s" vdisk info vm | grep -q '^Mirror: *b (in sync)$' ||
  fail "vdisk info: $(segctl "$s" vdisk info vm)"
copies_identical "after the first resync"
wl check "$s/segmap.db" - >/dev/null || fail "data after mirroring"

# 2. Writes go to both copies.
wl run "$sm_tmpdir/never" 400 -1 vm >/dev/null || fail "writes to vm"
copies_identical "after writes"

# 3, 4. The serving copy's container fails and comes back.
fail_and_back a 800 200

# 5. The other copy's container.
fail_and_back b 600 100

# 6. Refusals, and unmirror.
segctl "$s" snapshot create vm s1 2>/dev/null &&
  fail "a snapshot of a mirrored vdisk was taken"
segctl "$s" migrate vm b 2>/dev/null &&
  fail "a mirrored vdisk was migrated"
segctl "$s" vdisk create other 8M --container b >/dev/null ||
  fail "vdisk create other"
segctl "$s" vdisk mirror other b 2>/dev/null &&
  fail "a vdisk was mirrored onto its own container"
segctl "$s" container add c "$sm_tmpdir/c.img" 64M >/dev/null ||
  fail "container add c"
segctl "$s" vdisk create empty 8M --container a >/dev/null ||
  fail "vdisk create empty"
segctl "$s" vdisk mirror empty c >/dev/null || fail "vdisk mirror empty c"
segctl "$s" container remove c 2>"$sm_tmpdir/remove.err" &&
  fail "the mirror container of an empty mirrored vdisk was removed"
grep -q "mirror copies" "$sm_tmpdir/remove.err" ||
  fail "container remove c: $(cat "$sm_tmpdir/remove.err")"
segctl "$s" vdisk unmirror empty >/dev/null || fail "vdisk unmirror empty"
segctl "$s" container remove c >/dev/null ||
  fail "container remove c after unmirror"
used_before=$(json_field "$(segctl "$s" --json container list)" name b used)
segctl "$s" vdisk unmirror vm >/dev/null || fail "vdisk unmirror"
sleep 1
used_after=$(json_field "$(segctl "$s" --json container list)" name b used)
[ "$used_after" -lt "$used_before" ] ||
  fail "unmirror freed nothing on b ($used_before -> $used_after)"
wl run "$sm_tmpdir/never" 200 -1 vm >/dev/null || fail "writes after unmirror"
wl check "$s/segmap.db" - >/dev/null || fail "data after unmirror"

# 7. Mirrored again while a client writes: the resync and the writes
# race for the same segments, and the copies still end up identical.
wl run "$sm_tmpdir/never" 3000 -1 vm >"$sm_tmpdir/bg.out" 2>&1 &
writer=$!
out=$(segctl "$s" --json vdisk mirror vm b) || fail "vdisk mirror again: $out"
job_done "$(json_field "[$out]" kind resync id)" >/dev/null
wait "$writer" || fail "the writer failed during the resync: $(cat "$sm_tmpdir/bg.out")"
id=$(resync_job)
segctl "$s" job wait "$id" >/dev/null || fail "resync $id"
[ "$(segctl "$s" --json vdisk info vm | "$PYTHON" -c 'import json, sys
print(json.load(sys.stdin)["mirror_stale_blocks"])')" = 0 ] ||
  fail "copies behind after the resync: $(segctl "$s" vdisk info vm)"
copies_identical "after a resync under writes"
wl check "$s/segmap.db" - >/dev/null || fail "data after a resync under writes"
stop_segmap "$s"
