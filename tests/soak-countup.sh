#!/usr/bin/env bash
# Long fault count-up (not part of make check): test-countup.sh for every
# N of the workload and of the shutdown (COUNTUP_ALL=1), with the faults
# as EIO and as ENOSPC, failing one call and three consecutive calls.
#
#   soak-countup.sh [OPS]     (default "pwrite zero sync commit")
#
# Run it from the build tree's tests/ directory (so the built plugin and
# segmapctl are found), or set SEGMAP_PLUGIN and SEGMAPCTL.  It makes
# over a thousand runs per errno and count (the shutdown zeroes each
# unused grant): hours.

export COUNTUP_OPS=${1:-pwrite zero sync commit}
export COUNTUP_ALL=1
: "${SEGMAP_TEST_TIMEOUT:=200000}"
export SEGMAP_TEST_TIMEOUT
for errno_name in EIO ENOSPC; do
  for count in 1 3; do
    echo "=== COUNTUP_ERRNO=$errno_name COUNTUP_FAIL_COUNT=$count"
    COUNTUP_ERRNO=$errno_name COUNTUP_FAIL_COUNT=$count \
      "$(dirname "$0")/test-countup.sh" || exit $?
  done
done
