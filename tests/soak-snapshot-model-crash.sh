#!/usr/bin/env bash
# Long crash soak of the snapshot/clone model (not part of make check):
# test-snapshot-model-crash.sh with more cuts and longer streams.
#
#   soak-snapshot-model-crash.sh [KILL_CUTS [POWER_CUTS [CUT_OPS]]]
#                                            (defaults: 500, 500, 1000)
#
# Run it from the build tree's tests/ directory (so the built plugin,
# segmapctl and .libs/powercut.so are found), or set SEGMAP_PLUGIN,
# SEGMAPCTL and POWERCUT_SO.

SNAPMODEL_KILL_CUTS=${1:-500}
SNAPMODEL_POWER_CUTS=${2:-500}
SNAPMODEL_CUT_OPS=${3:-1000}
: "${SEGMAP_TEST_TIMEOUT:=$(( (SNAPMODEL_KILL_CUTS + SNAPMODEL_POWER_CUTS) * 30 + 600 ))}"
# A new seed each run (make check's is fixed).
: "${SNAPMODEL_SEED:=$(( $(date +%s) % 100000 ))}"
export SNAPMODEL_KILL_CUTS SNAPMODEL_POWER_CUTS SNAPMODEL_CUT_OPS \
  SEGMAP_TEST_TIMEOUT SNAPMODEL_SEED
exec "$(dirname "$0")/test-snapshot-model-crash.sh"
