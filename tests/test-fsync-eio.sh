#!/usr/bin/env bash
# fsyncgate: one failed sync must never turn into a false success.
#
# With SEGMAP_INJECT=sync:EIO:after=N:count=1 exactly one container sync
# fails (later ones would succeed at the OS level).  A sequence of
# "write a new segment, flush" must see:
#   - the operation that hit the failed sync fail (a flush, or a write
#     that needed a sync to allocate);
#   - every later write fail (the vdisk is read-only: segmapctl shows
#     read_only) and every later flush fail -- no false success;
#   - the segments flushed before the failure still read back.
# segmapctl check on that instance fails, naming the failed sync (it needs
# a restart: no false all-clear).  After a restart without injection,
# everything flushed before the failure is intact, and segmapctl check
# passes.

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
import json, sys, nbd
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
        failed_at = "write %d" % i
        break
    pending.append(i)
    if not attempt("flush %d" % i, h.flush):
        failed_at = "flush %d" % i
        break
    flushed += pending
    pending = []
if failed_at is None:
    sys.exit("no operation failed: the injected sync EIO was never seen")
print("first failure: %s; flushed before it: %s" % (failed_at, flushed))
if not flushed:
    sys.exit("the failure came before any flush succeeded (raise after=)")

# No false success afterwards: writes (new and already-mapped segments)
# and flushes keep failing.
for j, off in enumerate([20 * MiB, 0, 21 * MiB, flushed[-1] * MiB]):
    if attempt("later write at %d" % off, lambda: h.pwrite(b"\x01" * 4096, off)):
        sys.exit("a write after the sync failure succeeded (offset %d)" % off)
    if attempt("later flush %d" % j, h.flush):
        sys.exit("a flush after the sync failure succeeded")

# What was flushed is still readable and intact.
for i in flushed:
    if h.pread(MiB, i * MiB) != pattern(i):
        sys.exit("segment %d, flushed before the failure, reads wrong data" % i)
json.dump(flushed, open(out, "w"))
EOF
    fail "after=$n: wrong behaviour around the failed sync"

  # Degraded means no more commit attempts: an idle server logs nothing
  # more (it used to retry a commit every 100 ms, each failing with
  # "commit without a transaction").
  before=$(wc -l <"$s/server.log")
  sleep 2
  after=$(wc -l <"$s/server.log")
  if [ "$after" -gt "$before" ]; then
    tail -n +"$((before + 1))" "$s/server.log" | head -n 5 >&2
    fail "after=$n: the degraded server keeps logging while idle" \
         "($((after - before)) lines in 2 s)"
  fi

  # status: the stored needs_check, and read-only.
  st_json=$(segctl "$s" --json status) || fail "after=$n: status failed"
  for f in read_only needs_check; do
    [ "$(jq -r ".$f" <<<"$st_json")" = true ] ||
      fail "after=$n: status does not show $f after the sync failure"
  done

  ro=$(json_field "$(segctl "$s" --json vdisk list)" name disk0 read_only) ||
    fail "after=$n: no read_only field for disk0 in vdisk list"
  [ "$ro" = true ] ||
    fail "after=$n: disk0 is not shown read-only after the sync failure ($ro)"

  # The instance has lost its durability promise: segmapctl check must say
  # so (a restart is needed) rather than give a false all-clear.
  st=0
  out=$(segctl "$s" check 2>&1) || st=$?
  echo "$out"
  [ $st != 0 ] ||
    fail "after=$n: segmapctl check passes on an instance whose sync failed"
  echo "$out" | grep -qi 'sync' ||
    fail "after=$n: segmapctl check does not mention the failed sync: $out"
  stop_segmap --no-check "$s"

  start_segmap "$s"
  "$PYTHON" - "$uri" "$sm_tmpdir/flushed-$n" <<'EOF' ||
import json, sys, nbd
uri, flushed = sys.argv[1], json.load(open(sys.argv[2]))
MiB = 1 << 20
h = nbd.NBD()
h.connect_uri(uri)
for i in flushed:
    if h.pread(MiB, i * MiB) != bytes([(i * 37 + 11) & 0xff]) * MiB:
        sys.exit("segment %d, flushed before the sync failure, is not "
                 "intact after the restart" % i)
print("after restart: segments %s intact" % flushed)
EOF
    fail "after=$n: flushed data lost across the restart"
  # Restarted with needs_check stored: read-only until check passes.
  st_json=$(segctl "$s" --json status) || fail "after=$n: status failed"
  [ "$(jq -r '.needs_check, .read_only' <<<"$st_json" | tr '\n' ' ')" = \
    "true true " ] || fail "after=$n: status after the restart: $st_json"
  segctl "$s" check >/dev/null || fail "after=$n: check after the restart"
  st_json=$(segctl "$s" --json status) || fail "after=$n: status failed"
  [ "$(jq -r '.needs_check, .read_only' <<<"$st_json" | tr '\n' ' ')" = \
    "false false " ] || fail "after=$n: status after check: $st_json"
  stop_segmap "$s"
done
