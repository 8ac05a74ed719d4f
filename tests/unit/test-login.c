/* segmap: unit tests for the iSCSI login state machine (login.c) and
 * SendTargets (discovery.c), fed decoded PDUs without sockets: stages
 * and transitions, T/C rules, ISID/TSIH consistency, missing keys,
 * target lookup and access (0203 both for unknown and forbidden), the
 * 8 KiB text limit, answers in pieces, CHAP one-way and mutual with
 * right and wrong secrets, and discovery filtering.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "iscsi/target-internal.h"
#include "test-util.h"

#define PREFIX "iqn.2024-01.org.example"
#define INITIATOR "iqn.2024-01.org.example:host1"
#define OTHER "iqn.2024-01.org.example:host2"
#define TARGET PREFIX ":disk0"
#define ISID UINT64_C (0x23d000000001)

/*----------------------------------------------------------------------
 * Fake hooks: vdisks disk0 and disk1; OTHER may only see disk1.
 */

static bool chap_on;
static bool mutual_on;
static const char secret[] = "initiator-secret-123";
static const char tsecret[] = "target-secret-45678";

static int
fake_foreach (void *h, int (*fn) (void *, const char *), void *opaque)
{
  if (fn (opaque, "disk0") == -1)
    return -1;
  return fn (opaque, "disk1");
}

static bool
fake_allowed (void *h, const char *initiator, const char *vdisk)
{
  if (strcmp (initiator, OTHER) == 0)
    return strcmp (vdisk, "disk1") == 0;
  return true;
}

static bool
fake_chap_required (void *h, const char *initiator)
{
  return chap_on;
}

static int
fake_lookup (void *h, const char *initiator, const char *user,
             struct chap_credentials *cred)
{
  if (strcmp (user, "alice") != 0)
    return -1;
  memset (cred, 0, sizeof *cred);
  strcpy (cred->user, "alice");
  memcpy (cred->secret, secret, strlen (secret));
  cred->secret_len = strlen (secret);
  return 0;
}

static int
fake_target_cred (void *h, const char *initiator,
                  struct chap_credentials *cred)
{
  if (!mutual_on)
    return -1;
  memset (cred, 0, sizeof *cred);
  strcpy (cred->user, "target");
  memcpy (cred->secret, tsecret, strlen (tsecret));
  cred->secret_len = strlen (tsecret);
  return 0;
}

static const struct iscsi_target_hooks hooks = {
  .foreach_vdisk = fake_foreach,
  .allowed = fake_allowed,
  .chap_required = fake_chap_required,
  .lookup_secret = fake_lookup,
  .target_credentials = fake_target_cred,
};

static struct iscsi_target_config cfg;
static struct login_env env;
static struct login l;
static struct login_reply r;
static struct iscsi_text answer;

static void
setup (void)
{
  chap_on = mutual_on = false;
  iscsi_target_config_defaults (&cfg);
  env.hooks = &hooks;
  env.h = NULL;
  env.prefix = PREFIX;
  env.cfg = &cfg;
  login_init (&l, &env);
  memset (&answer, 0, sizeof answer);
}

static void
teardown (void)
{
  iscsi_text_clear (&answer);
  login_clear (&l);
}

/* Build TEXT ("k=v\n" lines) into the wire form. */
static size_t
wire_text (const char *text, char *out, size_t size)
{
  size_t n = strlen (text), i;

  assert (n < size);
  for (i = 0; i < n; i++)
    out[i] = text[i] == '\n' ? '\0' : text[i];
  return n;
}

/* One Login Request; the answer's text is parsed into ANSWER. */
static void
step (uint8_t csg, bool transit, uint8_t nsg, bool cont, const char *text)
{
  static char buf[16384];
  struct iscsi_pdu p;

  iscsi_pdu_init (&p, ISCSI_OP_LOGIN);
  p.isid = ISID;
  p.itt = 7;
  p.csg = csg;
  p.transit = transit;
  p.nsg = transit ? nsg : 0;
  p.cont = cont;
  p.data_len = wire_text (text, buf, sizeof buf);
  p.data = (const uint8_t *) buf;
  ck_assert_int_eq (login_step (&l, &p, &r), 0);
  iscsi_text_clear (&answer);
  if (r.pdu.data_len > 0 && !r.pdu.cont)   /* pieces are cut anywhere */
    ck_assert_int_eq (iscsi_text_parse (r.pdu.data, r.pdu.data_len,
                                        0, &answer, NULL), ISCSI_TEXT_OK);
}

static uint16_t
status (void)
{
  return r.pdu.status_class << 8 | r.pdu.status_detail;
}

static const char *
key (const char *k)
{
  return iscsi_text_find (&answer, k);
}

static void
login_security_none (const char *initiator, const char *target)
{
  char text[512];

  snprintf (text, sizeof text,
            "InitiatorName=%s\nSessionType=Normal\nTargetName=%s\n"
            "AuthMethod=None\n", initiator, target);
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false, text);
}

/*----------------------------------------------------------------------
 * Stages.
 */

START_TEST (test_normal_login)
{
  login_security_none (INITIATOR, TARGET);
  ck_assert_int_eq (status (), 0);
  ck_assert (r.pdu.transit);
  ck_assert_int_eq (r.pdu.nsg, ISCSI_STAGE_OPERATIONAL);
  ck_assert_str_eq (key ("AuthMethod"), "None");
  ck_assert_str_eq (key ("TargetPortalGroupTag"), "1");
  ck_assert (!r.done);
  ck_assert_int_eq (l.state, LOGIN_OPERATIONAL);
  ck_assert_str_eq (l.vdisk, "disk0");

  step (ISCSI_STAGE_OPERATIONAL, true, ISCSI_STAGE_FULL_FEATURE, false,
        "HeaderDigest=CRC32C,None\nDataDigest=None\n"
        "MaxRecvDataSegmentLength=65536\nImmediateData=Yes\n");
  ck_assert_int_eq (status (), 0);
  ck_assert (r.done);
  ck_assert (r.pdu.transit);
  ck_assert_int_eq (r.pdu.nsg, ISCSI_STAGE_FULL_FEATURE);
  ck_assert_str_eq (key ("HeaderDigest"), "CRC32C");
  ck_assert_str_eq (key ("MaxRecvDataSegmentLength"), "262144");
  ck_assert_int_eq (l.params.max_recv_dsl, 65536);
  ck_assert (l.neg.declared_mrdsl);
  ck_assert_int_eq (l.state, LOGIN_DONE);
  ck_assert_int_eq (r.pdu.isid, ISID);
  ck_assert_int_eq (r.pdu.itt, 7);

  /* Nothing more after the login is done. */
  step (ISCSI_STAGE_OPERATIONAL, false, 0, false, "");
  ck_assert_int_eq (status (), ISCSI_LOGIN_INITIATOR_ERROR);
  ck_assert (r.close);
}
END_TEST

START_TEST (test_skip_security)
{
  step (ISCSI_STAGE_OPERATIONAL, true, ISCSI_STAGE_FULL_FEATURE, false,
        "InitiatorName=" INITIATOR "\nTargetName=" TARGET "\n");
  ck_assert_int_eq (status (), 0);
  ck_assert (r.done);
}
END_TEST

START_TEST (test_security_to_full_feature)
{
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_FULL_FEATURE, false,
        "InitiatorName=" INITIATOR "\nTargetName=" TARGET
        "\nAuthMethod=None\n");
  ck_assert_int_eq (status (), 0);
  ck_assert (r.done);
  /* MaxRecvDataSegmentLength was never declared: 8192 stays. */
  ck_assert (!l.neg.declared_mrdsl);
}
END_TEST

START_TEST (test_no_transit_stays)
{
  login_security_none (INITIATOR, TARGET);
  step (ISCSI_STAGE_OPERATIONAL, false, 0, false, "MaxBurstLength=65536\n");
  ck_assert_int_eq (status (), 0);
  ck_assert (!r.pdu.transit);
  ck_assert (!r.done);
  ck_assert_str_eq (key ("MaxBurstLength"), "65536");
  step (ISCSI_STAGE_OPERATIONAL, true, ISCSI_STAGE_FULL_FEATURE, false, "");
  ck_assert_int_eq (status (), 0);
  ck_assert (r.done);
}
END_TEST

START_TEST (test_wrong_stage)
{
  login_security_none (INITIATOR, TARGET);
  /* Back in the security stage after moving on. */
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false, "");
  ck_assert_int_eq (status (), ISCSI_LOGIN_INITIATOR_ERROR);
  ck_assert (r.close);
  ck_assert_int_eq (l.state, LOGIN_FAILED);
}
END_TEST

START_TEST (test_isid_changes)
{
  struct iscsi_pdu p;

  login_security_none (INITIATOR, TARGET);
  iscsi_pdu_init (&p, ISCSI_OP_LOGIN);
  p.isid = ISID + 1;
  p.csg = ISCSI_STAGE_OPERATIONAL;
  ck_assert_int_eq (login_step (&l, &p, &r), 0);
  ck_assert_int_eq (status (), ISCSI_LOGIN_INITIATOR_ERROR);
}
END_TEST

START_TEST (test_renegotiation_fails)
{
  login_security_none (INITIATOR, TARGET);
  step (ISCSI_STAGE_OPERATIONAL, false, 0, false, "MaxBurstLength=65536\n");
  step (ISCSI_STAGE_OPERATIONAL, false, 0, false, "MaxBurstLength=4096\n");
  ck_assert_int_eq (status (), ISCSI_LOGIN_INITIATOR_ERROR);
}
END_TEST

/*----------------------------------------------------------------------
 * Names and access.
 */

START_TEST (test_missing_initiator)
{
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false,
        "TargetName=" TARGET "\nAuthMethod=None\n");
  ck_assert_int_eq (status (), ISCSI_LOGIN_MISSING_PARAMETER);
  ck_assert (r.close);
}
END_TEST

START_TEST (test_missing_target)
{
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false,
        "InitiatorName=" INITIATOR "\nAuthMethod=None\n");
  ck_assert_int_eq (status (), ISCSI_LOGIN_MISSING_PARAMETER);
}
END_TEST

START_TEST (test_unknown_target)
{
  login_security_none (INITIATOR, PREFIX ":nosuch");
  ck_assert_int_eq (status (), ISCSI_LOGIN_NOT_FOUND);
  teardown ();
  setup ();
  login_security_none (INITIATOR, "iqn.2024-01.org.other:disk0");
  ck_assert_int_eq (status (), ISCSI_LOGIN_NOT_FOUND);
}
END_TEST

START_TEST (test_forbidden_target_looks_absent)
{
  login_security_none (OTHER, TARGET);
  ck_assert_int_eq (status (), ISCSI_LOGIN_NOT_FOUND);
  teardown ();
  setup ();
  login_security_none (OTHER, PREFIX ":disk1");
  ck_assert_int_eq (status (), 0);
}
END_TEST

START_TEST (test_discovery_session)
{
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false,
        "InitiatorName=" INITIATOR "\nSessionType=Discovery\n"
        "AuthMethod=None\n");
  ck_assert_int_eq (status (), 0);
  ck_assert (key ("TargetPortalGroupTag") == NULL);
  step (ISCSI_STAGE_OPERATIONAL, true, ISCSI_STAGE_FULL_FEATURE, false,
        "MaxBurstLength=65536\n");
  ck_assert_int_eq (status (), 0);
  ck_assert_str_eq (key ("MaxBurstLength"), "Irrelevant");
  ck_assert (r.done);
  ck_assert_int_eq (l.params.session_type, ISCSI_SESSION_DISCOVERY);
}
END_TEST

/*----------------------------------------------------------------------
 * Continuation and the 8 KiB limit.
 */

START_TEST (test_continued_request)
{
  step (ISCSI_STAGE_SECURITY, false, 0, true,
        "InitiatorName=" INITIATOR "\n");
  ck_assert_int_eq (status (), 0);
  ck_assert_int_eq (r.pdu.data_len, 0);
  ck_assert (!r.pdu.transit);
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false,
        "TargetName=" TARGET "\nAuthMethod=None\n");
  ck_assert_int_eq (status (), 0);
  ck_assert (r.pdu.transit);
  ck_assert_str_eq (key ("AuthMethod"), "None");
}
END_TEST

START_TEST (test_text_limit)
{
  char big[5000];

  memset (big, 'a', sizeof big - 2);
  memcpy (big, "X-A=", 4);
  big[sizeof big - 2] = '\n';
  big[sizeof big - 1] = '\0';
  step (ISCSI_STAGE_SECURITY, false, 0, true, big);
  ck_assert_int_eq (status (), 0);
  big[2] = 'B';
  step (ISCSI_STAGE_SECURITY, false, 0, true, big);
  ck_assert_int_eq (status (), ISCSI_LOGIN_INITIATOR_ERROR);
  ck_assert (r.close);
}
END_TEST

START_TEST (test_long_answer_in_pieces)
{
  char text[8000];
  size_t off = 0;
  int i;

  /* 150 unknown keys: 150 x "X-key-NNN=NotUnderstood" > 3 KiB, and
   * the answer is limited to 8192 per PDU: make it longer. */
  off += snprintf (text + off, sizeof text - off,
                   "InitiatorName=" INITIATOR "\nTargetName=" TARGET
                   "\nAuthMethod=None\n");
  for (i = 0; i < 400 && off < sizeof text - 32; i++)
    off += snprintf (text + off, sizeof text - off, "X-k%03d=1\n", i);
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false, text);
  ck_assert_int_eq (status (), 0);
  ck_assert (r.pdu.cont);
  ck_assert (!r.pdu.transit);
  ck_assert_int_eq (r.pdu.data_len, ISCSI_LOGIN_DSL);
  /* An empty request asks for the rest. */
  {
    struct iscsi_pdu p;

    iscsi_pdu_init (&p, ISCSI_OP_LOGIN);
    p.isid = ISID;
    p.csg = ISCSI_STAGE_SECURITY;
    p.transit = true;
    p.nsg = ISCSI_STAGE_OPERATIONAL;
    ck_assert_int_eq (login_step (&l, &p, &r), 0);
  }
  ck_assert_int_eq (status (), 0);
  ck_assert (!r.pdu.cont);
  ck_assert (r.pdu.transit);
  ck_assert_int_eq (l.state, LOGIN_OPERATIONAL);
}
END_TEST

/*----------------------------------------------------------------------
 * CHAP.
 */

static void
chap_start (void)
{
  chap_on = true;
  step (ISCSI_STAGE_SECURITY, false, 0, false,
        "InitiatorName=" INITIATOR "\nTargetName=" TARGET
        "\nAuthMethod=CHAP,None\n");
  ck_assert_int_eq (status (), 0);
  ck_assert_str_eq (key ("AuthMethod"), "CHAP");
  step (ISCSI_STAGE_SECURITY, false, 0, false, "CHAP_A=7,5\n");
  ck_assert_int_eq (status (), 0);
  ck_assert_str_eq (key ("CHAP_A"), "5");
  ck_assert_ptr_nonnull (key ("CHAP_I"));
  ck_assert_ptr_nonnull (key ("CHAP_C"));
}

/* The CHAP_R for the challenge in ANSWER with SECRET. */
static void
chap_r (const char *sec, char *out, size_t size)
{
  uint8_t ch[ISCSI_BINARY_MAX], md[CHAP_MD5_LEN];
  size_t chlen;
  unsigned id = atoi (key ("CHAP_I"));

  ck_assert_int_eq (iscsi_binary_decode (key ("CHAP_C"), ch, sizeof ch,
                                         &chlen), ISCSI_TEXT_OK);
  chap_response (id, (const uint8_t *) sec, strlen (sec), ch, chlen, md);
  ck_assert_int_gt (iscsi_binary_encode_hex (md, sizeof md, out, size), 0);
}

START_TEST (test_chap_one_way)
{
  char resp[64], text[256];

  chap_start ();
  chap_r (secret, resp, sizeof resp);
  snprintf (text, sizeof text, "CHAP_N=alice\nCHAP_R=%s\n", resp);
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false, text);
  ck_assert_int_eq (status (), 0);
  ck_assert (r.pdu.transit);
  ck_assert (l.authenticated);
  ck_assert (key ("CHAP_N") == NULL);
}
END_TEST

START_TEST (test_chap_wrong_secret)
{
  char resp[64], text[256];

  chap_start ();
  chap_r ("not-the-secret-at-all", resp, sizeof resp);
  snprintf (text, sizeof text, "CHAP_N=alice\nCHAP_R=%s\n", resp);
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false, text);
  ck_assert_int_eq (status (), ISCSI_LOGIN_AUTH_FAILURE);
  ck_assert (r.close);
}
END_TEST

START_TEST (test_chap_unknown_user)
{
  char resp[64], text[256];

  chap_start ();
  chap_r (secret, resp, sizeof resp);
  snprintf (text, sizeof text, "CHAP_N=mallory\nCHAP_R=%s\n", resp);
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false, text);
  ck_assert_int_eq (status (), ISCSI_LOGIN_AUTH_FAILURE);
}
END_TEST

START_TEST (test_chap_required_none_refused)
{
  chap_on = true;
  login_security_none (INITIATOR, TARGET);
  ck_assert_int_eq (status (), ISCSI_LOGIN_AUTH_FAILURE);
}
END_TEST

START_TEST (test_chap_required_cannot_skip)
{
  chap_on = true;
  step (ISCSI_STAGE_OPERATIONAL, true, ISCSI_STAGE_FULL_FEATURE, false,
        "InitiatorName=" INITIATOR "\nTargetName=" TARGET "\n");
  ck_assert_int_eq (status (), ISCSI_LOGIN_AUTH_FAILURE);
}
END_TEST

START_TEST (test_chap_transit_waits)
{
  chap_on = true;
  /* T=1 with AuthMethod only: we answer T=0 and go on with CHAP. */
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false,
        "InitiatorName=" INITIATOR "\nTargetName=" TARGET
        "\nAuthMethod=CHAP\n");
  ck_assert_int_eq (status (), 0);
  ck_assert (!r.pdu.transit);
  ck_assert_int_eq (l.state, LOGIN_SECURITY);
}
END_TEST

START_TEST (test_chap_mutual)
{
  uint8_t ch[16], md[CHAP_MD5_LEN], got[64];
  char resp[64], chex[64], text[512];
  size_t n;

  mutual_on = true;
  chap_start ();
  chap_r (secret, resp, sizeof resp);
  memset (ch, 0x42, sizeof ch);
  iscsi_binary_encode_hex (ch, sizeof ch, chex, sizeof chex);
  snprintf (text, sizeof text, "CHAP_N=alice\nCHAP_R=%s\nCHAP_I=9\n"
            "CHAP_C=%s\n", resp, chex);
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false, text);
  ck_assert_int_eq (status (), 0);
  ck_assert_str_eq (key ("CHAP_N"), "target");
  chap_response (9, (const uint8_t *) tsecret, strlen (tsecret), ch,
                 sizeof ch, md);
  ck_assert_int_eq (iscsi_binary_decode (key ("CHAP_R"), got, sizeof got,
                                         &n), ISCSI_TEXT_OK);
  ck_assert_uint_eq (n, CHAP_MD5_LEN);
  ck_assert_mem_eq (got, md, CHAP_MD5_LEN);
}
END_TEST

START_TEST (test_chap_mutual_without_target_secret)
{
  uint8_t ch[16];
  char resp[64], chex[64], text[512];

  chap_start ();                /* mutual_on false */
  chap_r (secret, resp, sizeof resp);
  memset (ch, 0x42, sizeof ch);
  iscsi_binary_encode_hex (ch, sizeof ch, chex, sizeof chex);
  snprintf (text, sizeof text, "CHAP_N=alice\nCHAP_R=%s\nCHAP_I=9\n"
            "CHAP_C=%s\n", resp, chex);
  step (ISCSI_STAGE_SECURITY, true, ISCSI_STAGE_OPERATIONAL, false, text);
  ck_assert_int_eq (status (), ISCSI_LOGIN_AUTH_FAILURE);
}
END_TEST

/*----------------------------------------------------------------------
 * SendTargets.
 */

static void
send_targets (const char *initiator, const char *value,
              const char *current, const char *const *portals, size_t n,
              const struct sockaddr_storage *local)
{
  struct iscsi_text_builder b = { 0 };

  ck_assert_int_eq (discovery_send_targets (&env, initiator, value,
                                            current, portals, n, local,
                                            &b), 0);
  iscsi_text_clear (&answer);
  if (b.len > 0)
    ck_assert_int_eq (iscsi_text_parse (b.buf, b.len,
                                        ISCSI_TEXT_ALLOW_DUPLICATES,
                                        &answer, NULL), ISCSI_TEXT_OK);
  iscsi_text_builder_clear (&b);
}

START_TEST (test_send_targets_all)
{
  const char *const portals[] = { "127.0.0.1:3260", "[::1]:3261" };

  send_targets (INITIATOR, "All", NULL, portals, 2, NULL);
  ck_assert_uint_eq (answer.n, 6);
  ck_assert_str_eq (answer.pairs[0].key, "TargetName");
  ck_assert_str_eq (answer.pairs[0].value, TARGET);
  ck_assert_str_eq (answer.pairs[1].value, "127.0.0.1:3260,1");
  ck_assert_str_eq (answer.pairs[2].value, "[::1]:3261,1");
  ck_assert_str_eq (answer.pairs[3].value, PREFIX ":disk1");
}
END_TEST

START_TEST (test_send_targets_filtered)
{
  const char *const portals[] = { "127.0.0.1:3260" };

  send_targets (OTHER, "All", NULL, portals, 1, NULL);
  ck_assert_uint_eq (answer.n, 2);
  ck_assert_str_eq (answer.pairs[0].value, PREFIX ":disk1");
  /* Named: a forbidden one answers nothing, like an unknown one. */
  send_targets (OTHER, TARGET, NULL, portals, 1, NULL);
  ck_assert_uint_eq (answer.n, 0);
  send_targets (OTHER, PREFIX ":nosuch", NULL, portals, 1, NULL);
  ck_assert_uint_eq (answer.n, 0);
  /* Empty: the session's own target. */
  send_targets (INITIATOR, "", TARGET, portals, 1, NULL);
  ck_assert_uint_eq (answer.n, 2);
  ck_assert_str_eq (answer.pairs[0].value, TARGET);
}
END_TEST

START_TEST (test_send_targets_wildcard)
{
  const char *const portals[] = { "0.0.0.0:3260" };
  struct sockaddr_storage ss;
  struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

  memset (&ss, 0, sizeof ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons (40000);
  inet_pton (AF_INET, "192.0.2.7", &sin->sin_addr);
  send_targets (INITIATOR, "All", NULL, portals, 1, &ss);
  ck_assert_str_eq (answer.pairs[1].value, "192.0.2.7:3260,1");
}
END_TEST

START_TEST (test_portal_parse)
{
  struct sockaddr_storage ss;
  socklen_t len;
  char out[80];

  ck_assert_int_eq (portal_parse ("10.1.2.3:3260", &ss, &len), 0);
  sockaddr_format (&ss, out, sizeof out);
  ck_assert_str_eq (out, "10.1.2.3:3260");
  ck_assert_int_eq (portal_parse ("[fe80::1]:860", &ss, &len), 0);
  sockaddr_format (&ss, out, sizeof out);
  ck_assert_str_eq (out, "[fe80::1]:860");
  ck_assert_int_eq (portal_parse ("10.1.2.3", &ss, &len), -1);
  ck_assert_int_eq (portal_parse ("10.1.2.3:0", &ss, &len), -1);
  ck_assert_int_eq (portal_parse ("10.1.2.3:65536", &ss, &len), -1);
  ck_assert_int_eq (portal_parse ("[::1:3260", &ss, &len), -1);
  ck_assert_int_eq (portal_parse ("host:3260", &ss, &len), -1);
}
END_TEST

static Suite *
login_suite (void)
{
  Suite *s = suite_create ("login");
  TCase *tc = tcase_create ("stages");
  TCase *tn = tcase_create ("names");
  TCase *tt = tcase_create ("text");
  TCase *tch = tcase_create ("chap");
  TCase *td = tcase_create ("discovery");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_normal_login);
  tcase_add_test (tc, test_skip_security);
  tcase_add_test (tc, test_security_to_full_feature);
  tcase_add_test (tc, test_no_transit_stays);
  tcase_add_test (tc, test_wrong_stage);
  tcase_add_test (tc, test_isid_changes);
  tcase_add_test (tc, test_renegotiation_fails);
  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tn, setup, teardown);
  tcase_add_test (tn, test_missing_initiator);
  tcase_add_test (tn, test_missing_target);
  tcase_add_test (tn, test_unknown_target);
  tcase_add_test (tn, test_forbidden_target_looks_absent);
  tcase_add_test (tn, test_discovery_session);
  suite_add_tcase (s, tn);
  tcase_add_checked_fixture (tt, setup, teardown);
  tcase_add_test (tt, test_continued_request);
  tcase_add_test (tt, test_text_limit);
  tcase_add_test (tt, test_long_answer_in_pieces);
  suite_add_tcase (s, tt);
  tcase_add_checked_fixture (tch, setup, teardown);
  tcase_add_test (tch, test_chap_one_way);
  tcase_add_test (tch, test_chap_wrong_secret);
  tcase_add_test (tch, test_chap_unknown_user);
  tcase_add_test (tch, test_chap_required_none_refused);
  tcase_add_test (tch, test_chap_required_cannot_skip);
  tcase_add_test (tch, test_chap_transit_waits);
  tcase_add_test (tch, test_chap_mutual);
  tcase_add_test (tch, test_chap_mutual_without_target_secret);
  suite_add_tcase (s, tch);
  tcase_add_checked_fixture (td, setup, teardown);
  tcase_add_test (td, test_send_targets_all);
  tcase_add_test (td, test_send_targets_filtered);
  tcase_add_test (td, test_send_targets_wildcard);
  tcase_add_test (td, test_portal_parse);
  suite_add_tcase (s, td);
  return s;
}

int
main (void)
{
  return sm_test_run (login_suite ());
}
