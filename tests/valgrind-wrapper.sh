#!/bin/sh
# LOG_COMPILER for the C unit tests (tests/Makefile.am): runs the test
# program PROG [ARGS...] directly, or under valgrind's memcheck when
# SEGMAP_VALGRIND=1 (`make check-valgrind').  The shell tests do not come
# through here: tests/functions.sh puts valgrind around the servers and
# segmapctl they start.
#
# Under valgrind, a memory error or a definite leak in the test or in any
# program it executes (test-segmapctl runs segmapctl) makes the test fail
# with status 119.  Each process logs to its own file in a temporary
# directory; the logs of processes with errors are copied to stderr, so
# they land in the test's .log file.  CK_FORK=no (set by check-valgrind)
# keeps libcheck from forking, so one process runs every test case.
#
#   SEGMAP_VALGRIND=1        run under valgrind
#   SEGMAP_VALGRIND_FLAGS    extra valgrind options (word-split), e.g.
#                            "--track-origins=yes" or "--gen-suppressions=all"
#   SEGMAP_KEEP_TMP=1        keep every process's log

if [ "$SEGMAP_VALGRIND" != 1 ]; then
  exec "$@"
fi

command -v valgrind >/dev/null 2>&1 || {
  echo "$0: SEGMAP_VALGRIND=1 but valgrind is not installed" >&2
  exit 77
}

srcdir=$(cd "$(dirname "$0")" && pwd)
prog=$1
# valgrind around a libtool wrapper script would check the shell instead.
if ! head -c 4 "$prog" | grep -q ELF; then
  echo "$0: $prog is not an ELF program" >&2
  exit 99
fi
# (tmp-*-* is what `make clean' removes in tests/)
logdir=$(mktemp -d "$PWD/tmp-valgrind-$(basename "$prog")-XXXX") || exit 99

status=0
# shellcheck disable=SC2086 # SEGMAP_VALGRIND_FLAGS is meant to be split
valgrind --error-exitcode=119 --leak-check=full \
  --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --num-callers=30 --trace-children=yes \
  "--suppressions=$srcdir/valgrind.supp" "--log-file=$logdir/%p.log" \
  $SEGMAP_VALGRIND_FLAGS "$@" || status=$?

procs=0 bad=0
for log in "$logdir"/*.log; do
  [ -f "$log" ] || continue
  procs=$((procs + 1))
  if grep -Eq 'ERROR SUMMARY: [1-9]' "$log"; then
    bad=$((bad + 1))
    echo "----- valgrind: $log -----" >&2
    cat "$log" >&2
  fi
done
echo "valgrind: $procs processes checked, $bad with errors" >&2
# An error in a child counts even if the test did not look at its status.
if [ $bad != 0 ] && [ $status = 0 ]; then
  status=119
fi
if [ "$SEGMAP_KEEP_TMP" = 1 ]; then
  echo "valgrind logs kept in $logdir" >&2
else
  rm -rf "$logdir"
fi
exit $status
