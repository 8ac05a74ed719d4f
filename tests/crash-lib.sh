# shellcheck shell=bash
# shellcheck disable=SC2154 # sm_tmpdir, sm_timeout: set by functions.sh
# One crash trial under tests/crash-workload.py's write load, shared by
# test-crash.sh (kill -9: unsynced writes survive in the page cache) and
# test-powercut.sh (kill -9 under powercut.so: unsynced writes are lost).
# Sourced after functions.sh; needs $PYTHON and requires awk.
#
# crash_trial DIR LOG SEED SEQBASE MAX_LOAD WHAT [after-flush]: run the
# workload against DIR's server (disk0, the first CRASH_REGION bytes)
# appending to LOG, and SIGKILL the server after a random delay: three
# trials in four (every trial with after-flush) a random moment
# (0.1 .. MAX_LOAD s) after the first flush, so there are durable writes
# to lose; the rest that long from the start (during the first
# allocations and flushes).  Fails the test (naming WHAT) if the
# workload stops before the kill or exits other than with 3 ("server
# went away").  RANDOM drives the timing: seed it for a replayable run.

crash_workload=$(dirname "${BASH_SOURCE[0]}")/crash-workload.py

# requires_powercut: POWERCUT_SO, the interposer tests/powercut builds.
requires_powercut ()
{
  : "${POWERCUT_SO:=$abs_top_builddir/tests/.libs/powercut.so}"
  [ -f "$POWERCUT_SO" ] || fail "interposer not built: $POWERCUT_SO"
}

# The workload running now, if any (killed at exit).
_crash_wpid=
_crash_kill_workload () {
  [ -z "$_crash_wpid" ] || kill -9 "$_crash_wpid" 2>/dev/null || true
}
cleanup_fn _crash_kill_workload

crash_trial ()
{
  local dir=$1 log=$2 seed=$3 seqbase=$4 max_load=$5 what=$6 i wst=0
  local wait_flush=$(( RANDOM % 4 != 0 ))
  [ "$7" != after-flush ] || wait_flush=1
  "$PYTHON" "$crash_workload" run "$(nbd_uri "$dir" disk0)" "$log" \
    "$CRASH_REGION" "$seed" "$seqbase" 60 2>"$sm_tmpdir/workload.err" &
  _crash_wpid=$!
  if [ $wait_flush = 1 ]; then
    for (( i = 0; i < sm_timeout * 10; i++ )); do
      grep -q '^F$' "$log" 2>/dev/null && break
      kill -0 "$_crash_wpid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  sleep "$(awk -v r="$RANDOM" -v m="$max_load" \
             'BEGIN { printf "%.3f", 0.1 + (m - 0.1) * r / 32767 }')"
  if ! kill -0 "$_crash_wpid" 2>/dev/null; then
    cat "$sm_tmpdir/workload.err" >&2
    fail "$what: the workload stopped before the crash"
  fi
  kill_segmap "$dir"
  wait "$_crash_wpid" || wst=$?
  _crash_wpid=
  if [ $wst != 3 ]; then
    cat "$sm_tmpdir/workload.err" >&2
    fail "$what: workload exited with $wst, expected 3 (server went away)"
  fi
}

# crash_verify DIR LOG STATE: check disk0 against the model (LOG replayed
# over STATE; see crash-workload.py); prints the summary, returns 1 on a
# violation (listed on stderr).
crash_verify ()
{
  "$PYTHON" "$crash_workload" verify "$(nbd_uri "$1" disk0)" "$2" "$3" \
    "$CRASH_REGION"
}
