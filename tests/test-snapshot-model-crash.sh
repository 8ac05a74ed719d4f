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
# state once more.
#
#   SNAPMODEL_KILL_CUTS   kill -9 cuts (default 50)
#   SNAPMODEL_POWER_CUTS  power cuts (default 50)
#   SNAPMODEL_CUT_OPS     the kill comes within the first this many
#                         operations of a cut (default 200)
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
seed=${SNAPMODEL_SEED:-$(( $(date +%s) % 100000 ))}
[ "$power_cuts" = 0 ] || [ -f "$POWERCUT_SO" ] ||
  fail "interposer not built: $POWERCUT_SO"
echo "$sm_test_name: $kill_cuts kill -9 cuts, $power_cuts power cuts," \
     "seed $seed (set SNAPMODEL_SEED=$seed to replay)"

s=$sm_tmpdir/s
state=$sm_tmpdir/model.pickle
model=$(dirname "$0")/snapshot-model.py
start_segmap "$s"
segctl "$s" container add c "$sm_tmpdir/c.img" 2G >/dev/null ||
  fail "container add failed"

# cut WHAT OPS: one cut of the model (OPS 0: check only).
cut ()
{
  "$PYTHON" "$model" cut "$s/nbd.sock" "$s/segmap.sock" "$SEGMAPCTL" \
    "$seed" "$2" "$state" "$s/pid" ||
    fail "$1 (seed $seed): the server diverged from the model"
}

# start_cut [WRITEBACK]: start the server under the interposer.
start_cut ()
{
  SEGMAP_PRELOAD=$POWERCUT_SO POWERCUT_DIR=$s \
    POWERCUT_MATCH='segmap.db:segmap.db-*:*.img' \
    POWERCUT_WRITEBACK=${1:-0} start_segmap "$s"
}

start=$(date +%s)
for (( t = 1; t <= kill_cuts; t++ )); do
  echo -n "kill -9 cut $t: "
  cut "kill -9 cut $t" "$cut_ops"
  kill_segmap "$s"
  start_segmap "$s"
done
echo -n "after the kill -9 cuts: "
cut "after kill -9 cut $kill_cuts" 0
stop_segmap "$s"
for (( t = 1; t <= power_cuts; t++ )); do
  start_cut $(( t % 2 ? 8 : 0 ))
  echo -n "power cut $t: "
  cut "power cut $t" "$cut_ops"
  kill_segmap "$s"
done
start_segmap "$s"
echo -n "after the power cuts, a plain server: "
cut "after power cut $power_cuts" 0
echo "$sm_test_name: $kill_cuts kill -9 cuts and $power_cuts power cuts," \
     "0 divergences, $(( $(date +%s) - start )) s"
