#!/usr/bin/env bash
# Power loss: a machine crash drops every write not yet synced to the
# container and database files.  The server runs under powercut.so
# (tests/powercut/powercut.c), which keeps every write to segmap.db,
# its -wal and the container in memory until the file is synced, so that
# kill -9 loses exactly what a power cut would.  Each cut: start the
# server under the interposer, check disk0 against the model of the
# previous cuts (crash-workload.py: every flushed or FUA write reads
# back, an unflushed block reads its old or a newer value, nothing
# foreign), `segmapctl check', run the write load for a random short
# time, kill -9.  Every other cut, the interposer also writes random
# unsynced changes to the files early (POWERCUT_WRITEBACK), so that the
# cut keeps a random part of them rather than none.  Every
# POWERCUT_PLAIN_EVERY-th cut, and after the last, the state is also
# checked by a server started without the interposer.
#
# The detector is proven able to fail first: in a separate state, with
# SEGMAP_INJECT=sync:SKIP (container syncs report success without
# syncing), every cut must be reported as losing flushed writes.
#
#   POWERCUT_CUTS        cuts with the syncs in place (default 200, 10
#                        under valgrind)
#   POWERCUT_SKIP_CUTS   cuts with sync:SKIP that must report losses
#                        (default 3)
#   POWERCUT_SEED        seed (default random, printed for a replay)
#   POWERCUT_MAX_LOAD    longest load before a cut, seconds (default 0.4)
#   POWERCUT_PLAIN_EVERY check without the interposer every N cuts
#                        (default 10)
#   CRASH_REGION         bytes of disk0 the workload writes (default 8 MiB)
#
# powercut/selftest.py checks the interposer itself first (its overlay
# against a model, and what a kill -9 leaves on disk).  soak-powercut.sh
# runs this with more cuts and longer loads.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh
source "$(dirname "$0")/crash-lib.sh"
requires_python_nbd
requires awk

requires_powercut
if [ "$SEGMAP_VALGRIND" = 1 ]; then
  cuts=${POWERCUT_CUTS:-10}
  max_load=${POWERCUT_MAX_LOAD:-3.0}
else
  cuts=${POWERCUT_CUTS:-200}
  max_load=${POWERCUT_MAX_LOAD:-0.4}
fi
skip_cuts=${POWERCUT_SKIP_CUTS:-3}
plain_every=${POWERCUT_PLAIN_EVERY:-10}
seed=${POWERCUT_SEED:-$(( $(date +%s) % 100000 ))}
CRASH_REGION=${CRASH_REGION:-$((8 * MiB))}
RANDOM=$seed
echo "$sm_test_name: $cuts cuts + $skip_cuts with sync:SKIP, seed $seed" \
     "(set POWERCUT_SEED=$seed to replay)"

# start_cut DIR [SEGMAP_INJECT [WRITEBACK]]: start DIR's server under the
# interposer (POWERCUT_WRITEBACK=WRITEBACK: see powercut.c).
start_cut ()
{
  SEGMAP_PRELOAD=$POWERCUT_SO POWERCUT_DIR=$1 \
    POWERCUT_MATCH='segmap.db:segmap.db-*:*.img' SEGMAP_INJECT=${2:-} \
    POWERCUT_WRITEBACK=${3:-0} start_segmap "$1"
}

# verify_cut DIR LOG STATE WHAT: the model holds and check passes.
verify_cut ()
{
  local out
  out=$(crash_verify "$1" "$2" "$3") ||
    fail "$4: flushed data lost or corrupted by the power cut (log kept" \
         "in $2)"
  echo "$4: $out"
  out=$(segctl "$1" check 2>&1) ||
    fail "$4: segmapctl check failed after the power cut: $out"
}

# --- the interposer itself ------------------------------------------------
mkdir "$sm_tmpdir/self"
"$PYTHON" "$(dirname "$0")/powercut/selftest.py" "$sm_tmpdir/self" \
  "$POWERCUT_SO" "$seed" 6 2>"$sm_tmpdir/self.err" ||
  { cat "$sm_tmpdir/self.err" >&2; fail "powercut.so's self-test failed"; }

# --- the detector fails when the sync is removed --------------------------
#
# Each cut (in a fresh state: the model cannot follow a state that lost
# flushed writes) comes after a flush that covered at least one write, so
# it has flushed data to lose: with the container syncs skipped, all of
# it is lost and the check must say so.
for (( t = 1; t <= skip_cuts; t++ )); do
  k=$sm_tmpdir/k$t
  log=$sm_tmpdir/k$t-log
  start_cut "$k" sync:SKIP
  crash_trial "$k" "$log" $(( seed * 1000 + 900 + t )) 1000 "$max_load" \
    "sync:SKIP cut $t (seed $seed)" after-flush
  awk '/^A/ { a = 1 } /^F$/ && a { f = 1 } END { exit !f }' "$log" ||
    fail "sync:SKIP cut $t: no flush covered a write before the cut"
  start_segmap "$k"
  if out=$(crash_verify "$k" "$log" "$k/model.json" 2>"$k/verify.err"); then
    echo "$out"
    fail "sync:SKIP cut $t (seed $seed): flushed writes whose container" \
         "sync was skipped all survived the power cut: the test cannot" \
         "see lost writes"
  fi
  echo "sync:SKIP cut $t: losses reported, as they must be: $out"
  head -n 3 "$k/verify.err"
  stop_segmap --no-check "$k"
done
if [ "$skip_cuts" -gt 0 ]; then
  { grep -q "powercut: tracking .*/k1/segmap.db-wal" "$sm_tmpdir/k1/server.log" &&
      grep -q "powercut: tracking .*/k1/default.img" "$sm_tmpdir/k1/server.log"
  } || fail "the interposer did not track the log and the container:" \
            "$(grep powercut "$sm_tmpdir/k1/server.log" | sort -u)"
fi

# --- power cuts with the syncs in place -----------------------------------

s=$sm_tmpdir/s
state=$sm_tmpdir/model.json
start_segmap "$s"
: >"$sm_tmpdir/log-0"
verify_cut "$s" "$sm_tmpdir/log-0" "$state" "fresh disk0"
stop_segmap "$s"

total_flushes=0
prev=$sm_tmpdir/log-0
for (( t = 1; t <= cuts; t++ )); do
  log=$sm_tmpdir/log-$t
  # Every other cut keeps a random part of the unsynced changes.
  start_cut "$s" "" $(( t % 2 ? 8 : 0 ))
  verify_cut "$s" "$prev" "$state" "cut $(( t - 1 )) (seed $seed)"
  crash_trial "$s" "$log" $(( seed * 1000 + t )) $(( t * 10000000 )) \
    "$max_load" "cut $t (seed $seed)"
  f=$(grep -c '^F$' "$log" || true)
  total_flushes=$(( total_flushes + f ))
  prev=$log
  if (( t % plain_every == 0 || t == cuts )); then
    # Without the interposer: what is on disk, read by a plain server.
    start_segmap "$s"
    verify_cut "$s" "$log" "$state" "cut $t, plain server (seed $seed)"
    stop_segmap "$s"
    prev=/dev/null
  fi
done

# A run where the cuts mostly came before the first flush tested little.
[ $total_flushes -ge "$cuts" ] ||
  fail "only $total_flushes flushes in $cuts cuts: the load is too light"
echo "$sm_test_name: $cuts power cuts, $total_flushes flushes, no flushed" \
     "write lost"
