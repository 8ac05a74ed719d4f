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
# soak-crash.sh runs this with more trials and longer loads.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd
requires awk

workload=$(dirname "$0")/crash-workload.py
trials=${CRASH_TRIALS:-50}
seed=${CRASH_SEED:-$(( $(date +%s) % 100000 ))}
if [ "$SEGMAP_VALGRIND" = 1 ]; then
  max_load=${CRASH_MAX_LOAD:-4.0}
else
  max_load=${CRASH_MAX_LOAD:-1.0}
fi
region=${CRASH_REGION:-$((64 * MiB))}
RANDOM=$seed
echo "$sm_test_name: $trials trials, seed $seed (set CRASH_SEED=$seed to replay)"

s=$sm_tmpdir/s
state=$sm_tmpdir/model.json
start_segmap "$s"
uri=$(nbd_uri "$s" disk0)

# The model starts from an all-zero region: check that first.
: >"$sm_tmpdir/log-0"
"$PYTHON" "$workload" verify "$uri" "$sm_tmpdir/log-0" "$state" "$region" ||
  fail "fresh disk0 does not read zeros in the workload region"

# The workload running now, if any (killed at exit).
wpid=
kill_workload () { [ -z "$wpid" ] || kill -9 "$wpid" 2>/dev/null || true; }
cleanup_fn kill_workload

total_flushes=0
for (( t = 1; t <= trials; t++ )); do
  log=$sm_tmpdir/log-$t
  "$PYTHON" "$workload" run "$uri" "$log" "$region" $(( seed * 1000 + t )) \
    $(( t * 10000000 )) 60 2>"$sm_tmpdir/workload.err" &
  wpid=$!
  # Three trials in four crash at a random moment after the first flush
  # (so they always have durable writes to lose); the rest at a random
  # moment from the start (during the first allocations and flushes).
  if (( RANDOM % 4 != 0 )); then
    for (( i = 0; i < sm_timeout * 10; i++ )); do
      grep -q '^F$' "$log" 2>/dev/null && break
      kill -0 "$wpid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  sleep "$(awk -v r="$RANDOM" -v m="$max_load" \
             'BEGIN { printf "%.3f", 0.1 + (m - 0.1) * r / 32767 }')"
  if ! kill -0 "$wpid" 2>/dev/null; then
    cat "$sm_tmpdir/workload.err" >&2
    fail "trial $t (seed $seed): the workload stopped before the crash"
  fi
  kill_segmap "$s"
  wst=0
  wait "$wpid" || wst=$?
  wpid=
  if [ $wst != 3 ]; then
    cat "$sm_tmpdir/workload.err" >&2
    fail "trial $t (seed $seed): workload exited with $wst, expected 3" \
         "(server went away)"
  fi

  start_segmap "$s"
  if ! out=$("$PYTHON" "$workload" verify "$uri" "$log" "$state" "$region"); then
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
