# shellcheck shell=bash
# segmap integration test harness, sourced by every tests/test-*.sh.
#
# Design: each test gets a private temporary directory (tests/tmp-NAME-XXXX
# in the build tree, removed at exit) and starts its own nbdkit + segmap
# servers on unix sockets inside it, so tests run in parallel and never use
# fixed TCP ports.  A server is identified by its state directory DIR:
# DIR/nbd.sock (NBD), DIR/pid (nbdkit's pidfile), DIR/segmap.sock (control
# socket), DIR/server.log (nbdkit's stdout and stderr).
#
# Teardown is one LIFO stack shared by cleanup_fn and start_segmap: at exit
# (normal, failure or signal) entries run in reverse order of registration,
# so a workload started after a server is killed before that server is
# stopped, and a mount made before a server is undone after it.  Stopping a
# server always runs `segmapctl check` first; the test fails if the check
# fails or if the server (or valgrind around it) exits non-zero.  A server
# killed on purpose with kill_segmap is not checked (it is gone); the test
# restarts it and the restarted server is checked.
#
# Environment (set by TESTS_ENVIRONMENT in tests/Makefile.am; defaults
# below let a script run by hand from the build tree's tests/ directory):
#   SEGMAP_PLUGIN     the built nbdkit-segmap-plugin.so
#   SEGMAPCTL         the built segmapctl
#   SEGMAP_VALGRIND=1 run every server and segmapctl under valgrind
#   SEGMAP_SANITIZERS=1 the build has ASan+UBSan (make check-sanitizers):
#                     preload SEGMAP_SANITIZER_PRELOAD (the runtime
#                     libraries) into nbdkit, which is not instrumented
#   SEGMAP_KEEP_TMP=1 keep the temporary directory (for debugging)
#   SEGMAP_NBDKIT_FLAGS extra nbdkit options (e.g. "-v"), word-split
#   SEGMAP_TEST_TIMEOUT seconds before a test is failed as hung (default
#                     1200, ten times that under valgrind)

set -e

: "${abs_top_builddir:=$(cd .. && pwd)}"
: "${abs_top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${SEGMAP_PLUGIN:=$abs_top_builddir/plugins/segmap/.libs/nbdkit-segmap-plugin.so}"
: "${SEGMAPCTL:=$abs_top_builddir/src/segmapctl}"
: "${SEGMAP_VALGRIND:=0}"
: "${SEGMAP_NBDKIT_FLAGS:=}"

# shellcheck disable=SC2034 # used by the tests that source this file
MiB=$((1 << 20))
# shellcheck disable=SC2034
GiB=$((1 << 30))

sm_test_name=$(basename "$0" .sh)
sm_test_name=${sm_test_name#test-}

# Seconds to wait for a server to come up or go down (valgrind is slow).
if [ "$SEGMAP_VALGRIND" = 1 ]; then sm_timeout=300; else sm_timeout=60; fi

_sm_cleanups=()
# _sm_pid[DIR]: the subshell waiting for DIR's server (what `wait' needs);
# _sm_npid[DIR]: the server process itself (nbdkit's pidfile: what signals
# and /proc need).
declare -A _sm_pid=() _sm_npid=()
_sm_teardown_failed=0

# fail MESSAGE...: print a failure message naming the test and exit 1.
fail ()
{
  echo "FAIL: $sm_test_name: $*" >&2
  exit 1
}

# skip MESSAGE...: exit 77, which automake reports as SKIP.
skip ()
{
  echo "SKIP: $sm_test_name: $*" >&2
  exit 77
}

# requires CMD...: skip the test unless every CMD is on PATH.
requires ()
{
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || skip "missing $c"
  done
}

# requires_run DESCRIPTION CMD [ARGS...]: skip unless CMD ARGS succeeds.
requires_run ()
{
  local what=$1; shift
  "$@" >/dev/null 2>&1 || skip "missing $what (\`$*' failed)"
}

# cleanup_fn CMD [ARGS...]: run CMD ARGS at exit, in reverse order of
# registration (interleaved with server teardowns).
cleanup_fn ()
{
  local q
  q=$(printf '%q ' "$@")
  _sm_cleanups+=("$q")
}

_sm_run_cleanups ()
{
  local i
  for (( i = ${#_sm_cleanups[@]} - 1; i >= 0; i-- )); do
    eval "${_sm_cleanups[i]}" || true
  done
  _sm_cleanups=()
}

_sm_print_logs ()
{
  local log
  for log in "$sm_tmpdir"/*/server.log; do
    [ -s "$log" ] || continue
    echo "----- last lines of $log -----" >&2
    tail -n 40 "$log" >&2
  done
}

_sm_on_exit ()
{
  local status=$?
  set +e
  trap - EXIT INT TERM
  _sm_stop_watchdog
  _sm_run_cleanups
  if [ "$_sm_teardown_failed" != 0 ] && [ "$status" = 0 ]; then
    status=1
  fi
  if [ "$status" != 0 ] && [ "$status" != 77 ] && [ -d "$sm_tmpdir" ]; then
    _sm_print_logs
  fi
  if [ "$SEGMAP_KEEP_TMP" = 1 ] || { [ "$status" != 0 ] && [ "$status" != 77 ] && [ -n "$SEGMAP_KEEP_TMP_ON_FAIL" ]; }; then
    echo "$sm_test_name: keeping $sm_tmpdir" >&2
  else
    rm -rf "$sm_tmpdir"
  fi
  exit "$status"
}

# A watchdog fails a hung test: it signals the test shell and then every
# child of the test shell that is not a server (a hung client would keep
# bash from running its traps), so the teardown still runs.
_sm_watchdog ()
{
  local p servers
  sleep "$1" &
  wait $!
  echo "FAIL: $sm_test_name: timed out after $1 s" >&2
  kill -TERM $$ 2>/dev/null
  sleep 1
  servers=$(cat "$sm_tmpdir"/*/pid "$sm_tmpdir"/*/wrapper.pid 2>/dev/null)
  for p in $(ps -o pid= --ppid $$); do
    [ "$p" != "$BASHPID" ] || continue
    grep -qx "$p" <<<"$servers" || kill -TERM "$p" 2>/dev/null
  done
}

_sm_stop_watchdog ()
{
  [ -n "$_sm_watchdog_pid" ] || return 0
  local kids
  kids=$(ps -o pid= --ppid "$_sm_watchdog_pid")
  kill "$_sm_watchdog_pid" 2>/dev/null
  # shellcheck disable=SC2086 # a list of pids
  [ -z "$kids" ] || kill $kids 2>/dev/null
  wait "$_sm_watchdog_pid" 2>/dev/null
  _sm_watchdog_pid=
}

# --- python with the libnbd bindings -------------------------------------

# nbdsh and the python tests need a python3 that can `import nbd'.  The
# bindings (python3-libnbd) live in the system python's dist-packages; a
# python3 earlier on PATH (pyenv, venv) may not see them, and nbdsh runs
# whatever `python3' is on PATH.  Find one that works and, if it is not the
# first on PATH, put a python3 symlink to it first on PATH.
_sm_find_python ()
{
  local p
  for p in "$(command -v python3 2>/dev/null)" /usr/bin/python3; do
    if [ -x "$p" ] && "$p" -c 'import nbd' >/dev/null 2>&1; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# requires_python_nbd: skip unless python3 + the libnbd bindings work.
requires_python_nbd ()
{
  [ -n "$PYTHON" ] ||
    skip "missing the python3 libnbd bindings (Debian package python3-libnbd)"
}

# requires_nbdsh: skip unless nbdsh works.
requires_nbdsh ()
{
  requires nbdsh
  requires_python_nbd
  requires_run nbdsh nbdsh -c 'pass'
}

# --- servers ------------------------------------------------------------

_sm_valgrind_cmd ()
{
  local log=$1
  echo valgrind --error-exitcode=119 --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --keep-debuginfo=yes --track-fds=no \
    "--suppressions=$abs_top_srcdir/tests/valgrind.supp" \
    "--log-file=$log"
}

# _sm_server_wrapper WHAT DIR: set the array _sm_wrapper to the prefix of
# the nbdkit command line: valgrind (report in DIR/valgrind-WHAT.PID.log),
# or in a sanitizer build env preloading the ASan/UBSan runtime, which the
# instrumented plugin needs loaded first (reports in
# DIR/sanitizer-WHAT.PID; the preload lists libp11-kit ahead of libasan,
# see tests/Makefile.am, hence verify_asan_link_order=0); empty otherwise.
# SEGMAP_PRELOAD (set on the start_segmap call) is preloaded into the
# server too (test-powercut.sh's interposer).
_sm_server_wrapper ()
{
  local what=$1 dir=$2
  _sm_wrapper=()
  if [ "$SEGMAP_VALGRIND" = 1 ]; then
    read -r -a _sm_wrapper <<<"$(_sm_valgrind_cmd "$dir/valgrind-$what.%p.log")"
  elif [ "$SEGMAP_SANITIZERS" = 1 ]; then
    _sm_wrapper=(env "LD_PRELOAD=$SEGMAP_SANITIZER_PRELOAD${SEGMAP_PRELOAD:+ $SEGMAP_PRELOAD}"
      "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:log_path=$dir/sanitizer-$what"
      "UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/sanitizer-$what")
    return 0
  fi
  if [ -n "$SEGMAP_PRELOAD" ]; then
    _sm_wrapper=(env "LD_PRELOAD=$SEGMAP_PRELOAD" "${_sm_wrapper[@]}")
  fi
}

# start_segmap DIR [PLUGIN-ARGS...]: start nbdkit + segmap with state-dir=DIR
# (iSCSI off unless PLUGIN-ARGS give iscsi=ADDR:PORT: tests run in parallel)
# in the background (environment variables such as SEGMAP_INJECT set on
# the call are passed to it), wait until the pidfile and the control
# socket exist, and register its teardown.  Fails the test if it dies
# (unless SEGMAP_START_MAY_FAIL is set on the call: then it returns the
# server's exit status).
start_segmap ()
{
  local dir=$1; shift
  local -a cmd
  local pid i

  [ -z "${_sm_pid[$dir]}" ] || fail "start_segmap: $dir already running"
  [ -f "$SEGMAP_PLUGIN" ] || fail "plugin not built: $SEGMAP_PLUGIN"
  mkdir -p "$dir"
  # nbdkit refuses to reuse a unix socket path left by a killed server.
  # The control socket is left alone: coping with a stale one is segmap's
  # job, and readiness below means "accepts connections", not "exists".
  rm -f "$dir/pid" "$dir/nbd.sock"
  # shellcheck disable=SC2206 # SEGMAP_NBDKIT_FLAGS is meant to be split
  cmd=(nbdkit -f -U "$dir/nbd.sock" -P "$dir/pid" $SEGMAP_NBDKIT_FLAGS
       "$SEGMAP_PLUGIN" "state-dir=$dir" iscsi=off "$@")
  _sm_server_wrapper server "$dir"
  cmd=("${_sm_wrapper[@]}" "${cmd[@]}")
  echo "== $(date +%T) start: ${cmd[*]}" >>"$dir/server.log"
  # The server runs under a subshell whose own stderr also goes to the log:
  # bash's "Killed" notice for kill_segmap lands there, not in the output.
  ( "${cmd[@]}" </dev/null; exit $? ) >>"$dir/server.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/wrapper.pid"
  _sm_pid[$dir]=$pid
  cleanup_fn _sm_teardown "$dir"

  for (( i = 0; i < sm_timeout * 10; i++ )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local st=0
      wait "$pid" || st=$?
      unset "_sm_pid[$dir]"
      # (the fault count-up: a refusal to start is a valid outcome)
      [ -z "$SEGMAP_START_MAY_FAIL" ] || return "$st"
      tail -n 40 "$dir/server.log" >&2
      fail "server in $dir exited during start-up with status $st"
    fi
    if [ -s "$dir/pid" ] && _sm_sock_alive "$dir/segmap.sock"; then
      _sm_npid[$dir]=$(cat "$dir/pid")
      return 0
    fi
    sleep 0.1
  done
  fail "server in $dir did not write $dir/pid and accept on" \
       "$dir/segmap.sock within $sm_timeout s"
}

# _sm_sock_alive PATH: true if the control socket at PATH answers a
# request.  Accepting a connection is not enough: segmap binds and
# listens before nbdkit forks, and serves only once start-up finished
# (where it may still fail), so a request waits in the backlog until
# then, or fails when the server exits.
_sm_sock_alive ()
{
  [ -S "$1" ] && timeout 10 "$SEGMAPCTL" -s "$1" status >/dev/null 2>&1
}

# server_pid DIR: print the pid of the server running in DIR.
server_pid ()
{
  [ -n "${_sm_npid[$1]}" ] || fail "server_pid: no server running in $1"
  echo "${_sm_npid[$1]}"
}

# _sm_target DIR: the pid to signal for DIR's server: from its pidfile,
# or, if it never wrote one, the child of its wrapper subshell.
_sm_target ()
{
  local dir=$1
  if [ -n "${_sm_npid[$dir]}" ]; then
    echo "${_sm_npid[$dir]}"
  elif [ -s "$dir/pid" ]; then
    cat "$dir/pid"
  else
    ps -o pid= --ppid "${_sm_pid[$dir]}" | head -n 1
  fi
}

# _sm_wait_exit DIR SECONDS: wait for the server to exit, SIGKILL it after
# SECONDS; sets _sm_status to its exit status (137 if it had to be killed).
_sm_wait_exit ()
{
  local dir=$1 secs=$2 pid=${_sm_pid[$1]} i
  for (( i = 0; i < secs * 10; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "server in $dir still running after $secs s: SIGKILL" >&2
    kill -9 "$(_sm_target "$dir")" "$pid" 2>/dev/null
  fi
  _sm_status=0
  # (the braces keep bash's "Killed" job notice out of the test output)
  { wait "$pid"; } 2>/dev/null || _sm_status=$?
  unset "_sm_pid[$dir]" "_sm_npid[$dir]"
}

# stop_segmap [--no-check] DIR: run `segmapctl check` (unless --no-check),
# then SIGTERM the server and wait for it.  Fails the test if the check
# fails or the server exits non-zero (119 = valgrind found errors).
stop_segmap ()
{
  local check=1 dir
  if [ "$1" = --no-check ]; then check=0; shift; fi
  dir=$1
  [ -n "${_sm_pid[$dir]}" ] || fail "stop_segmap: no server running in $dir"
  if [ $check = 1 ] && ! _sm_check "$dir"; then
    _sm_stop "$dir" || true
    fail "segmapctl check failed for the server in $dir"
  fi
  _sm_stop "$dir" || fail "server in $dir did not shut down cleanly"
}

# _sm_check DIR: segmapctl check, output shown on failure.
_sm_check ()
{
  local out st=0
  out=$(segctl "$1" check 2>&1) || st=$?
  if [ $st != 0 ]; then
    echo "segmapctl check for $1 exited with status $st:" >&2
    echo "$out" >&2
    return 1
  fi
  return 0
}

# _sm_stop DIR: SIGTERM and reap; returns non-zero on a bad exit status.
_sm_stop ()
{
  local dir=$1
  kill -TERM "$(_sm_target "$dir")" 2>/dev/null || true
  _sm_wait_exit "$dir" "$sm_timeout"
  echo "== $(date +%T) exit status $_sm_status" >>"$dir/server.log"
  if [ "$_sm_status" != 0 ]; then
    echo "server in $dir exited with status $_sm_status" \
         "$([ "$_sm_status" = 119 ] && echo '(valgrind or sanitizer errors)')" >&2
    cat "$dir"/valgrind-server.*.log "$dir"/sanitizer-server.* >&2 \
      2>/dev/null || true
    return 1
  fi
  return 0
}

# _sm_teardown DIR: registered by start_segmap; a no-op once stopped.
_sm_teardown ()
{
  local dir=$1
  [ -n "${_sm_pid[$dir]}" ] || return 0
  if ! _sm_check "$dir"; then
    echo "FAIL: $sm_test_name: segmapctl check failed at teardown ($dir)" >&2
    _sm_teardown_failed=1
  fi
  if ! _sm_stop "$dir"; then
    echo "FAIL: $sm_test_name: server in $dir did not shut down cleanly" >&2
    _sm_teardown_failed=1
  fi
}

# kill_segmap DIR: SIGKILL the server (a crash); no check.
kill_segmap ()
{
  local dir=$1
  [ -n "${_sm_pid[$dir]}" ] || fail "kill_segmap: no server running in $dir"
  kill -9 "$(_sm_target "$dir")" 2>/dev/null || true
  _sm_wait_exit "$dir" "$sm_timeout"
  echo "== $(date +%T) killed (status $_sm_status)" >>"$dir/server.log"
}

# expect_start_failure DIR REGEXP [PLUGIN-ARGS...]: nbdkit + segmap must
# refuse to start, exit non-zero, and print a line matching REGEXP (grep -E)
# on stderr.  Fails the test if the server comes up instead.
expect_start_failure ()
{
  local dir=$1 re=$2; shift 2
  local -a cmd
  local pid i st=0 log

  mkdir -p "$dir"
  rm -f "$dir/pid" "$dir/nbd.sock"
  log=$dir/start-failure.log
  cmd=(nbdkit -f -U "$dir/nbd.sock" -P "$dir/pid"
       "$SEGMAP_PLUGIN" "state-dir=$dir" iscsi=off "$@")
  _sm_server_wrapper fail "$dir"
  cmd=("${_sm_wrapper[@]}" "${cmd[@]}")
  "${cmd[@]}" >"$log" 2>&1 </dev/null &
  pid=$!
  for (( i = 0; i < sm_timeout * 10; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    # (nbdkit writes its pidfile before the plugin's after_fork, where
    # segmap may still fail: only an answering control socket is "up")
    if [ -s "$dir/pid" ] && _sm_sock_alive "$dir/segmap.sock"; then
      kill -9 "$pid"; wait "$pid" || true
      fail "expected nbdkit to refuse to start (args: $*), but it started"
    fi
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"; wait "$pid" || true
    fail "nbdkit neither started nor exited within $sm_timeout s (args: $*)"
  fi
  wait "$pid" || st=$?
  [ $st != 0 ] || fail "nbdkit exited 0 on bad input (args: $*)"
  # (119: valgrind or a sanitizer found errors; UBSan reports to the log)
  if [ $st = 119 ] || [ $st -ge 128 ]; then
    fail "nbdkit exited with status $st on the start-up error path" \
         "(args: $*): $(cat "$dir"/valgrind-fail.*.log \
                          "$dir"/sanitizer-fail.* "$log" 2>/dev/null)"
  fi
  if ! grep -Eq -- "$re" "$log"; then
    echo "--- nbdkit output ---" >&2; cat "$log" >&2
    fail "nbdkit's error output does not match /$re/ (args: $*)"
  fi
  echo "refused as expected: $(grep -E -- "$re" "$log" | head -n 1)"
}

# segctl DIR ARGS...: segmapctl on DIR's control socket (under valgrind
# when SEGMAP_VALGRIND=1; valgrind's report is shown if it found errors).
# A segmapctl that does not answer within 2 * sm_timeout seconds is killed
# (status 124), so a wedged server fails the test instead of hanging it.
segctl ()
{
  local dir=$1 log st=0; shift
  local -a vg=()
  if [ "$SEGMAP_VALGRIND" = 1 ]; then
    log=$(mktemp "$sm_tmpdir/valgrind-ctl.XXXXXX")
    read -r -a vg <<<"$(_sm_valgrind_cmd "$log")"
  fi
  timeout -k 10 $((2 * sm_timeout)) \
    "${vg[@]}" "$SEGMAPCTL" -s "$dir/segmap.sock" "$@" || st=$?
  case $st in
    124|137) echo "segmapctl $*: no answer within $((2 * sm_timeout)) s" >&2 ;;
    119) echo "valgrind or a sanitizer found errors in: segmapctl $*" >&2
         [ -z "$log" ] || cat "$log" >&2 ;;
  esac
  [ -z "$log" ] || rm -f "$log"
  return $st
}

# nbd_uri DIR EXPORT: the NBD URI of EXPORT on DIR's server.
nbd_uri ()
{
  echo "nbd+unix:///$2?socket=$1/nbd.sock"
}

# nbd_map URI: print the export's extent map (base:allocation) as lines
# "OFFSET END TYPE" with adjacent extents of the same type merged; TYPE is
# nbdinfo's description ("data", "hole,zero", "zero", "hole").
nbd_map ()
{
  nbdinfo --map --json "$1" | python3 -c '
import json, sys
out = []
for e in json.load(sys.stdin):
    start, end, t = e["offset"], e["offset"] + e["length"], e["description"]
    if out and out[-1][2] == t and out[-1][1] == start:
        out[-1][1] = end
    else:
        out.append([start, end, t])
for start, end, t in out:
    print(start, end, t)
'
}

# expect_map URI WHAT LINES: the merged map of URI must be exactly LINES
# (as printed by nbd_map, newline-separated).
expect_map ()
{
  local got
  got=$(nbd_map "$1") || fail "$2: nbdinfo --map failed on $1"
  if [ "$got" != "$3" ]; then
    echo "expected map:" >&2; echo "$3" >&2
    echo "actual map:" >&2; echo "$got" >&2
    fail "$2: wrong extent map for $1"
  fi
}

# alloc_bytes FILE: bytes of disk actually allocated to FILE.
alloc_bytes ()
{
  local b
  b=$(stat -c '%b*%B' "$1") || fail "stat $1"
  echo $(( b ))
}

# json_field JSON-ARRAY KEY-FIELD KEY-VALUE FIELD: print FIELD of the row
# whose KEY-FIELD equals KEY-VALUE (python3; used on segmapctl --json).
json_field ()
{
  python3 -c '
import json, sys
rows = json.loads(sys.argv[1])
if isinstance(rows, dict):
    for v in rows.values():
        if isinstance(v, list):
            rows = v
            break
for r in rows:
    if str(r.get(sys.argv[2])) == sys.argv[3]:
        v = r.get(sys.argv[4])
        print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
        sys.exit(0)
sys.exit("no row with %s=%s" % (sys.argv[2], sys.argv[3]))
' "$@"
}

# container_segments DIR NAME: how many segments container NAME of the
# server in DIR holds.
container_segments ()
{
  local rows
  rows=$(segctl "$1" --json container list) || fail "container list failed"
  json_field "$rows" name "$2" segments
}

# job_field DIR ID FIELD: FIELD of job ID of the server in DIR.
job_field ()
{
  local rows
  rows=$(segctl "$1" --json job list) || fail "job list failed"
  json_field "$rows" id "$2" "$3"
}

# --- iSCSI ----------------------------------------------------------------
#
# The iSCSI tests (tests/test-iscsi-*.sh) start segmap with iscsi=PORTALS
# on loopback TCP ports chosen here (iSCSI has no unix-socket transport),
# and drive it with libiscsi's tools, qemu's iscsi:// driver, the Linux
# initiator in a guest and tests/iscsi-raw.py.  Targets are named
# SM_ISCSI_PREFIX:VDISK, LUN 0.

SM_ISCSI_PREFIX=iqn.2026-11.org.segmap
# Initiator names the tests log in with (-i / -I of iscsi-test-cu, the
# raw client), and one that no [host] section lists.
# shellcheck disable=SC2034
SM_ISCSI_INITIATOR=iqn.2026-11.org.segmap.test:initiator1
# shellcheck disable=SC2034
SM_ISCSI_INITIATOR2=iqn.2026-11.org.segmap.test:initiator2
# shellcheck disable=SC2034
SM_ISCSI_DENIED=iqn.2026-11.org.segmap.test:denied

# free_tcp_ports N: print N distinct loopback TCP ports that are free now,
# one per line (bound and released: another process may take one before
# the server binds it, so start_segmap_iscsi retries on a bind failure).
free_tcp_ports ()
{
  python3 - "$1" <<'EOF'
import random, socket, sys
n, got = int(sys.argv[1]), []
while len(got) < n:
    p = random.randrange(20000, 60000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    if p not in got:
        got.append(p)
print("\n".join(map(str, got)))
EOF
}

# wait_tcp_portal HOST:PORT SECONDS: true once HOST:PORT accepts a TCP
# connection, false after SECONDS.
wait_tcp_portal ()
{
  python3 - "$1" "$2" <<'EOF'
import socket, sys, time
host, _, port = sys.argv[1].rpartition(":")
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        socket.create_connection((host, int(port)), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

# start_segmap_iscsi DIR NPORTALS [PLUGIN-ARGS...]: start_segmap with
# iscsi= NPORTALS free loopback portals, wait until every portal accepts,
# and set the array SM_ISCSI_PORTALS to the portals ("127.0.0.1:PORT").
# (The ports are free when chosen, out of 40000: another process taking
# one in the moment before the server binds it fails the start-up.)
start_segmap_iscsi ()
{
  local dir=$1 n=$2; shift 2
  local p list
  SM_ISCSI_PORTALS=()
  for p in $(free_tcp_ports "$n"); do SM_ISCSI_PORTALS+=("127.0.0.1:$p"); done
  list=$(IFS=,; echo "${SM_ISCSI_PORTALS[*]}")
  start_segmap "$dir" "iscsi=$list" "$@"
  for p in "${SM_ISCSI_PORTALS[@]}"; do
    wait_tcp_portal "$p" "$sm_timeout" ||
      fail "segmap in $dir does not accept iSCSI connections on $p"
  done
}

# iscsi_iqn VDISK: the target name of VDISK.
iscsi_iqn ()
{
  echo "$SM_ISCSI_PREFIX:$1"
}

# iscsi_url PORTAL VDISK [USER%SECRET]: libiscsi / qemu URL of VDISK's LUN 0.
iscsi_url ()
{
  echo "iscsi://${3:+$3@}$1/$(iscsi_iqn "$2")/0"
}

# requires_qemu_iscsi: skip unless qemu-img has the iscsi:// driver
# (Debian: qemu-block-extra).
requires_qemu_iscsi ()
{
  requires qemu-img qemu-io
  qemu-img --help 2>/dev/null | grep -q '^Supported formats:.* iscsi' ||
    skip "qemu-img has no iscsi driver (Debian package qemu-block-extra)"
}

# make_chap_secret FILE: write a random 24-character CHAP secret to FILE
# (mode 0600) and print it.
make_chap_secret ()
{
  local s
  s=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 16)
  s="secret-$s"
  ( umask 077; printf '%s\n' "$s" >"$1" )
  echo "$s"
}

# --- set-up ---------------------------------------------------------------

sm_tmpdir=$(mktemp -d "$PWD/tmp-$sm_test_name-XXXX")
# Unix socket paths are limited to 108 bytes: fall back to /tmp if the
# build tree is deep.
if [ ${#sm_tmpdir} -gt 70 ]; then
  rmdir "$sm_tmpdir"
  sm_tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/segmap-$sm_test_name-XXXX")
fi
trap _sm_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ "$SEGMAP_VALGRIND" = 1 ]; then
  : "${SEGMAP_TEST_TIMEOUT:=12000}"
else
  : "${SEGMAP_TEST_TIMEOUT:=1200}"
fi
_sm_watchdog "$SEGMAP_TEST_TIMEOUT" &
_sm_watchdog_pid=$!

PYTHON=$(_sm_find_python) || PYTHON=
if [ -n "$PYTHON" ] && [ "$PYTHON" != "$(command -v python3)" ]; then
  mkdir -p "$sm_tmpdir/bin"
  ln -s "$PYTHON" "$sm_tmpdir/bin/python3"
  PATH=$sm_tmpdir/bin:$PATH
fi
export PYTHON PATH

requires nbdkit
[ -x "$SEGMAPCTL" ] || fail "segmapctl not built: $SEGMAPCTL"
if [ "$SEGMAP_VALGRIND" = 1 ]; then
  requires valgrind
fi
if [ "$SEGMAP_SANITIZERS" = 1 ]; then
  [ -n "$SEGMAP_SANITIZER_PRELOAD" ] ||
    fail "SEGMAP_SANITIZERS=1 needs SEGMAP_SANITIZER_PRELOAD (the runtimes)"
  for _sm_f in $SEGMAP_SANITIZER_PRELOAD; do
    [ -f "$_sm_f" ] || fail "sanitizer runtime not found: $_sm_f"
  done
fi
