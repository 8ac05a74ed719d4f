#!/usr/bin/env bash
# SCSI and iSCSI compliance: libiscsi's iscsi-test-cu, as Debian ships it
# (libiscsi-bin), against a thin vdisk served by segmap's iSCSI target.
#
# 1. `iscsi-test-cu --dataloss --allow-sanitize -t ALL' on one portal,
#    with two initiator names (-i / -I: the reservation and 2-initiator
#    tests log in as both), both listed in [host] sections.
# 2. The multipath family (ALL.MultipathIO) with two URLs, one per
#    portal (iscsi=PORTAL1,PORTAL2), to the same LUN.
# For each run the CUnit output is parsed into suites and tests run,
# passed, failed and skipped (a test that passes with a "[SKIPPED]"
# message), the skip reasons are listed, and any failed test fails this
# test.  Full logs: $sm_tmpdir/cu-*.log (SEGMAP_KEEP_TMP=1 keeps them);
# their tails are printed on failure.
#
# SEGMAP_CU_TESTS="REGEXP" runs that family/suite instead of ALL in
# step 1 (e.g. "SCSI.Read10").

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires iscsi-test-cu iscsi-ls python3

s=$sm_tmpdir/s
mkdir -p "$s"
cat >"$s/segmap.conf" <<EOF
[container c]
path = c.img
size = 8G

[vdisk cu]
size = 1G

[host first]
initiator = $SM_ISCSI_INITIATOR
vdisk = cu

[host second]
initiator = $SM_ISCSI_INITIATOR2
vdisk = cu
EOF
start_segmap_iscsi "$s" 2 "config=$s/segmap.conf"
url1=$(iscsi_url "${SM_ISCSI_PORTALS[0]}" cu)
url2=$(iscsi_url "${SM_ISCSI_PORTALS[1]}" cu)

# Both portals list the target (a failure here is reported at the end,
# after iscsi-test-cu has run).
ok=1
for p in "${SM_ISCSI_PORTALS[@]}"; do
  if ! out=$(iscsi-ls -i "$SM_ISCSI_INITIATOR" "iscsi://$p" 2>&1); then
    echo "iscsi-ls on $p failed: $out" >&2
    ok=0
  elif ! grep -q "Target:$(iscsi_iqn cu) " <<<"$out"; then
    echo "iscsi-ls on $p does not list $(iscsi_iqn cu): $out" >&2
    ok=0
  fi
done

# cu_report LOG TITLE: summarise a CUnit log; exit status 1 if a test
# failed or the log has no run summary (iscsi-test-cu crashed).
cu_report ()
{
  python3 - "$1" "$2" <<'EOF'
import re, sys
log, title = sys.argv[1], sys.argv[2]
tests, suite, cur, summary = [], None, None, {}
for line in open(log, errors="replace"):
    line = line.rstrip("\n")
    m = re.match(r"^Suite: (\S+)", line)
    if m:
        suite, cur = m.group(1), None
        continue
    m = re.match(r"^  Test: (\S+) \.\.\.(.*)$", line)
    if m:
        cur = {"name": "%s.%s" % (suite, m.group(1)), "lines": [m.group(2)]}
        tests.append(cur)
        continue
    m = re.match(r"^\s*(?:Run Summary:.*)?\b(suites|tests|asserts)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\d+)", line)
    if m:
        summary[m.group(1)] = m.group(2, 3, 4, 5)
        cur = None
        continue
    if cur is not None:
        cur["lines"].append(line)
failed, skipped, passed = [], [], []
for t in tests:
    # CUnit's verdict starts a line (or follows "..."); the test's own
    # messages are indented.  Anything after the verdict comes from the
    # suite's teardown.
    verdict = next((l.split()[0] for l in t["lines"]
                    if re.match(r"(passed|FAILED)\b", l)), None)
    text = "\n".join(t["lines"])
    t["why"] = [l.strip() for l in t["lines"] if "[FAILED]" in l
                or "[SKIPPED]" in l or re.match(r"\s+\d+\. ", l)]
    if verdict != "passed":
        failed.append(t)
    elif "[SKIPPED]" in text:
        skipped.append(t)
    else:
        passed.append(t)
print("== %s" % title)
if "tests" not in summary:
    print("no CUnit run summary in %s: iscsi-test-cu did not finish" % log)
    sys.exit(1)
print("suites run: %s (of %s), failed %s" % (
    summary["suites"][1], summary["suites"][0], summary["suites"][3]))
total, ran, npass, nfail = summary["tests"]
print("tests run: %s (of %s), passed %s (%d of them skipped), failed %s"
      % (ran, total, npass, len(skipped), nfail))
if int(nfail) != len(failed):
    print("(the log shows %d failed tests, the summary %s)"
          % (len(failed), nfail))
reasons = {}
for t in skipped:
    why = next((w for w in t["why"] if "[SKIPPED]" in w), "")
    why = re.sub(r"^.*?\[SKIPPED\]\s*", "", why)
    reasons.setdefault(why, []).append(t["name"])
if reasons:
    print("skipped:")
    for why, names in sorted(reasons.items()):
        print("  %s: %s" % (why or "(no reason given)", " ".join(names)))
if failed:
    print("FAILED tests:")
    for t in failed:
        print("  %s" % t["name"])
        msgs = [l.strip() for l in t["lines"]
                if l.strip() and l.strip() not in ("passed", "FAILED")]
        for w in msgs[:8]:
            print("      %s" % w)
        if len(msgs) > 8:
            print("      ... (%d more lines in the log)" % (len(msgs) - 8))
sys.exit(1 if failed or int(nfail) else 0)
EOF
}

# run_cu NAME TITLE ARGS...: iscsi-test-cu ARGS into $sm_tmpdir/cu-NAME.log,
# reported by cu_report; on failure the log's tail is printed.
run_cu ()
{
  local title=$2 log=$sm_tmpdir/cu-$1.log st=0; shift 2
  echo "iscsi-test-cu $*" >"$log"
  iscsi-test-cu "$@" >>"$log" 2>&1 || st=$?
  echo "(iscsi-test-cu exited with status $st)" >>"$log"
  if ! cu_report "$log" "$title"; then
    echo "----- last lines of $log -----" >&2
    tail -n 60 "$log" >&2
    return 1
  fi
  [ $st = 0 ] || { echo "iscsi-test-cu exited with status $st" >&2; return 1; }
}

cu_args=(--dataloss --allow-sanitize
         -i "$SM_ISCSI_INITIATOR" -I "$SM_ISCSI_INITIATOR2")
run_cu all "iscsi-test-cu -t ${SEGMAP_CU_TESTS:-ALL} on ${SM_ISCSI_PORTALS[0]}" \
  "${cu_args[@]}" -t "${SEGMAP_CU_TESTS:-ALL}" "$url1" || ok=0
run_cu multipath "iscsi-test-cu -t ALL.MultipathIO on ${SM_ISCSI_PORTALS[*]}" \
  "${cu_args[@]}" -t ALL.MultipathIO "$url1" "$url2" || ok=0
if ! grep -q 'for all (2) paths' "$sm_tmpdir/cu-multipath.log" ||
   grep -q 'Multipath unavailable' "$sm_tmpdir/cu-multipath.log"; then
  echo "iscsi-test-cu did not see one LU through both portals" >&2
  ok=0
fi
[ $ok = 1 ] || fail "iscsi-test-cu found failures (logs in $sm_tmpdir)"
