#!/usr/bin/env bash
# `segmapctl agents` on a real server: the in-process agent registered
# with the controller (protocol version 7, the name from [agent] name),
# holds a table per vdisk (as it reports it by GET_STATS), and has
# grants after a first write; `status` counts one agent.  The refusal
# of an agent of another version is tested in unit/test-controller.c
# and unit/test-agent-link.c.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires python3
requires_nbdsh

s=$sm_tmpdir/s
mkdir -p "$s"
cat >"$s/segmap.conf" <<EOF2
[agent]
name = test-agent-1
EOF2
start_segmap "$s" config="$s/segmap.conf"

json=$(segctl "$s" --json agents) || fail "agents --json failed"
n=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$json")
[ "$n" = 1 ] || fail "expected 1 agent, got $n: $json"
[ "$(json_field "$json" id 1 name)" = test-agent-1 ] ||
  fail "agent 1 is not named test-agent-1: $json"
[ "$(json_field "$json" id 1 version)" = 7 ] || fail "version: $json"
[ "$(json_field "$json" id 1 tables)" = 1 ] || fail "tables: $json"
[ "$(json_field "$json" id 1 degraded)" = false ] || fail "degraded: $json"

segctl "$s" vdisk create second 1G >/dev/null || fail "vdisk create failed"
nbdsh -u "$(nbd_uri "$s" disk0)" -c 'h.pwrite(b"x" * 4096, 0); h.flush()' ||
  fail "write to disk0 failed"
json=$(segctl "$s" --json agents) || fail "agents --json failed"
[ "$(json_field "$json" id 1 tables)" = 2 ] || fail "tables after create: $json"
[ "$(json_field "$json" id 1 grants)" -gt 0 ] ||
  fail "no grants after a first write: $json"
[ "$(json_field "$json" id 1 faults)" -gt 0 ] || fail "faults: $json"

out=$(segctl "$s" agents) || fail "agents failed"
echo "$out"
head -n1 <<<"$out" | grep -q '^ID  *NAME  *VERSION  *TABLES  *GRANTS  *FAULTS  *HEARD$' ||
  fail "unexpected header: $out"
grep -Eq '^ *1  +test-agent-1  +7  +2  +[0-9]+  +[0-9]+  +[0-9]+s ago$' <<<"$out" ||
  fail "unexpected row: $out"

status=$(segctl "$s" --json status) || fail "status failed"
python3 -c 'import json,sys; assert json.loads(sys.argv[1])["agents"] == 1' \
  "$status" || fail "status does not count one agent: $status"
exit 0
