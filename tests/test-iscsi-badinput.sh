#!/usr/bin/env bash
# Bad iSCSI input gets the answer RFC 7143 / SAM asks for and never hurts
# another session or the process.
#
# segmap serves one thin vdisk over iSCSI with CHAP required and an
# access list (one [host] naming the raw client's initiator).
# tests/iscsi-raw.py (a raw initiator, python3 stdlib only) opens a
# well-behaved witness session, then runs every case of its table
# (`iscsi-raw.py --list'): truncated and oversized PDUs, wrong header and
# data digests, CmdSN outside the window, malformed, duplicate, oversized
# and wrong-stage login keys, T+C, bad versions, unknown opcodes, the
# reserved ITT, READ past the end, Data-Out with an unknown TTT, clients
# vanishing mid-command and mid-reply, 1000 simultaneous connections,
# CHAP with a wrong secret / a reflected challenge / oversized values, and
# an initiator not on the access list.  After each case the witness must
# still write and read back, and `segmapctl status' must answer; a
# skipped case is a failure here (--require-all).  The teardown runs
# `segmapctl check'.
#
# SEGMAP_ISCSI_RAW_CASES="NAME ..." runs only those cases.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires python3

s=$sm_tmpdir/s
mkdir -p "$s"
make_chap_secret "$s/chap.secret" >/dev/null
cat >"$s/segmap.conf" <<EOF
[iscsi]
chap-user = rawuser
chap-secret-file = chap.secret

[container c]
path = c.img
size = 4G

[vdisk raw]
size = 256M

[host raw]
initiator = $SM_ISCSI_INITIATOR
vdisk = raw
EOF
start_segmap_iscsi "$s" 1 "config=$s/segmap.conf"
portal=${SM_ISCSI_PORTALS[0]}

timeout=10
[ "$SEGMAP_VALGRIND" != 1 ] || timeout=120
cases=()
for c in $SEGMAP_ISCSI_RAW_CASES; do cases+=(--case "$c"); done

log=$sm_tmpdir/iscsi-raw.log
"$PYTHON" "$abs_top_srcdir/tests/iscsi-raw.py" \
  --portal "$portal" --target "$(iscsi_iqn raw)" \
  --initiator "$SM_ISCSI_INITIATOR" --denied-initiator "$SM_ISCSI_DENIED" \
  --chap "rawuser:$s/chap.secret" --timeout "$timeout" --require-all \
  --alive-cmd "$(printf '%q ' "$SEGMAPCTL" -s "$s/segmap.sock" status) >/dev/null" \
  "${cases[@]}" 2>&1 | tee "$log"
st=${PIPESTATUS[0]}
[ "$st" = 0 ] || fail "iscsi-raw.py exited with status $st (log: $log)"
kill -0 "$(server_pid "$s")" || fail "the server is gone"
segctl "$s" status >/dev/null || fail "segmapctl status failed at the end"
