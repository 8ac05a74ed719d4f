#!/usr/bin/env bash
# Readiness: as soon as `nbdkit ... segmap ...' returns in background
# mode, `segmapctl status' answers, also over a stale control socket
# left by a server killed with SIGKILL.
#
# ROUNDS times (default 20): start nbdkit without -f (it forks and the
# parent returns), run `segmapctl status' at once: it must succeed.  The
# state directory's lock file must name the background process (the pid
# in nbdkit's pidfile).  Then kill the server with SIGKILL, leaving its
# control socket behind for the next round.  The last round stops the
# server cleanly after `check'.  A foreground start prints the ready
# line naming the state directory.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdkit
[ "$SEGMAP_VALGRIND" != 1 ] || skip "background mode is not run under valgrind"

s=$sm_tmpdir/s
rounds=${ROUNDS:-20}
mkdir -p "$s"
current=
# (evaluated at exit: the server running then, if any)
# shellcheck disable=SC2016
cleanup_fn eval '[ -z "$current" ] || kill -9 "$current" 2>/dev/null'

# wait_gone PID: until the process has exited (it is not our child).
wait_gone ()
{
  local i
  for (( i = 0; i < sm_timeout * 10; i++ )); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  fail "server $1 did not exit"
}

# (every nbdkit through the wrapper start_segmap uses: a sanitizer
# build's plugin needs its runtime preloaded; valgrind checks the rest)
_sm_server_wrapper ready "$s"

for (( r = 1; r <= rounds; r++ )); do
  rm -f "$s/pid" "$s/nbd.sock"
  # shellcheck disable=SC2086 # SEGMAP_NBDKIT_FLAGS is meant to be split
  "${_sm_wrapper[@]}" nbdkit -U "$s/nbd.sock" -P "$s/pid" $SEGMAP_NBDKIT_FLAGS \
    "$SEGMAP_PLUGIN" "state-dir=$s" iscsi=off >>"$s/server.log" 2>&1 ||
    fail "round $r: nbdkit failed to start"
  out=$("$SEGMAPCTL" -s "$s/segmap.sock" status 2>&1) ||
    fail "round $r: segmapctl status right after nbdkit returned: $out"
  # nbdkit's background process writes its pidfile after the fork, and
  # its parent may return before: the pid, unlike segmap's readiness,
  # may take a moment.
  for (( i = 0; i < sm_timeout * 10; i++ )); do
    [ ! -s "$s/pid" ] || break
    sleep 0.1
  done
  current=$(cat "$s/pid")
  [ "$(cat "$s/segmap.lock")" = "$current" ] ||
    fail "round $r: the lock file names $(cat "$s/segmap.lock")," \
         "the server is $current"
  [ -S "$s/segmap.sock" ] || fail "round $r: no control socket"
  if [ "$r" -lt "$rounds" ]; then
    kill -9 "$current"
    wait_gone "$current"
    [ -S "$s/segmap.sock" ] || fail "round $r: the killed server left no socket"
  fi
done
echo "status answered at once in $rounds rounds"
"$SEGMAPCTL" -s "$s/segmap.sock" check || fail "check failed"
kill -TERM "$current"
wait_gone "$current"
current=

rm -f "$s/pid" "$s/nbd.sock"
timeout -s INT "$sm_timeout" "${_sm_wrapper[@]}" nbdkit -f -U "$s/nbd.sock" -P "$s/pid" "$SEGMAP_PLUGIN" \
  "state-dir=$s" iscsi=off >"$sm_tmpdir/fg.log" 2>&1 &
fg=$!
for (( i = 0; i < sm_timeout * 10; i++ )); do
  grep -q "segmap: ready: state directory $s," "$sm_tmpdir/fg.log" && break
  kill -0 "$fg" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$fg" 2>/dev/null
wait "$fg" || true
grep "segmap: ready: state directory $s, control socket $s/segmap.sock" \
  "$sm_tmpdir/fg.log" || { cat "$sm_tmpdir/fg.log" >&2; fail "no ready line"; }
