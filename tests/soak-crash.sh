#!/usr/bin/env bash
# Long crash soak (not part of make check): test-crash.sh with more trials
# and longer loads before each kill.
#
#   soak-crash.sh [TRIALS [MAX_LOAD_SECONDS]]     (defaults: 1000, 3.0)
#
# Run it from the build tree's tests/ directory (so the built plugin and
# segmapctl are found), or set SEGMAP_PLUGIN and SEGMAPCTL.

CRASH_TRIALS=${1:-1000}
CRASH_MAX_LOAD=${2:-3.0}
export CRASH_TRIALS CRASH_MAX_LOAD
exec "$(dirname "$0")/test-crash.sh"
