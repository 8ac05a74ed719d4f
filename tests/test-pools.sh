#!/usr/bin/env bash
# Container pools (src/controller/placement.c): a vdisk's new segments
# come from several containers.
#
# spread: a 48 MiB vdisk over p1,p2,p3 written whole has segment N on
# container N mod 3 (read from the database) and `vdisk info' shows 16
# segments on each.  fill: a vdisk over f1 (16 MiB) and f2 fills f1 and
# goes on on f2.  A migration changes a pool live: the fill vdisk
# spread over p1,p2,p3 moves every segment onto its stripe, under a
# flushing writer.  Evacuating p2 takes it out of the spread pool
# (p1,p3 and the destination), and the data stays intact throughout;
# `segmapctl check' passes after each step.  A container in a pool
# cannot be removed; bad pools (unknown container, one named twice, an
# unknown placement) are refused.  A pool and placement given in the
# configuration file place a new vdisk the same way.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd
set -o pipefail

s=$sm_tmpdir/s
start_segmap "$s"
for c in p1 p2 p3 q f2; do
  segctl "$s" container add "$c" "$s/$c.img" 256M >/dev/null ||
    fail "container add $c failed"
done
segctl "$s" container add f1 "$s/f1.img" 16M >/dev/null ||
  fail "container add f1 failed"

# writer VDISK MODE [SIZE]: flushing-writer.py on VDISK (48 MiB) of the
# server in $s.
writer ()
{
  "$PYTHON" "$(dirname "$0")/flushing-writer.py" "$(nbd_uri "$s" "$1")" \
    "$sm_tmpdir/$1.img" "$sm_tmpdir/stop" "$2" "${3:-$((48 << 20))}"
}

# placed VDISK: "N/M": of VDISK's M located rows, N are on the stripe of
# its pool (the pool's container at position vseg mod pool size).
placed ()
{
  "$PYTHON" - "$s/segmap.db" "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
vid, first = db.execute("SELECT id, container_id FROM vdisk WHERE name = ?",
                        (sys.argv[2],)).fetchone()
pool = [first] + [r[0] for r in db.execute(
    "SELECT container_id FROM vdisk_pool WHERE vdisk_id = ? ORDER BY position",
    (vid,))]
rows = db.execute("SELECT vseg, container_id FROM map WHERE vdisk_id = ?"
                  " AND container_id IS NOT NULL", (vid,)).fetchall()
print("%d/%d" % (sum(c == pool[v % len(pool)] for v, c in rows), len(rows)))
EOF
}

# distribution VDISK: the "Placed:" line of vdisk info, by name.
distribution ()
{
  segctl "$s" vdisk info "$1" | sed -n 's/^Placed: *//p' |
    sed 's/, /\n/g' | sort | paste -sd, | sed 's/,/, /g'
}

check_ok ()
{
  segctl "$s" check >/dev/null || fail "segmapctl check failed, $1"
}

# 1. spread: round-robin by segment.
segctl "$s" vdisk create sv 48M --container p1,p2,p3 --placement spread \
  >/dev/null || fail "vdisk create sv failed"
segctl "$s" vdisk info sv | grep -q "^Pool: *p1, p2, p3 (spread)$" ||
  fail "vdisk info sv: $(segctl "$s" vdisk info sv)"
writer sv fill || fail "filling sv failed"
[ "$(placed sv)" = 48/48 ] || fail "sv: $(placed sv) rows on their stripe"
[ "$(distribution sv)" = "p1 16, p2 16, p3 16" ] ||
  fail "sv is placed $(distribution sv)"
check_ok "after filling the spread vdisk"

# 2. fill: on to the next container when one is full.
segctl "$s" vdisk create fv 48M --container f1,f2 >/dev/null ||
  fail "vdisk create fv failed"
writer fv fill || fail "filling fv failed"
[ "$(distribution fv)" = "f1 16, f2 32" ] ||
  fail "fv is placed $(distribution fv), not f1 full and the rest on f2"
writer fv verify || fail "fv after the fill"
check_ok "after filling the fill vdisk"

# 3. A new pool, live: fv spreads over p1,p2,p3 under writes.
rm -f "$sm_tmpdir/stop"
writer fv write >"$sm_tmpdir/writer.log" 2>&1 &
wpid=$!
segctl "$s" migrate fv p1,p2,p3 --placement spread >/dev/null ||
  fail "migrate fv to a spread pool failed"
segctl "$s" job wait 1 >/dev/null || fail "the migration of fv failed"
touch "$sm_tmpdir/stop"
wait "$wpid" || fail "the writer failed: $(cat "$sm_tmpdir/writer.log")"
writer fv verify || fail "fv after its migration to a spread pool"
[ "$(placed fv)" = 48/48 ] || fail "fv: $(placed fv) rows on their stripe"
[ "$(container_segments "$s" f1)" = 0 ] && [ "$(container_segments "$s" f2)" = 0 ] ||
  fail "f1/f2 still hold segments of fv"
check_ok "after the migration to a spread pool"

# 4. Evacuating a pool member: q takes its place.
segctl "$s" container evacuate p2 --to q >/dev/null ||
  fail "evacuate p2 failed"
segctl "$s" job wait 2 >/dev/null || fail "the evacuation of p2 failed"
segctl "$s" vdisk info sv | grep -q "^Pool: *p1, q, p3 (spread)$" ||
  fail "sv's pool after the evacuation: $(segctl "$s" vdisk info sv)"
[ "$(placed sv)" = 48/48 ] || fail "sv: $(placed sv) rows on their stripe"
writer sv verify || fail "sv after the evacuation of p2"
writer fv verify || fail "fv after the evacuation of p2"
segctl "$s" container remove p2 >/dev/null || fail "container remove p2"
check_ok "after the evacuation of p2"

# 5. Refusals.
err=$(segctl "$s" container remove q 2>&1) && fail "q was removed"
grep -q "container 'q' is used by vdisk" <<<"$err" || fail "remove q: $err"
err=$(segctl "$s" vdisk create x 1M --container p1,nosuch 2>&1) &&
  fail "a pool with an unknown container"
grep -q "no container 'nosuch'" <<<"$err" || fail "unknown: $err"
err=$(segctl "$s" vdisk create x 1M --container p1,p1 2>&1) &&
  fail "a pool naming a container twice"
grep -q "named twice" <<<"$err" || fail "twice: $err"
segctl "$s" vdisk create x 1M --container p1 --placement round \
  >/dev/null 2>&1 && fail "an unknown placement was accepted"
stop_segmap "$s"
start_segmap "$s"
writer sv verify || fail "sv after a restart"
segctl "$s" vdisk info sv | grep -q "^Pool: *p1, q, p3 (spread)$" ||
  fail "sv's pool after a restart"
done_msg="pools: spread $(distribution sv), fill then migrated to spread,"
stop_segmap "$s"

# 6. A pool from the configuration file.
s=$sm_tmpdir/c
mkdir -p "$s"
cat >"$s/segmap.conf" <<EOF
[container x]
path = $s/x.img
size = 64M
[container y]
path = $s/y.img
size = 64M
[vdisk cv]
size = 8M
container = y,x
placement = spread
EOF
start_segmap "$s" "config=$s/segmap.conf"
segctl "$s" vdisk info cv | grep -q "^Pool: *y, x (spread)$" ||
  fail "cv's configured pool: $(segctl "$s" vdisk info cv)"
writer cv fill $((8 << 20)) || fail "filling cv failed"
[ "$(placed cv)" = 8/8 ] || fail "cv: $(placed cv) rows on their stripe"
echo "$done_msg evacuated member, configured: the data intact"
