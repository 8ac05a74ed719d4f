#!/usr/bin/env bash
# Long snapshot/clone model soak (not part of make check):
# test-snapshot-model.sh with more seeds and operations per seed.
#
#   soak-snapshot-model.sh [SEEDS [OPS]]     (defaults: 200, 20000)
#
# Run it from the build tree's tests/ directory (so the built plugin and
# segmapctl are found), or set SEGMAP_PLUGIN and SEGMAPCTL.

SNAPMODEL_SEEDS=${1:-200}
SNAPMODEL_OPS=${2:-20000}
: "${SEGMAP_TEST_TIMEOUT:=$(( SNAPMODEL_SEEDS * SNAPMODEL_OPS / 50 + 600 ))}"
# A new first seed each run (make check's is fixed).
: "${SNAPMODEL_SEED:=$(( $(date +%s) % 100000 * 100 ))}"
export SNAPMODEL_SEEDS SNAPMODEL_OPS SEGMAP_TEST_TIMEOUT SNAPMODEL_SEED
exec "$(dirname "$0")/test-snapshot-model.sh"
