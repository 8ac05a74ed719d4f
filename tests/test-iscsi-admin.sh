#!/usr/bin/env bash
# iSCSI administration at run time: access lists, CHAP, sessions, and
# what survives a restart.
#
# 1. No host: every initiator discovers every vdisk.
# 2. `segmapctl iscsi host-add`: the host's initiator sees only its vdisk,
#    any other initiator sees nothing and cannot log in.
# 3. A session shows in `segmapctl iscsi sessions`; `segmapctl iscsi deny`
#    closes it at once, and the initiator cannot log in again.
# 4. Target-wide CHAP set at run time: logins without the secret fail,
#    with it they work; `chap off` turns it off again.  A secret file
#    readable by others is refused.
# 5. A host's own CHAP secret replaces the target-wide one for it.
# 6. Restart: hosts and CHAP settings persist; `segmapctl check` at the
#    teardown.

# shellcheck source-path=SCRIPTDIR source=functions.sh
source "$(dirname "$0")/functions.sh"
requires_qemu_iscsi
requires iscsi-ls iscsi-inq

s=$sm_tmpdir/s
mkdir -p "$s"
start_segmap_iscsi "$s" 1
portal=${SM_ISCSI_PORTALS[0]}
I1=$SM_ISCSI_INITIATOR
I2=$SM_ISCSI_INITIATOR2

segctl "$s" vdisk create alpha 64M >/dev/null
segctl "$s" vdisk create beta 64M >/dev/null

# targets INITIATOR: the target names INITIATOR discovers, one per line.
targets ()
{
  iscsi-ls -i "$1" "iscsi://$portal" 2>/dev/null |
    sed -n 's/^Target:\([^ ]*\) .*/\1/p' | sort
}

# inq INITIATOR VDISK [USER%SECRET]: does INITIATOR log in to VDISK?
inq ()
{
  local cred=${3:+$3@}
  iscsi-inq -i "$1" "iscsi://$cred$portal/$(iscsi_iqn "$2")/0" >/dev/null 2>&1
}

# 1. Open to everyone.
[ "$(targets "$I1")" = "$(printf '%s\n' "$(iscsi_iqn alpha)" \
    "$(iscsi_iqn beta)" "$(iscsi_iqn disk0)" | sort)" ] ||
  [ "$(targets "$I1")" = "$(printf '%s\n' "$(iscsi_iqn alpha)" \
    "$(iscsi_iqn beta)" | sort)" ] ||
  fail "without hosts, $I1 should see every vdisk: $(targets "$I1")"
inq "$I2" beta || fail "without hosts, $I2 should log in to beta"

# 2. Access lists.
segctl "$s" iscsi host-add web "$I1" alpha >/dev/null
[ "$(targets "$I1")" = "$(iscsi_iqn alpha)" ] ||
  fail "host web should see only alpha: $(targets "$I1")"
[ -z "$(targets "$I2")" ] || fail "$I2 is no host's and saw: $(targets "$I2")"
inq "$I1" alpha || fail "$I1 cannot log in to alpha"
! inq "$I1" beta || fail "$I1 logged in to beta, which it may not see"
! inq "$I2" alpha || fail "$I2 logged in to alpha without being a host"
segctl "$s" --json iscsi hosts | tr -d ' \n' | grep -q '"vdisks":\["alpha"\]' ||
  fail "iscsi hosts does not show alpha for web"
segctl "$s" iscsi allow web beta >/dev/null
inq "$I1" beta || fail "allow did not let $I1 log in to beta"

# 3. A live session, listed, then cut off by deny.
qemu-io --image-opts \
  "driver=iscsi,transport=tcp,portal=$portal,target=$(iscsi_iqn beta),lun=0,initiator-name=$I1" \
  -c 'read 0 4k' -c 'sleep 4000' -c 'read 0 4k' >/dev/null 2>&1 &
qpid=$!
for (( i = 0; i < 50; i++ )); do
  segctl "$s" iscsi sessions | grep -q "$(iscsi_iqn beta)" && break
  sleep 0.1
done
segctl "$s" iscsi sessions | grep -q "^$I1 *$(iscsi_iqn beta) *$portal" ||
  fail "iscsi sessions does not list $I1's session to beta:
$(segctl "$s" iscsi sessions)"
segctl "$s" --json iscsi sessions | grep -q '"type": "normal"' ||
  fail "iscsi sessions --json lacks the session type"
segctl "$s" iscsi deny web beta >/dev/null
sleep 0.5
segctl "$s" iscsi sessions | grep -q "$(iscsi_iqn beta)" &&
  fail "the session to beta survived deny"
# libiscsi reconnects at once; every login is refused, so the session
# stays gone.
sleep 2
segctl "$s" iscsi sessions | grep -q "$(iscsi_iqn beta)" &&
  fail "the initiator logged in to beta again after deny"
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
! inq "$I1" beta || fail "$I1 logged in to beta after deny"

# 4. Target-wide CHAP at run time.
secret=$sm_tmpdir/chap.secret
make_chap_secret "$secret"
pw=$(head -n1 "$secret")
segctl "$s" iscsi chap admin "$secret" >/dev/null
! inq "$I1" alpha || fail "logged in without CHAP while CHAP is required"
! inq "$I1" alpha "admin%wrong-secret-xyz" || fail "a wrong secret logged in"
inq "$I1" alpha "admin%$pw" || fail "the right CHAP secret was refused"
segctl "$s" iscsi chap | grep -q '^user: *admin' ||
  fail "iscsi chap does not show the user"
chmod 0644 "$secret"
segctl "$s" iscsi chap admin "$secret" >/dev/null 2>"$sm_tmpdir/err" &&
  fail "a world-readable secret file was accepted"
grep -q 'chap.secret' "$sm_tmpdir/err" ||
  fail "the refusal does not name the file: $(cat "$sm_tmpdir/err")"
chmod 0600 "$secret"

# 5. A host's own secret.
hsecret=$sm_tmpdir/web.secret
make_chap_secret "$hsecret"
hpw=$(head -n1 "$hsecret")
segctl "$s" iscsi host-chap web webuser "$hsecret" >/dev/null
inq "$I1" alpha "webuser%$hpw" || fail "the host's own CHAP secret was refused"
! inq "$I1" alpha "admin%$pw" ||
  fail "the target-wide secret still works for a host with its own"

# 6. Restart: everything persists.
stop_segmap "$s"
start_segmap_iscsi "$s" 1
portal=${SM_ISCSI_PORTALS[0]}
segctl "$s" --json iscsi hosts | grep -q '"chap_user": "webuser"' ||
  fail "host web lost its CHAP user across a restart"
segctl "$s" iscsi chap | grep -q '^user: *admin' ||
  fail "target-wide CHAP lost across a restart"
inq "$I1" alpha "webuser%$hpw" || fail "after restart, web cannot log in"
! inq "$I2" alpha || fail "after restart, $I2 logged in"
segctl "$s" iscsi chap off >/dev/null
segctl "$s" iscsi host-chap web off >/dev/null
inq "$I1" alpha || fail "chap off: $I1 still cannot log in"
segctl "$s" iscsi host-remove web >/dev/null
inq "$I2" alpha || fail "with no host left, $I2 should log in again"
echo "iscsi-admin: access lists, sessions, CHAP and persistence OK"
