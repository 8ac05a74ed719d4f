#!/usr/bin/env bash
# The snapshot/clone model test (tests/snapshot-model.py): random
# writes, trims, zeroes and flushes on several vdisks, interleaved with
# snapshot create / delete / rollback, group snapshots, clone create /
# flatten / delete and `vdisk diff', against an in-memory model of every
# vdisk, snapshot and clone; every export is read whole and compared
# every SNAPMODEL_VERIFY_EVERY operations and at the end, `segmapctl
# check' must pass, and every diff must hold exactly the blocks the model
# says.  One server; the seeds run four at a time (each on its own
# vdisks, deleted at its end).
#
#   SNAPMODEL_SEEDS        number of seeds (default 20)
#   SNAPMODEL_OPS          operations per seed (default 5000)
#   SNAPMODEL_SEED         first seed (default random, printed for a
#                          replay: seed N of a run is FIRST + N - 1)
#   SNAPMODEL_VERIFY_EVERY operations between whole reads (default 1000)
#   SNAPMODEL_JOBS         seeds run at once (default 4: the time goes
#                          to the server's syncs, not the CPU)
#
# soak-snapshot-model.sh runs more seeds and operations.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd

seeds=${SNAPMODEL_SEEDS:-20}
ops=${SNAPMODEL_OPS:-5000}
every=${SNAPMODEL_VERIFY_EVERY:-1000}
jobs=${SNAPMODEL_JOBS:-4}
# A fixed first seed, so that make check is repeatable; the soak script
# draws random ones.
first=${SNAPMODEL_SEED:-3365200}
echo "$sm_test_name: $seeds seeds x $ops operations from seed $first" \
     "(set SNAPMODEL_SEED=$first to replay)"

s=$sm_tmpdir/s
start_segmap "$s"
# (sparse: four seeds at a time, each with up to dozens of snapshots and
# clones of its three vdisks, filled 2G once with random seeds)
segctl "$s" container add c "$sm_tmpdir/c.img" 8G >/dev/null ||
  fail "container add failed"

model=$(dirname "$0")/snapshot-model.py
# (xargs stops at the first seed that exits 255)
export model s ops every PYTHON SEGMAPCTL
start=$(date +%s)
# shellcheck disable=SC2016 # expanded by the inner shell
seq "$first" $(( first + seeds - 1 )) |
  xargs -P "$jobs" -I{} sh -c \
    '"$PYTHON" "$model" run "$s/nbd.sock" "$s/segmap.sock" "$SEGMAPCTL" \
       {} "$ops" "$every" || exit 255' ||
  fail "a seed diverged (see DIVERGENCE above)"
echo "$sm_test_name: $seeds seeds x $ops operations, 0 divergences," \
     "$(( $(date +%s) - start )) s"
segctl "$s" check >/dev/null || fail "check failed at the end"
