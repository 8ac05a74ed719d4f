#!/usr/bin/env bash
# Persistence across a clean shutdown (SIGTERM) and restart.
#
# Data written to two vdisks (the default disk0 and one created with
# segmapctl, with a non-default segment size), their extent maps, and the
# `vdisk list` / `container list` output (including a container added from
# an existing file and a vdisk on it) are identical after a restart; then
# after overwriting, trimming and restarting again.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdcopy nbdinfo cmp head
requires_nbdsh

s=$sm_tmpdir/s
start_segmap "$s"
segctl "$s" vdisk create v2 256M --segment-size 4M ||
  fail "segmapctl vdisk create v2 256M --segment-size 4M failed"
# A second container from an existing file, without SIZE: the file's own
# size is used (segmapctl(8)); it and a vdisk on it must persist too.
truncate -s 64M "$sm_tmpdir/extra.img"
segctl "$s" container add extra "$sm_tmpdir/extra.img" ||
  fail "container add extra EXISTING-64M-FILE (no SIZE) failed"
segctl "$s" vdisk create v3 16M --container extra ||
  fail "vdisk create v3 on container extra failed"
u0=$(nbd_uri "$s" disk0)
u2=$(nbd_uri "$s" v2)

# put URI FILE OFFSET: write FILE at OFFSET, then flush.
put ()
{
  nbdsh -u "$1" -c "
import sys
h.pwrite(open('$2', 'rb').read(), $3)
h.flush()
" || fail "writing $2 at $3 to $1 failed"
}

# json_sorted: normalise segmapctl --json listing rows (sort by name).
json_sorted ()
{
  python3 -c '
import json, sys
rows = json.load(sys.stdin)
if isinstance(rows, dict):
    rows = next(v for v in rows.values() if isinstance(v, list))
print(json.dumps(sorted(rows, key=lambda r: r["name"]), sort_keys=True, indent=1))
'
}

# record TAG: save both disks' contents and maps and the listings.
record ()
{
  local t=$sm_tmpdir/$1
  nbdcopy "$u0" "$t.disk0" || fail "$1: nbdcopy of disk0 failed"
  nbdcopy "$u2" "$t.v2" || fail "$1: nbdcopy of v2 failed"
  nbd_map "$u0" >"$t.map0" || fail "$1: map of disk0 failed"
  nbd_map "$u2" >"$t.map2" || fail "$1: map of v2 failed"
  segctl "$s" --json vdisk list | json_sorted >"$t.vdisks" ||
    fail "$1: segmapctl --json vdisk list failed"
  segctl "$s" --json container list | json_sorted >"$t.containers" ||
    fail "$1: segmapctl --json container list failed"
}

# same TAG1 TAG2: everything recorded under TAG1 equals TAG2.
same ()
{
  local a=$sm_tmpdir/$1 b=$sm_tmpdir/$2 f
  for f in disk0 v2 map0 map2 vdisks containers; do
    if ! cmp "$a.$f" "$b.$f"; then
      case $f in
        disk0|v2) ;;
        *) diff -u "$a.$f" "$b.$f" >&2 || true ;;
      esac
      fail "$f differs between $1 and $2"
    fi
  done
}

head -c $((5 * MiB + 4096)) /dev/urandom >"$sm_tmpdir/p1"
head -c $((64 * 1024)) /dev/urandom >"$sm_tmpdir/p2"
head -c $((10 * MiB)) /dev/urandom >"$sm_tmpdir/p3"
head -c $((3 * MiB)) /dev/urandom >"$sm_tmpdir/p4"

put "$u0" "$sm_tmpdir/p2" 0
put "$u0" "$sm_tmpdir/p1" $((500 * MiB + 4096))
put "$u0" "$sm_tmpdir/p2" $((GiB - 64 * 1024))
put "$u2" "$sm_tmpdir/p3" $((17 * MiB))
record before
grep -q data "$sm_tmpdir/before.map0" || fail "disk0's map shows no data"
grep -q data "$sm_tmpdir/before.map2" || fail "v2's map shows no data"
cmp -n $((5 * MiB + 4096)) -i 0:$((500 * MiB + 4096)) \
  "$sm_tmpdir/p1" "$sm_tmpdir/before.disk0" ||
  fail "disk0 does not hold what was written before the restart"

stop_segmap "$s"
start_segmap "$s"
record after1
same before after1

# Overwrite part of the data, trim a whole segment and restart again.
put "$u0" "$sm_tmpdir/p4" $((500 * MiB))
put "$u2" "$sm_tmpdir/p2" $((20 * MiB + 512))
nbdsh -u "$u2" -c "h.trim(4 * $MiB, 24 * $MiB); h.flush()" ||
  fail "trim on v2 failed"
record before2
stop_segmap "$s"
start_segmap "$s"
record after2
same before2 after2
cmp -n $((3 * MiB)) -i 0:$((500 * MiB)) \
  "$sm_tmpdir/p4" "$sm_tmpdir/after2.disk0" ||
  fail "the overwrite of disk0 did not survive the restart"
