#!/usr/bin/env bash
# Bad input gets a clear answer and never takes the server down.
#
# One case per item; each asserts the message and, for a running server,
# that it is still alive and answering (the teardown runs segmapctl check):
#   config file:   malformed lines, unknown sections and keys, bad sizes,
#                  out-of-range and non-power-of-two segment sizes,
#                  duplicate sections, unknown container, missing size,
#                  over-long lines, NUL bytes, a container path that cannot
#                  be created -- nbdkit refuses to start with FILE:LINE:
#   segmapctl:     bad segment sizes, duplicate vdisk names, bad names,
#                  bad sizes, unknown vdisks, container paths that cannot
#                  be created, a read-only (immutable) container
#   NBD:           I/O past the end of a vdisk
#   ENOSPC:        injected (SEGMAP_INJECT=pwrite:ENOSPC) and, as root, a
#                  real full tmpfs: the client sees ENOSPC, and writes work
#                  again once space is back, without a restart
#   control socket: raw bytes, invalid JSON, invalid UTF-8, deep nesting,
#                  wrong version, unknown command, a line over the limit,
#                  a client vanishing mid-request

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires nbdinfo
requires_nbdsh

# begin_case TEXT: announce a case (long arguments shortened).
begin_case ()
{
  local t="$*"
  [ ${#t} -le 120 ] || t="${t:0:100}... (${#t} characters)"
  echo "--- case: $t"
}

# =====================================================================
# Config file errors: nbdkit must refuse to start, naming FILE:LINE.
# =====================================================================
cfgdir=$sm_tmpdir/cfg
mkdir -p "$cfgdir"
ncfg=0

# bad_config LINE REGEXP: the config on stdin must be refused with
# "FILE:LINE: " followed by a message matching REGEXP.
bad_config ()
{
  local line=$1 re=$2 f
  ncfg=$((ncfg + 1))
  f=$cfgdir/bad$ncfg.conf
  cat >"$f"
  begin_case "config $ncfg: expect $f:$line: /$re/"
  expect_start_failure "$sm_tmpdir/cs$ncfg" "$f:$line: .*($re)" "config=$f"
}

bad_config 4 'section|\]' <<'EOF'
[container c]
path = c.img
size = 1G
[vdisk a
size = 1G
EOF

bad_config 5 'KEY = VALUE|=' <<'EOF'
[container c]
path = c.img
size = 1G
[vdisk a]
size 1G
EOF

bad_config 5 "unknown key 'segmentsize'" <<'EOF'
[container c]
path = c.img
size = 1G
[vdisk a]
segmentsize = 1M
size = 1G
EOF

bad_config 1 'unknown section' <<'EOF'
[disk a]
size = 1G
EOF

for seg in 32K 128M 3M 1000000 0; do
  bad_config 6 'segment' <<EOF
[container c]
path = c.img
size = 1G
[vdisk a]
size = 1G
segment-size = $seg
EOF
done

for size in -1G 1.5G 12Q 1000 0 '' 16P; do
  bad_config 5 'size' <<EOF
[container c]
path = c.img
size = 1G
[vdisk a]
size = $size
EOF
done

bad_config 7 'duplicate section' <<'EOF'
[container c]
path = c.img
size = 1G
[vdisk a]
size = 1G

[vdisk a]
size = 2G
EOF

bad_config 6 'nope' <<'EOF'
[container c]
path = c.img
size = 1G
[vdisk a]
size = 1G
container = nope
EOF

bad_config 4 'needs size|size' <<'EOF'
[container c]
path = c.img
size = 1G
[vdisk a]
container = c
EOF

bad_config 3 'too long|long' <<EOF
[container c]
path = c.img
# $(printf 'x%.0s' $(seq 300))
size = 1G
EOF

bad_config 3 'NUL' < <(printf '[container c]\npath = c.img\nsize = 1\0G\n')

bad_config 6 'duplicate key' <<'EOF'
[container c]
path = c.img
size = 1G
[vdisk a]
size = 1G
size = 2G
EOF

# A container whose file cannot be created: its directory does not exist
# and cannot (under /proc).  The error may come from parsing (FILE:LINE)
# or from start-up; either way it must name the path.
ncfg=$((ncfg + 1))
begin_case "config $ncfg: container path that cannot be created"
cat >"$cfgdir/bad$ncfg.conf" <<'EOF'
[container c]
path = /proc/segmap-no-such-dir/c.img
size = 1G
[vdisk a]
size = 1G
EOF
expect_start_failure "$sm_tmpdir/cs$ncfg" '/proc/segmap-no-such-dir/c.img' \
  "config=$cfgdir/bad$ncfg.conf"

# A good config next to the bad ones: it must start (so the failures above
# are about the lines we broke, not about something else in the files).
begin_case "a good config starts"
cat >"$cfgdir/good.conf" <<'EOF'
[container c]
path = c.img
size = 1G
[vdisk a]
size = 1G
segment-size = 64K
[vdisk b]
size = 1G
container = c
segment-size = 64M
EOF
g=$sm_tmpdir/good
start_segmap "$g" "config=$cfgdir/good.conf"
nbdinfo --list --json "nbd+unix:///?socket=$g/nbd.sock" >"$sm_tmpdir/good.list" ||
  fail "nbdinfo --list on the good config failed"
for v in a b; do
  grep -q "\"export-name\": \"$v\"" "$sm_tmpdir/good.list" ||
    fail "the good config does not serve vdisk $v: $(cat "$sm_tmpdir/good.list")"
done
stop_segmap "$g"

# A container without size = on a new database: an existing file gives
# its own size (segmap.conf(5)); a missing one is refused, naming it.
begin_case "a container without size = takes an existing file's size"
e=$sm_tmpdir/nosize
mkdir -p "$e"
truncate -s 3G "$e/c.img"
cat >"$cfgdir/nosize.conf" <<EOF
[container c]
path = $e/c.img
[vdisk a]
size = 1G
EOF
start_segmap "$e" "config=$cfgdir/nosize.conf"
[ "$(json_field "$(segctl "$e" --json container list)" name c size)" = \
  $(( 3 << 30 )) ] ||
  fail "container c: $(segctl "$e" --json container list)"
stop_segmap "$e"
rm -f "$e/c.img" "$e/segmap.db"*
begin_case "a container without size = and no file is refused"
expect_start_failure "$e" 'c\.img' "config=$cfgdir/nosize.conf"

# =====================================================================
# segmapctl errors on a running server.
# =====================================================================
s=$sm_tmpdir/s
start_segmap "$s"
spid=$(server_pid "$s")

# alive: the server still runs and answers.
alive ()
{
  kill -0 "$spid" 2>/dev/null || fail "the server died (after: $*)"
  segctl "$s" status >/dev/null || fail "segmapctl status fails (after: $*)"
}

# expect_ctl_fail REGEXP ARGS...: segmapctl ARGS must exit non-zero with a
# message matching REGEXP (grep -Ei) and leave the server running.
expect_ctl_fail ()
{
  local re=$1 out st=0; shift
  begin_case "segmapctl $*"
  out=$(segctl "$s" "$@" 2>&1) || st=$?
  [ $st != 0 ] || fail "segmapctl $* succeeded; expected an error"
  [ $st != 119 ] || fail "valgrind errors in segmapctl $*"
  echo "$out" | grep -Eqi -- "$re" ||
    fail "segmapctl $*: message does not match /$re/: $out"
  [ ${#out} -le 300 ] || out="${out:0:300}..."
  echo "refused as expected: $out"
  alive "segmapctl $*"
}

for seg in 32K 128M 3M 1000000; do
  expect_ctl_fail 'segment' vdisk create v-$seg 1G --segment-size $seg
done
expect_ctl_fail 'exist|already|duplicate' vdisk create disk0 1G
segctl "$s" vdisk create dup 1G || fail "vdisk create dup 1G failed"
expect_ctl_fail 'exist|already|duplicate' vdisk create dup 2G
expect_ctl_fail 'name' vdisk create 'bad/name' 1G
expect_ctl_fail 'name' vdisk create '../up' 1G
expect_ctl_fail 'name' vdisk create "$(printf 'n%.0s' $(seq 10240))" 1G
expect_ctl_fail 'name' vdisk create 'snap@shot' 1G
expect_ctl_fail 'size|empty' vdisk create zero-size 0
expect_ctl_fail 'size|512' vdisk create odd-size 1000
expect_ctl_fail 'size|at most' vdisk create huge 16P
expect_ctl_fail 'size|option|invalid' vdisk create neg -1G
expect_ctl_fail 'no vdisk|no such|not found|unknown' vdisk delete no-such-vdisk
expect_ctl_fail 'no vdisk|no such|not found|unknown' vdisk info no-such-vdisk
expect_ctl_fail 'no container|no such|not found|unknown' \
  vdisk create on-nothing 1G --container no-such-container
expect_ctl_fail '/proc/segmap-no-such-dir/c.img' \
  container add nodir /proc/segmap-no-such-dir/c.img 1G
# The vdisks that were refused must not exist.
list=$(segctl "$s" --json vdisk list) || fail "vdisk list failed"
for v in v-32K v-128M v-3M zero-size odd-size huge neg on-nothing; do
  if echo "$list" | grep -q "\"$v\""; then
    fail "refused vdisk $v appears in vdisk list: $list"
  fi
done

# A directory where no file can be created.  As root, permissions do not
# stop us, but the immutable attribute does.
ro_dir=$sm_tmpdir/ro-dir
mkdir "$ro_dir"
if [ "$(id -u)" != 0 ]; then
  chmod 0555 "$ro_dir"
  cleanup_fn chmod 0755 "$ro_dir"
elif chattr +i "$ro_dir" 2>/dev/null; then
  cleanup_fn chattr -i "$ro_dir"
else
  ro_dir=
fi
if [ -n "$ro_dir" ] && ! touch "$ro_dir/probe" 2>/dev/null; then
  expect_ctl_fail "$ro_dir/c.img" container add rodir "$ro_dir/c.img" 1G
else
  echo "(skipped: cannot make an unwritable directory here)"
  rm -f "$ro_dir/probe"
fi

# A read-only container: an immutable file cannot be opened for writing,
# even by root.  segmap must either refuse it with a message, or accept it
# and fail writes to vdisks on it with an error (never pretend success).
ro_img=$sm_tmpdir/ro.img
truncate -s 64M "$ro_img"
if chattr +i "$ro_img" 2>/dev/null && ! (: >>"$ro_img") 2>/dev/null; then
  cleanup_fn chattr -i "$ro_img"
  begin_case "read-only (immutable) container"
  st=0
  out=$(segctl "$s" container add rocont "$ro_img" 64M 2>&1) || st=$?
  alive "container add of an immutable file"
  if [ $st != 0 ]; then
    echo "$out" | grep -Eqi 'read-only|permission|not permitted|ro.img' ||
      fail "container add of an immutable file: unclear message: $out"
    echo "refused as expected: $out"
  else
    segctl "$s" vdisk create onro 16M --container rocont ||
      fail "vdisk create on the read-only container failed after add succeeded"
    nbdsh -u "$(nbd_uri "$s" onro)" -c '
try:
    h.pwrite(b"x" * 4096, 0)
    h.flush()
except nbd.Error as e:
    print("write refused as expected:", e)
else:
    raise SystemExit("a write to a vdisk on a read-only container succeeded")
' || fail "read-only container: a write succeeded"
    alive "write to a read-only container"
  fi
else
  echo "(skipped read-only container: chattr +i does not work here)"
fi

# =====================================================================
# NBD: I/O past the end of a vdisk.
# =====================================================================
begin_case "I/O past the end"
uri=$(nbd_uri "$s" disk0)
nbdsh -u "$uri" -c "
size = h.get_size()
assert size == $GiB, size
h.set_strict_mode(0)         # let the requests reach the server
def refused(what, f):
    try:
        f()
    except nbd.Error as e:
        print('%s: refused: %s' % (what, e))
        return
    raise SystemExit('%s succeeded past the end of the disk' % what)
refused('pread at the end', lambda: h.pread(4096, size))
refused('pread across the end', lambda: h.pread(8192, size - 4096))
refused('pwrite at the end', lambda: h.pwrite(b'x' * 4096, size))
refused('pwrite across the end', lambda: h.pwrite(b'x' * 8192, size - 4096))
refused('trim past the end', lambda: h.trim(4096, size))
refused('zero past the end', lambda: h.zero(4096, size + 4096))
refused('pread at 2^63-512', lambda: h.pread(512, (1 << 63) - 512))
# The connection is still usable and the last block is untouched.
assert h.pread(4096, size - 4096) == bytes(4096), 'last block changed'
" || fail "I/O past the end was not refused cleanly"
alive "I/O past the end"

# =====================================================================
# Control socket: malformed requests.
# =====================================================================
begin_case "control socket: malformed requests"
python3 - "$s/segmap.sock" <<'EOF' || fail "control socket robustness"
import json, socket, sys
path = sys.argv[1]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s, s.makefile("rb")

def ask(s, f, raw, what):
    s.sendall(raw)
    line = f.readline()
    if not line:
        sys.exit("%s: connection closed without a reply" % what)
    try:
        r = json.loads(line)
    except ValueError:
        sys.exit("%s: reply is not JSON: %r" % (what, line[:200]))
    return r

def expect_error(s, f, raw, what):
    r = ask(s, f, raw, what)
    if r.get("ok") is not False or not r.get("error"):
        sys.exit("%s: expected an error reply, got %r" % (what, r))
    print("%s: %s" % (what, r["error"]))

s, f = connect()
expect_error(s, f, b"\xff\xfe\x00\x01garbage\n", "raw bytes with NUL")
expect_error(s, f, b"hello world\n", "not JSON")
expect_error(s, f, b'{"v":1,"cmd":\n', "truncated JSON")
expect_error(s, f, b'[1,2,3]\n', "not an object")
expect_error(s, f, b'{"v":1}\n', "no cmd")
expect_error(s, f, b'{"v":1,"cmd":42}\n', "cmd not a string")
expect_error(s, f, b'{"v":99,"cmd":"status"}\n', "wrong version")
expect_error(s, f, b'{"v":1,"cmd":"frobnicate"}\n', "unknown command")
expect_error(s, f, b'{"v":1,"cmd":"status","args":[1]}\n', "args not an object")
expect_error(s, f, b'{"v":1,"cmd":"\xc3\x28"}\n', "invalid UTF-8")
expect_error(s, f, b"[" * 100000 + b"\n", "deep nesting")
expect_error(s, f, b'{"v":1,"cmd":"vdisk.create","args":{"name":"x","size":"big"}}\n',
             "size of the wrong type")
expect_error(s, f, b'{"v":1,"cmd":"vdisk.create","args":{"name":"../x","size":1048576}}\n',
             "name with ..")
expect_error(s, f, b'{"v":1,"cmd":"vdisk.create","args":{"name":"x","size":-1}}\n',
             "negative size")
r = ask(s, f, b'{"v":1,"cmd":"status"}\n', "status after errors")
if r.get("ok") is not True:
    sys.exit("the connection is not usable after malformed requests: %r" % r)
s.close()

# A line over the limit (1 MiB): an error reply, then the server closes.
s, f = connect()
try:
    s.sendall(b"x" * (3 << 20))
except (BrokenPipeError, ConnectionResetError):
    pass
line = f.readline()
try:
    r = json.loads(line)
except ValueError:
    sys.exit("huge line: expected an error reply, got %r" % line[:200])
if r.get("ok") is not False:
    sys.exit("huge line: expected an error reply, got %r" % r)
print("huge line: %s" % r.get("error"))
s.close()

# A client that vanishes in the middle of a request.
s, f = connect()
s.sendall(b'{"v":1,"cmd":"vdisk.cre')
s.close()

s, f = connect()
r = ask(s, f, b'{"v":1,"cmd":"status"}\n', "status on a new connection")
if r.get("ok") is not True:
    sys.exit("status fails after the malformed requests: %r" % r)
EOF
alive "malformed control requests"

# =====================================================================
# ENOSPC, injected: the client sees ENOSPC; writes work again afterwards.
# =====================================================================
begin_case "injected ENOSPC (SEGMAP_INJECT=pwrite:ENOSPC:after=4:count=3)"
e=$sm_tmpdir/enospc
SEGMAP_INJECT=pwrite:ENOSPC:after=4:count=3 start_segmap "$e"
nbdsh -u "$(nbd_uri "$e" disk0)" -c "
import errno
MiB = 1 << 20
ok, failed = {}, []
# Each write goes to a new segment.  The 5th to 7th container pwrites fail.
for i in range(40):
    data = bytes([i + 1]) * 4096
    try:
        h.pwrite(data, i * MiB)
        ok[i] = data
    except nbd.Error as ex:
        if ex.errnum != errno.ENOSPC:
            raise SystemExit('write %d failed with %s, expected ENOSPC' % (i, ex))
        failed.append(i)
print('writes refused with ENOSPC:', failed)
if not failed:
    raise SystemExit('no write failed with ENOSPC: injection did not work')
if max(failed) >= 39 or len(ok) < 30:
    raise SystemExit('writes did not resume after the ENOSPC (ok: %d)' % len(ok))
# Retry the refused writes now that space is back.
for i in failed:
    ok[i] = bytes([i + 1]) * 4096
    h.pwrite(ok[i], i * MiB)
h.flush()
for i, data in ok.items():
    assert h.pread(4096, i * MiB) == data, 'segment %d reads wrong data' % i
" || fail "injected ENOSPC"
stop_segmap "$e"

# =====================================================================
# ENOSPC for real: a container on a small tmpfs (root only).
# =====================================================================
mnt=$sm_tmpdir/mnt
mkdir "$mnt"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=16M tmpfs "$mnt" 2>/dev/null; then
  cleanup_fn umount -l "$mnt"
  begin_case "real ENOSPC on a 16 MiB tmpfs"
  head -c $((6 * MiB)) /dev/zero >"$mnt/filler"
  t=$sm_tmpdir/tmpfs
  start_segmap "$t"
  segctl "$t" container add small "$mnt/c.img" 64M ||
    fail "container add on the tmpfs failed"
  segctl "$t" vdisk create tv 48M --container small ||
    fail "vdisk create on the small container failed"
  nbdsh -u "$(nbd_uri "$t" tv)" -c "
import errno, os
MiB = 1 << 20
written = {}
for i in range(48):
    data = os.urandom(MiB)
    try:
        h.pwrite(data, i * MiB)
        h.flush()
        written[i] = data
    except nbd.Error as ex:
        if ex.errnum != errno.ENOSPC:
            raise SystemExit('write of segment %d failed with %s, expected ENOSPC' % (i, ex))
        print('segment %d: ENOSPC after %d segments' % (i, len(written)))
        break
else:
    raise SystemExit('48 MiB fit on a 16 MiB tmpfs: no ENOSPC')
open('$sm_tmpdir/written', 'w').write(repr(sorted(written)))
for i, data in written.items():
    assert h.pread(MiB, i * MiB) == data, 'segment %d changed' % i
" || fail "real ENOSPC"
  alive "ENOSPC"
  kill -0 "$(server_pid "$t")" || fail "server on the full tmpfs died"
  # Give the space back and write again, without a restart.
  rm -f "$mnt/filler"
  nbdsh -u "$(nbd_uri "$t" tv)" -c "
import os
MiB = 1 << 20
written = eval(open('$sm_tmpdir/written').read())
n = len(written)
for i in range(n, n + 4):
    data = os.urandom(MiB)
    h.pwrite(data, i * MiB)
    h.flush()
    assert h.pread(MiB, i * MiB) == data, 'segment %d reads wrong data' % i
print('after freeing space: wrote segments %d..%d' % (n, n + 3))
" || fail "writes do not work again after space was freed"
  stop_segmap "$t"
else
  echo "(skipped real ENOSPC: needs root and a tmpfs mount)"
fi

alive "all cases"
