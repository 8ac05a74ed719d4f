#!/usr/bin/env bash
# Long power-loss soak (not part of make check): test-powercut.sh with
# more cuts and longer loads before each cut.
#
#   soak-powercut.sh [CUTS [MAX_LOAD_SECONDS]]     (defaults: 2000, 2.0)
#
# Run it from the build tree's tests/ directory (so the built plugin,
# segmapctl and .libs/powercut.so are found), or set SEGMAP_PLUGIN,
# SEGMAPCTL and POWERCUT_SO.

POWERCUT_CUTS=${1:-2000}
POWERCUT_MAX_LOAD=${2:-2.0}
: "${POWERCUT_PLAIN_EVERY:=50}"
: "${SEGMAP_TEST_TIMEOUT:=$(( POWERCUT_CUTS * 20 + 600 ))}"
export POWERCUT_CUTS POWERCUT_MAX_LOAD POWERCUT_PLAIN_EVERY SEGMAP_TEST_TIMEOUT
exec "$(dirname "$0")/test-powercut.sh"
