#!/usr/bin/env bash
# Fault count-up: fail the Nth container write, zero or sync, and the Nth
# commit of the controller's database, for every N that a scripted
# workload (countup-workload.py) reaches, from the server's start to its
# shutdown.
#
# A first run counts the calls of each operation (SEGMAP_INJECT_COUNTS),
# up to the end of the workload and up to the end of the shutdown.  Then,
# for each operation OP and each N up to the end of the workload, and
# the first two and last two N of the shutdown (every N of the shutdown
# with COUNTUP_ALL=1: a clean shutdown zeroes each of up to 1024 unused
# grants, one zero call each, all through the same path), a fresh copy
# of a prepared state is served with SEGMAP_INJECT=OP:EIO:after=N-1:count=1
# and must show:
#   - either a refusal to start that names the failure, or the workload
#     run to its end, with at least one operation reported to the client
#     as failed, or the container shown failed, if the fault fired before
#     the workload ended (no silent failure); the server then shuts down
#     without crashing;
#   - no false acknowledgement: after a restart without injection (and
#     `container online' if the fault failed the container), every write
#     acknowledged as durable (flushed or FUA) reads back, nothing
#     foreign appears (crash-workload.py verify), and `segmapctl check'
#     passes.
#
#   COUNTUP_OPS    operations to count up (default "pwrite zero sync commit")
#   COUNTUP_ALL=1  every N of the shutdown too
#   COUNTUP_MAX_N  stop each operation at this N (default: no limit; 3
#                  under valgrind)
#   COUNTUP_ERRNO  the injected errno (default EIO)
#   COUNTUP_FAIL_COUNT  consecutive calls that fail from the Nth (default 1)
#
# soak-countup.sh runs every N, with EIO and ENOSPC, one and several
# consecutive failures.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh
source "$(dirname "$0")/crash-lib.sh"
requires_python_nbd

workload=$(dirname "$0")/countup-workload.py
ops=${COUNTUP_OPS:-pwrite zero sync commit}
# (under valgrind each run restarts two servers: the first three N only)
if [ "$SEGMAP_VALGRIND" = 1 ]; then
  max_n=${COUNTUP_MAX_N:-3}
else
  max_n=${COUNTUP_MAX_N:-1000000}
fi
errno_name=${COUNTUP_ERRNO:-EIO}
fail_count=${COUNTUP_FAIL_COUNT:-1}
CRASH_REGION=$((8 * MiB))

# The prepared state: created and shut down cleanly, disk0 all zeros;
# each run serves a copy of it in the same place (the database records
# the container's path).
d=$sm_tmpdir/run
base=$sm_tmpdir/base
start_segmap "$d"
stop_segmap "$d"
cp -a --sparse=always "$d" "$base"

# stop_any DIR: SIGTERM the server; any exit status but a crash (a
# fault may make the shutdown report an error).
stop_any ()
{
  _sm_stop "$1" || true
  [ "$_sm_status" -lt 119 ] ||
    fail "$2: the server crashed or was killed at shutdown" \
         "(status $_sm_status)"
}

# one_run NAME INJECT COUNTS: serve a copy of base with SEGMAP_INJECT=INJECT
# (counting calls into COUNTS), run the workload, stop, and check the
# outcome as described above.  Sets run_fired=1 if the fault fired.
one_run ()
{
  local name=$1 inject=$2 counts=$3 st=0 out
  rm -rf "$d"
  cp -a --sparse=always "$base" "$d"
  rm -f "$d/server.log"
  run_fired=0
  SEGMAP_START_MAY_FAIL=1 SEGMAP_INJECT=$inject \
    SEGMAP_INJECT_COUNTS=$counts start_segmap "$d" || st=$?
  if [ $st != 0 ]; then
    grep -q '(injected)' "$d/server.log" ||
      fail "$name: the server refused to start (status $st) without" \
           "naming the injected fault: $(tail -n 5 "$d/server.log")"
    echo "$name: refused to start: $(grep -m1 '(injected)' "$d/server.log")"
    run_fired=1
    : >"$d/log"
  else
    "$PYTHON" "$workload" "$(nbd_uri "$d" disk0)" "$d/log" \
      >"$d/workload.out" 2>&1 ||
      { cat "$d/workload.out" >&2; fail "$name: the workload failed"; }
    cp "$counts" "$counts.workload"
    if grep -q '(injected)' "$d/server.log"; then
      run_fired=1
      # Seen by a client, or (a fault in the background, such as the
      # zeroing of freed segments) shown as a failed container.
      grep -q '^E ' "$d/log" ||
        [ "$(json_field "$(segctl "$d" --json container list)" name \
             default state)" = failed ] ||
        fail "$name: the fault fired during the workload but no" \
             "operation failed: $(grep -m1 '(injected)' "$d/server.log")"
    fi
    stop_any "$d" "$name"
    grep -q '(injected)' "$d/server.log" && run_fired=1
  fi
  start_segmap "$d"
  # A write, zero or sync that failed with EIO failed the container
  # (failure.c); the administrator brings it back.
  if [ "$(json_field "$(segctl "$d" --json container list)" name default \
         state)" = failed ]; then
    segctl "$d" container online default >/dev/null ||
      fail "$name: container online failed after the restart"
  fi
  out=$(crash_verify "$d" "$d/log" "$d/model.json" 2>&1) ||
    { echo "$out" >&2
      fail "$name: acknowledged data lost or corrupted (log in $d/log)"; }
  out=$(segctl "$d" check 2>&1) ||
    fail "$name: segmapctl check failed after the restart: $out"
  stop_segmap "$d"
  echo "$name: fault fired: $run_fired; failures seen by the client:" \
       "$(grep -c '^E ' "$d/log"); acknowledged: $(grep -c '^A ' "$d/log")," \
       "all intact"
}

# --- counting -------------------------------------------------------------
one_run count "" "$sm_tmpdir/counts"
echo "calls made from the start to the end of the workload:"
cat "$sm_tmpdir/counts.workload"
echo "calls made from the start to the end of the shutdown:"
cat "$sm_tmpdir/counts"
[ "$run_fired" = 0 ] || fail "the counting run injected a fault"

# --- one run per operation and N ------------------------------------------

# count_of FILE OP: the count of OP in a counts file.
count_of ()
{
  awk -v op="$2" '$1 == op { print $2 }' "$1"
}

# n_list OP: the N to run for OP (see the header).
n_list ()
{
  local work total n
  work=$(count_of "$sm_tmpdir/counts.workload" "$1")
  total=$(count_of "$sm_tmpdir/counts" "$1")
  if [ -z "$work" ] || [ -z "$total" ]; then fail "no count for $1"; fi
  [ "$total" -gt 0 ] || fail "the workload makes no $1 call"
  {
    seq 1 "$work"
    if [ "${COUNTUP_ALL:-0}" = 1 ]; then
      seq $(( work + 1 )) "$total"
    else
      for n in $(( work + 1 )) $(( work + 2 )) $(( total - 1 )) "$total"; do
        [ "$n" -le "$work" ] || [ "$n" -gt "$total" ] || echo "$n"
      done
    fi
  } | sort -nu | awk -v m="$max_n" '$1 <= m'
}

total=0
unreached=0
for op in $ops; do
  for n in $(n_list "$op"); do
    one_run "$op-$n" "$op:$errno_name:after=$(( n - 1 )):count=$fail_count" \
      "$sm_tmpdir/counts-run"
    total=$(( total + 1 ))
    # (a run may make fewer calls than the counting run: timing)
    [ "$run_fired" = 1 ] || unreached=$(( unreached + 1 ))
  done
done
echo "$sm_test_name: $total runs, $unreached where the Nth call did not come"
[ $(( unreached * 10 )) -le "$total" ] ||
  fail "the fault fired in too few runs ($unreached of $total missed):" \
       "the workload is not repeatable enough to count up"
