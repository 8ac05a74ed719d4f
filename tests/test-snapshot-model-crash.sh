#!/usr/bin/env bash
# Crash cuts under the snapshot/clone model (tests/snapshot-model.py
# cut): the model test's stream of writes, trims, zeroes, flushes,
# snapshots, rollbacks, group snapshots, clones, flattens and diffs, cut
# by SIGKILL at a random point (between operations, in the middle of a
# write, a flush or a control command).  After each restart every
# snapshot reads exactly its bytes, every block of a vdisk reads its
# last flushed value or a later one, `segmapctl check' passes and the
# diffs since and between the snapshots cover every block that differs.
#
# First SNAPMODEL_KILL_CUTS plain kill -9 cuts (unsynced writes survive
# in the page cache), then SNAPMODEL_POWER_CUTS power cuts: the server
# runs under powercut.so (see test-powercut.sh), which keeps every
# write to segmap.db, its -wal and the container in memory until the
# file is synced, so the kill loses what a power cut would; every
# other cut the interposer writes back a random part of the unsynced
# changes early.  At the end a server without the interposer checks the
# state once more.  Before the power cuts, the test shows it can fail:
# with the container syncs skipped (SEGMAP_INJECT=sync:SKIP), a power
# cut must be reported.
#
#   SNAPMODEL_KILL_CUTS   kill -9 cuts (default 50)
#   SNAPMODEL_POWER_CUTS  power cuts (default 50)
#   SNAPMODEL_CUT_OPS     the kill comes within the first this many
#                         operations of a cut (default 200)
#   SNAPMODEL_SKIP_CUTS   power cuts with the syncs skipped, one of
#                         which must be reported (default 3)
#   SNAPMODEL_SEED        seed (default random, printed for a replay;
#                         the kill's timing is not replayed exactly)
#
# soak-snapshot-model-crash.sh runs more cuts and longer streams.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd

: "${POWERCUT_SO:=$abs_top_builddir/tests/.libs/powercut.so}"
kill_cuts=${SNAPMODEL_KILL_CUTS:-50}
power_cuts=${SNAPMODEL_POWER_CUTS:-50}
cut_ops=${SNAPMODEL_CUT_OPS:-200}
# A fixed seed, so that make check is repeatable; the soak script draws
# random ones.
seed=${SNAPMODEL_SEED:-33790}
[ "$power_cuts" = 0 ] || [ -f "$POWERCUT_SO" ] ||
  fail "interposer not built: $POWERCUT_SO"
echo "$sm_test_name: $kill_cuts kill -9 cuts, $power_cuts power cuts," \
     "seed $seed (set SNAPMODEL_SEED=$seed to replay)"

s=$sm_tmpdir/s
state=$sm_tmpdir/model.pickle
model=$(dirname "$0")/snapshot-model.py
# (the containers live in the state directories: powercut.so tracks
# the files there)
start_segmap "$s"
segctl "$s" container add c "$s/c.img" 2G >/dev/null ||
  fail "container add failed"

# run_cut DIR STATE OPS: one cut of the model of DIR's server (OPS 0:
# check only); the model's exit status.
run_cut ()
{
  "$PYTHON" "$model" cut "$1/nbd.sock" "$1/segmap.sock" "$SEGMAPCTL" \
    "$seed" "$3" "$2" "$1/pid"
}

# model_cut WHAT OPS: one cut of the main server's model.
model_cut ()
{
  run_cut "$s" "$state" "$2" ||
    fail "$1 (seed $seed): the server diverged from the model"
}

# start_cut DIR [WRITEBACK [SEGMAP_INJECT]]: start DIR's server under
# the interposer.
start_cut ()
{
  SEGMAP_PRELOAD=$POWERCUT_SO POWERCUT_DIR=$1 \
    POWERCUT_MATCH='segmap.db:segmap.db-*:*.img' \
    POWERCUT_WRITEBACK=${2:-0} SEGMAP_INJECT=${3:-} start_segmap "$1"
}

# The detector fails when the syncs are skipped: in a state of its own,
# with SEGMAP_INJECT=sync:SKIP (container syncs report success without
# syncing), a power cut must be reported as losing flushed data or
# snapshot content, in at least one of SNAPMODEL_SKIP_CUTS tries.
skip_cuts=${SNAPMODEL_SKIP_CUTS:-3}
if [ "$power_cuts" -gt 0 ] && [ "$skip_cuts" -gt 0 ]; then
  k=$sm_tmpdir/k
  start_segmap "$k"
  segctl "$k" container add c "$k/c.img" 1G >/dev/null ||
    fail "container add failed"
  run_cut "$k" "$sm_tmpdir/k.pickle" 0 >/dev/null ||
    fail "the sync:SKIP state does not start as the model"
  stop_segmap "$k"
  for (( t = 1; t <= skip_cuts; t++ )); do
    start_cut "$k" 0 sync:SKIP
    run_cut "$k" "$sm_tmpdir/k.pickle" "$cut_ops" >/dev/null ||
      fail "sync:SKIP cut $t diverged before the cut"
    kill_segmap "$k"
    start_segmap "$k"
    if run_cut "$k" "$sm_tmpdir/k.pickle" 0 2>"$sm_tmpdir/k.err"; then
      stop_segmap --no-check "$k"
      continue
    fi
    echo "sync:SKIP cut $t: reported, as it must be:" \
         "$(head -n 1 "$sm_tmpdir/k.err" | cut -c1-160)"
    stop_segmap --no-check "$k"
    break
  done
  [ "$t" -le "$skip_cuts" ] ||
    fail "$skip_cuts power cuts with the container syncs skipped lost" \
         "nothing the model can see: the test cannot see lost writes"
fi

start=$(date +%s)
for (( t = 1; t <= kill_cuts; t++ )); do
  echo -n "kill -9 cut $t: "
  model_cut "kill -9 cut $t" "$cut_ops"
  kill_segmap "$s"
  start_segmap "$s"
done
echo -n "after the kill -9 cuts: "
model_cut "after kill -9 cut $kill_cuts" 0
stop_segmap "$s"
for (( t = 1; t <= power_cuts; t++ )); do
  start_cut "$s" $(( t % 2 ? 8 : 0 ))
  echo -n "power cut $t: "
  model_cut "power cut $t" "$cut_ops"
  kill_segmap "$s"
done
start_segmap "$s"
echo -n "after the power cuts, a plain server: "
model_cut "after power cut $power_cuts" 0
echo "$sm_test_name: $kill_cuts kill -9 cuts and $power_cuts power cuts," \
     "0 divergences, $(( $(date +%s) - start )) s"
