#!/usr/bin/env bash
# Crash consistency: kill -9 the server under a write load, restart, and
# check that every write acknowledged as durable (covered by a successful
# flush, or acknowledged with FUA) is still there, that no block holds
# foreign or garbage data, and that `segmapctl check' passes -- repeatedly.
#
#   CRASH_TRIALS   number of kill/restart trials (default 50)
#   CRASH_SEED     seed for the workload and kill timing (default: random,
#                  printed so a failure can be replayed)
#   CRASH_MAX_LOAD longest load before a kill, in seconds (default 1.0,
#                  4.0 under valgrind)
#   CRASH_REGION   bytes of disk0 the workload writes (default 64 MiB)
#
# The writer and the checker are tests/crash-workload.py; see its model.
# One trial is crash_trial of crash-lib.sh, shared with test-powercut.sh.
# soak-crash.sh runs this with more trials and longer loads.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh
source "$(dirname "$0")/crash-lib.sh"
requires_python_nbd
requires awk

trials=${CRASH_TRIALS:-50}
seed=${CRASH_SEED:-$(( $(date +%s) % 100000 ))}
if [ "$SEGMAP_VALGRIND" = 1 ]; then
  max_load=${CRASH_MAX_LOAD:-4.0}
else
  max_load=${CRASH_MAX_LOAD:-1.0}
fi
CRASH_REGION=${CRASH_REGION:-$((64 * MiB))}
RANDOM=$seed
echo "$sm_test_name: $trials trials, seed $seed (set CRASH_SEED=$seed to replay)"

s=$sm_tmpdir/s
state=$sm_tmpdir/model.json
start_segmap "$s"

# The model starts from an all-zero region: check that first.
: >"$sm_tmpdir/log-0"
crash_verify "$s" "$sm_tmpdir/log-0" "$state" ||
  fail "fresh disk0 does not read zeros in the workload region"

total_flushes=0
for (( t = 1; t <= trials; t++ )); do
  log=$sm_tmpdir/log-$t
  crash_trial "$s" "$log" $(( seed * 1000 + t )) $(( t * 10000000 )) \
    "$max_load" "trial $t (seed $seed)"

  start_segmap "$s"
  if ! out=$(crash_verify "$s" "$log" "$state"); then
    echo "$out"
    fail "trial $t (seed $seed): data lost or corrupted by the crash" \
         "(log kept in $log)"
  fi
  echo "trial $t: $out"
  f=$(grep -c '^F$' "$log" || true)
  total_flushes=$(( total_flushes + f ))
  out=$(segctl "$s" check 2>&1) ||
    fail "trial $t (seed $seed): segmapctl check failed after restart: $out"
done

# A run where the kills mostly came before the first flush tested little.
[ $total_flushes -ge "$trials" ] ||
  fail "only $total_flushes flushes in $trials trials: the load is too light"
