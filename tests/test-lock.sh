#!/usr/bin/env bash
# One server per state: a second server on the same state directory,
# database or container is refused whatever its socket, naming the lock
# and the holder's pid; the first keeps serving and loses nothing; a
# killed server's lock does not block its restart.
#
# 1. Server A (state directory s) gets 4 MiB of random data, flushed.
# 2. Refused, each with the lock file and A's pid in the message:
#    - the same state directory with another control socket;
#    - another state directory whose database is A's;
#    - another state directory and database whose container is A's.
# 3. A still reads the data back, and `check' passes.
# 4. A container added to A is refused to another server until A
#    removes it; then the other server starts on it.
# 5. A is killed with SIGKILL; a restart on the same state directory
#    comes up and reads the data back.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdkit cmp head
requires_nbdsh

s=$sm_tmpdir/s
data=$sm_tmpdir/data
head -c $((4 * MiB)) /dev/urandom >"$data"

start_segmap "$s"
nbdsh -u "$(nbd_uri "$s" disk0)" -c "
h.pwrite(open('$data', 'rb').read(), 8 << 20)
h.flush()
" || fail "writing the data failed"

# expect_refused NAME REGEXP PLUGIN-ARGS...: a second nbdkit (own NBD
# socket and pidfile in $sm_tmpdir/NAME) must exit non-zero within the
# timeout with a message matching REGEXP, and never write its pidfile.
expect_refused ()
{
  local name=$1 re=$2 st=0; shift 2
  local dir=$sm_tmpdir/$name
  mkdir -p "$dir"
  # (through the same wrapper as every server: a sanitizer build's
  # plugin needs its runtime preloaded, valgrind checks the refusal)
  _sm_server_wrapper refused "$dir"
  timeout -k 5 "$sm_timeout" "${_sm_wrapper[@]}" \
    nbdkit -f -U "$dir/nbd.sock" -P "$dir/pid" \
    "$SEGMAP_PLUGIN" iscsi=off "$@" >"$dir/log" 2>&1 </dev/null || st=$?
  [ "$st" != 0 ] || fail "$name: a second server started (args: $*)"
  if [ "$st" = 124 ] || [ "$st" = 137 ]; then
    fail "$name: a second server started and kept serving (args: $*)"
  fi
  if [ "$st" = 119 ]; then
    cat "$dir"/valgrind-refused.* "$dir"/sanitizer-refused.* >&2 2>/dev/null
    fail "$name: valgrind or a sanitizer found errors in the refusal"
  fi
  [ ! -s "$dir/pid" ] || fail "$name: the second server wrote its pidfile"
  if ! grep -Eq -- "$re" "$dir/log"; then
    cat "$dir/log" >&2
    fail "$name: the refusal does not match /$re/"
  fi
  echo "refused as expected: $(grep -E -- "$re" "$dir/log" | head -n 1)"
}

pid=$(server_pid "$s")
held="is locked by another process \\(pid $pid\\)"

conf=$sm_tmpdir/same-state.conf
printf '[controller]\nsocket = %s\n' "$sm_tmpdir/other.sock" >"$conf"
expect_refused same-state "state directory $s: $s/segmap.lock $held" \
  "state-dir=$s" "config=$conf"

conf=$sm_tmpdir/same-db.conf
printf '[controller]\ndatabase = %s\n' "$s/segmap.db" >"$conf"
expect_refused same-db "database: $s/segmap.db $held" \
  "state-dir=$sm_tmpdir/t2" "config=$conf"

conf=$sm_tmpdir/same-container.conf
printf '[container shared]\npath = %s\n[vdisk v]\nsize = 64M\n' \
  "$s/default.img" >"$conf"
expect_refused same-container "container shared: $s/default.img $held" \
  "state-dir=$sm_tmpdir/t3" "config=$conf"

# check_data: A still serves the 4 MiB written in step 1.
check_data ()
{
  rm -f "$sm_tmpdir/back"
  nbdsh -u "$(nbd_uri "$s" disk0)" -c "
open('$sm_tmpdir/back', 'wb').write(h.pread($((4 * MiB)), 8 << 20))
" || fail "$1: reading the data back failed"
  cmp "$data" "$sm_tmpdir/back" || fail "$1: the data read back differs"
}
check_data "after the refusals"
segctl "$s" status >/dev/null || fail "status failed after the refusals"
segctl "$s" check || fail "check failed after the refusals"

# A removed container is free for another server at once.
segctl "$s" container add extra "$sm_tmpdir/extra.img" 64M >/dev/null ||
  fail "container add extra failed"
conf=$sm_tmpdir/extra.conf
printf '[container extra]\npath = %s\nsize = 64M\n[vdisk v]\nsize = 16M\n' \
  "$sm_tmpdir/extra.img" >"$conf"
expect_refused extra "container extra: $sm_tmpdir/extra.img $held" \
  "state-dir=$sm_tmpdir/t4" "config=$conf"
segctl "$s" container remove extra || fail "container remove extra failed"
t5=$sm_tmpdir/t5
start_segmap "$t5" "config=$conf"
stop_segmap "$t5"

kill_segmap "$s"
start_segmap "$s"
check_data "after a restart over a killed server's lock"
