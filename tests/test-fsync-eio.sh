#!/usr/bin/env bash
# fsyncgate: one failed sync must never turn into a false success.
#
# With SEGMAP_INJECT=sync:EIO:after=N:count=1 exactly one container sync
# fails (later ones would succeed at the OS level).  The sync that fails
# fails the container (src/controller/failure.c).  A sequence of "write a
# new segment, flush" must see:
#   - an operation fail: a flush, if the agent's sync for it failed, or
#     the next write, if a sync of the controller's failed (the container
#     has failed either way);
#   - every later write fail (the container's segments are in the error
#     state);
#   - when a flush failed: every later flush fail too -- the writes it
#     should have made durable may be lost, so no later flush may claim
#     them -- and disk0 fenced read-only;
#   - the segments flushed before the failure read as medium errors while
#     the container is failed; `container list' shows it failed and
#     `segmapctl check' passes (the map is consistent).
# After a restart the container is still failed.  `container online'
# brings it back: the segments flushed before the failure are intact;
# once disk0 is writable again, writes and flushes work.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_python_nbd
requires jq

for n in 2 5; do
  s=$sm_tmpdir/s$n
  echo "--- SEGMAP_INJECT=sync:EIO:after=$n:count=1"
  # Create the state first, so only the I/O below counts syncs.
  start_segmap "$s"
  stop_segmap "$s"

  SEGMAP_INJECT=sync:EIO:after=$n:count=1 start_segmap "$s"
  uri=$(nbd_uri "$s" disk0)
  "$PYTHON" - "$uri" "$sm_tmpdir/flushed-$n" <<'EOF' ||
import errno, json, sys, nbd
uri, out = sys.argv[1], sys.argv[2]
MiB = 1 << 20
h = nbd.NBD()
h.connect_uri(uri)

def pattern(i):
    return bytes([(i * 37 + 11) & 0xff]) * MiB

def attempt(what, f):
    try:
        f()
        return True
    except nbd.Error as e:
        print("%s: failed: %s" % (what, e))
        return False

flushed, pending, failed_at = [], [], None
for i in range(16):
    if not attempt("write %d" % i, lambda: h.pwrite(pattern(i), i * MiB)):
        failed_at = "write"
        break
    pending.append(i)
    if not attempt("flush %d" % i, h.flush):
        failed_at = "flush"
        break
    flushed += pending
    pending = []
if failed_at is None:
    sys.exit("no operation failed: the injected sync EIO was never seen")
print("first failure: a %s; flushed before it: %s" % (failed_at, flushed))
if not flushed:
    sys.exit("the failure came before any flush succeeded (raise after=)")

# No write succeeds afterwards, new segment or mapped; after a failed
# flush, no flush does either.
for j, off in enumerate([20 * MiB, 0, 21 * MiB, flushed[-1] * MiB]):
    if attempt("later write at %d" % off, lambda: h.pwrite(b"\x01" * 4096, off)):
        sys.exit("a write after the failure succeeded (offset %d)" % off)
    if attempt("later flush %d" % j, h.flush) and failed_at == "flush":
        sys.exit("a flush after the failed flush succeeded")

# What was flushed reads as a medium error while the container is failed.
for i in flushed:
    try:
        h.pread(MiB, i * MiB)
        sys.exit("segment %d reads while its container is failed" % i)
    except nbd.Error as e:
        if e.errno != "EIO":
            sys.exit("segment %d: %s, expected EIO" % (i, e))
json.dump({"flushed": flushed, "failed_at": failed_at}, open(out, "w"))
EOF
    fail "after=$n: wrong behaviour around the failed sync"
  failed_at=$(jq -r .failed_at "$sm_tmpdir/flushed-$n")

  # No retry loop: an idle server logs nothing more.
  before=$(wc -l <"$s/server.log")
  sleep 2
  after=$(wc -l <"$s/server.log")
  if [ "$after" -gt "$before" ]; then
    tail -n +"$((before + 1))" "$s/server.log" | head -n 5 >&2
    fail "after=$n: the server keeps logging while idle" \
         "($((after - before)) lines in 2 s)"
  fi

  [ "$(json_field "$(segctl "$s" --json container list)" name default \
       state)" = failed ] || fail "after=$n: the container is not failed"
  ro=$(json_field "$(segctl "$s" --json vdisk list)" name disk0 read_only)
  if [ "$failed_at" = flush ] && [ "$ro" != true ]; then
    fail "after=$n: disk0 is not fenced read-only after its writes were lost"
  fi
  segctl "$s" check >/dev/null || fail "after=$n: check with a failed container"
  stop_segmap "$s"

  start_segmap "$s"
  [ "$(json_field "$(segctl "$s" --json container list)" name default \
       state)" = failed ] ||
    fail "after=$n: the container is not failed after a restart"
  segctl "$s" container online default ||
    fail "after=$n: container online failed"
  "$PYTHON" - "$uri" "$sm_tmpdir/flushed-$n" <<'EOF' ||
import json, sys, nbd
uri, flushed = sys.argv[1], json.load(open(sys.argv[2]))["flushed"]
MiB = 1 << 20
h = nbd.NBD()
h.connect_uri(uri)
for i in flushed:
    if h.pread(MiB, i * MiB) != bytes([(i * 37 + 11) & 0xff]) * MiB:
        sys.exit("segment %d, flushed before the sync failure, is not "
                 "intact" % i)
print("segments %s intact" % flushed)
EOF
    fail "after=$n: flushed data lost"
  segctl "$s" vdisk set disk0 --read-write >/dev/null ||
    fail "after=$n: vdisk set --read-write"
  "$PYTHON" - "$uri" <<'EOF' || fail "after=$n: writes after the recovery"
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(b"\x02" * (1 << 20), 30 << 20)
h.flush()
assert h.pread(1 << 20, 30 << 20) == b"\x02" * (1 << 20)
EOF
  stop_segmap "$s"
done
