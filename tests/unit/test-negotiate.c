/* segmap: unit tests for iSCSI key negotiation, part two of the
 * test-text program (see test-text.c): the key table against RFC 7143
 * defaults, number and name syntax, every key type, the special
 * answers (Reject, Irrelevant, NotUnderstood), the login failures
 * (wrong stage or sender, renegotiation, bad declarations, CHAP
 * misuse), FirstBurstLength <= MaxBurstLength, the declarations, and
 * random requests.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi/params.h"
#include "iscsi/text.h"
#include "test-text.h"

/*----------------------------------------------------------------------
 * The key table and value syntax.
 */

static struct iscsi_target_config cfg;
static struct iscsi_params sess;
static struct iscsi_negotiation neg;

static void
setup (uint8_t stage)
{
  iscsi_target_config_defaults (&cfg);
  iscsi_params_defaults (&sess);
  memset (&neg, 0, sizeof neg);
  neg.cfg = &cfg;
  neg.sess = &sess;
  neg.stage = stage;
  neg.leading = true;
}

static enum iscsi_neg_result
offer (const char *key, const char *value, char *ans, uint16_t *st)
{
  return iscsi_negotiate_key (&neg, key, value, ans, ISCSI_VALUE_MAX + 1, st);
}

/* Offer KEY=VALUE afresh (as the first time in this login). */
#define ANSWERS(key, value, expect) do {                                \
    char a_[ISCSI_VALUE_MAX + 1];                                       \
    uint16_t st_;                                                       \
    sess.seen = 0;                                                      \
    ck_assert_int_eq (offer (key, value, a_, &st_), ISCSI_NEG_ANSWER);  \
    ck_assert_str_eq (a_, expect);                                      \
  } while (0)
#define RESULT(key, value, result) do {                                 \
    char a_[ISCSI_VALUE_MAX + 1];                                       \
    uint16_t st_;                                                       \
    sess.seen = 0;                                                      \
    ck_assert_int_eq (offer (key, value, a_, &st_), result);            \
  } while (0)
#define FAILS(key, value, status) do {                                  \
    char a_[ISCSI_VALUE_MAX + 1];                                       \
    uint16_t st_;                                                       \
    sess.seen = 0;                                                      \
    ck_assert_int_eq (offer (key, value, a_, &st_), ISCSI_NEG_FAIL);    \
    ck_assert_uint_eq (st_, status);                                    \
  } while (0)

/* Offering each key's RFC default to a target that wants the defaults
 * answers the default and leaves the session at iscsi_params_defaults. */
START_TEST (test_key_table)
{
  struct iscsi_params want;
  unsigned k;

  setup (ISCSI_STAGE_OPERATIONAL);
  cfg.want = sess;
  cfg.digests = 1u << ISCSI_DIGEST_NONE;
  iscsi_params_defaults (&want);
  for (k = 0; k < ISCSI_KEY__COUNT; k++) {
    const struct iscsi_key_desc *d = iscsi_key_desc (k);

    ck_assert_uint_eq (d->key, k);
    ck_assert_ptr_eq (iscsi_key_lookup (d->name), d);
    ck_assert (iscsi_key_name_valid (d->name, strlen (d->name)));
    ck_assert (strcmp (iscsi_key_type_to_string (d->type),
                       "unknown key type") != 0);
    if (d->def == NULL || d->type == ISCSI_KT_MARKER
        || !(d->stages & ISCSI_IN_OPERATIONAL)
        || !(d->senders & ISCSI_BY_INITIATOR))
      continue;
    if (d->type == ISCSI_KT_NUM_DECL || d->type == ISCSI_KT_STRING)
      RESULT (d->name, d->def, ISCSI_NEG_SILENT);
    else
      ANSWERS (d->name, d->def, d->def);
  }
  want.seen = sess.seen = 0;
  ck_assert_mem_eq (&want, &sess, sizeof want);
  ck_assert_ptr_null (iscsi_key_lookup ("X-unknown"));
  ck_assert_ptr_null (iscsi_key_desc (ISCSI_KEY__COUNT));
}
END_TEST

START_TEST (test_numbers)
{
  static const struct { const char *s; uint64_t max, v; int r; } cases[] = {
    { "0", 10, 0, 0 }, { "512", 1000, 512, 0 }, { "0x200", 1000, 512, 0 },
    { "0X1f", 100, 31, 0 }, { "4294967295", UINT32_MAX, UINT32_MAX, 0 },
    { "4294967296", UINT32_MAX, 0, -1 }, { "007", 100, 0, -1 },
    { "", 100, 0, -1 }, { "0x", 100, 0, -1 }, { "12a", 100, 0, -1 },
    { "-1", 100, 0, -1 }, { "11", 10, 0, -1 }, { "5", 0, 0, -1 },
    { "18446744073709551615", UINT64_MAX, UINT64_MAX, 0 },
    { "18446744073709551616", UINT64_MAX, 0, -1 },
    { "0xffffffffffffffff", UINT64_MAX, UINT64_MAX, 0 },
    { "0x10000000000000000", UINT64_MAX, 0, -1 },
  };
  uint64_t v;
  size_t i;

  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    v = 12345;
    ck_assert_msg (iscsi_parse_number (cases[i].s, cases[i].max, &v)
                   == cases[i].r, "\"%s\"", cases[i].s);
    if (cases[i].r == 0)
      ck_assert_uint_eq (v, cases[i].v);
  }
  ck_assert_int_eq (iscsi_parse_bool ("Yes"), 1);
  ck_assert_int_eq (iscsi_parse_bool ("No"), 0);
  ck_assert_int_eq (iscsi_parse_bool ("yes"), -1);
}
END_TEST

START_TEST (test_names)
{
  static const char *const good[] = {
    "iqn.2024-01.org.example:disk0", "iqn.1991-05.com.microsoft:host-1",
    "iqn.2001-04.com.example", "eui.02004567A425678D",
    "naa.52004567BA64678D", "naa.62004567BA64678D0123456789ABCDEF",
    "iqn.2024-01.org.example:\xc3\xa9t\xc3\xa9",
  };
  static const char *const bad[] = {
    "", "iqn.", "iqn.2024-13.org.x", "iqn.2024-00.org.x", "iqn.24-01.org.x",
    "iqn.2024-01.", "iqn.2024-01.:x", "iqn.2024-01.org.ex ample",
    "eui.123", "eui.02004567A425678DX", "naa.123", "foo",
    "IQN.2024-01.org.x", "iqn.2024-01.org.x\xff", "iqn.2024-01.org/x",
  };
  char long_name[ISCSI_NAME_MAX + 2];
  size_t i;

  for (i = 0; i < sizeof good / sizeof good[0]; i++)
    ck_assert_msg (iscsi_name_valid (good[i]), "refused %s", good[i]);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg (!iscsi_name_valid (bad[i]), "accepted %s", bad[i]);
  strcpy (long_name, "iqn.2024-01.org.x:");
  memset (long_name + 18, 'a', ISCSI_NAME_MAX - 18);
  long_name[ISCSI_NAME_MAX] = '\0';
  ck_assert (iscsi_name_valid (long_name));
  strcat (long_name, "a");
  ck_assert (!iscsi_name_valid (long_name));
}
END_TEST

/*----------------------------------------------------------------------
 * Negotiation, key by key.
 */

START_TEST (test_negotiate_booleans_numbers)
{
  setup (ISCSI_STAGE_OPERATIONAL);
  ANSWERS ("InitialR2T", "No", "Yes");          /* OR with our Yes */
  ANSWERS ("ImmediateData", "No", "No");        /* AND */
  ck_assert (!sess.immediate_data);
  ANSWERS ("ImmediateData", "Yes", "Yes");
  ANSWERS ("DataPDUInOrder", "No", "Yes");
  ANSWERS ("InitialR2T", "yes", "Reject");
  cfg.want.initial_r2t = false;
  ANSWERS ("InitialR2T", "No", "No");
  ck_assert (!sess.initial_r2t);
  ANSWERS ("MaxBurstLength", "262144", "262144");
  ANSWERS ("MaxBurstLength", "16777215", "1048576");
  ck_assert_uint_eq (sess.max_burst_length, 1048576);
  ANSWERS ("MaxBurstLength", "511", "Reject");
  ANSWERS ("MaxBurstLength", "16777216", "Reject");
  ANSWERS ("MaxBurstLength", "abc", "Reject");
  ANSWERS ("MaxBurstLength", "0x1000", "4096");
  ANSWERS ("DefaultTime2Wait", "0", "2");       /* max */
  ANSWERS ("DefaultTime2Wait", "10", "10");
  ANSWERS ("DefaultTime2Wait", "3601", "Reject");
  ANSWERS ("DefaultTime2Retain", "3600", "20");
  ANSWERS ("ErrorRecoveryLevel", "2", "0");     /* we support 0 */
  ANSWERS ("ErrorRecoveryLevel", "3", "Reject");
  ANSWERS ("MaxConnections", "8", "1");
  ANSWERS ("MaxConnections", "0", "Reject");
  ANSWERS ("MaxOutstandingR2T", "4", "1");
  ANSWERS ("IFMarker", "Yes", "No");
  ANSWERS ("OFMarker", "No", "No");
  ANSWERS ("IFMarker", "Maybe", "Reject");
  ANSWERS ("IFMarkInt", "2048~8192", "Reject");
  ANSWERS ("OFMarkInt", "2048", "Reject");
}
END_TEST

START_TEST (test_negotiate_declarations)
{
  setup (ISCSI_STAGE_OPERATIONAL);
  RESULT ("MaxRecvDataSegmentLength", "262144", ISCSI_NEG_SILENT);
  ck_assert_uint_eq (sess.max_recv_dsl, 262144);
  RESULT ("MaxRecvDataSegmentLength", "512", ISCSI_NEG_SILENT);
  RESULT ("MaxRecvDataSegmentLength", "16777215", ISCSI_NEG_SILENT);
  FAILS ("MaxRecvDataSegmentLength", "0", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("MaxRecvDataSegmentLength", "511", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("MaxRecvDataSegmentLength", "16777216", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("MaxRecvDataSegmentLength", "4294967296",
         ISCSI_LOGIN_INITIATOR_ERROR);
  ck_assert_uint_eq (sess.max_recv_dsl, 16777215);
  setup (ISCSI_STAGE_SECURITY);
  RESULT ("SessionType", "Discovery", ISCSI_NEG_SILENT);
  ck_assert_uint_eq (sess.session_type, ISCSI_SESSION_DISCOVERY);
  FAILS ("SessionType", "Bogus", ISCSI_LOGIN_SESSION_TYPE);
  RESULT ("InitiatorName", "iqn.2024-01.org.example:h1", ISCSI_NEG_SILENT);
  ck_assert_str_eq (sess.initiator_name, "iqn.2024-01.org.example:h1");
  FAILS ("InitiatorName", "not-an-iqn", ISCSI_LOGIN_INITIATOR_ERROR);
  RESULT ("TargetName", "iqn.2024-01.org.example:disk0", ISCSI_NEG_SILENT);
  ck_assert_str_eq (sess.target_name, "iqn.2024-01.org.example:disk0");
  RESULT ("InitiatorAlias", "host one", ISCSI_NEG_SILENT);
  ck_assert_str_eq (sess.initiator_alias, "host one");
  ANSWERS ("X-com.example.feature", "on", "NotUnderstood");
  ANSWERS ("X#org.example", "1", "NotUnderstood");
  ANSWERS ("Unknown", "1", "NotUnderstood");
}
END_TEST

START_TEST (test_negotiate_lists)
{
  setup (ISCSI_STAGE_OPERATIONAL);
  ANSWERS ("HeaderDigest", "CRC32C,None", "CRC32C");
  ck_assert_uint_eq (sess.header_digest, ISCSI_DIGEST_CRC32C);
  ANSWERS ("DataDigest", "None,CRC32C", "None");
  ANSWERS ("DataDigest", ",,CRC32C", "CRC32C");
  ck_assert_uint_eq (sess.data_digest, ISCSI_DIGEST_CRC32C);
  ANSWERS ("HeaderDigest", "MD5", "Reject");
  cfg.digests = 1u << ISCSI_DIGEST_NONE;
  ANSWERS ("HeaderDigest", "CRC32C,None", "None");
  ANSWERS ("HeaderDigest", "CRC32C", "Reject");
  ANSWERS ("TaskReporting", "ResponseFence,RFC3720", "RFC3720");
  ANSWERS ("TaskReporting", "FastAbort", "Reject");
  setup (ISCSI_STAGE_SECURITY);
  ANSWERS ("AuthMethod", "CHAP,None", "None");
  ck_assert_uint_eq (sess.auth_method, ISCSI_AUTH_NONE);
  cfg.auth_methods = 1u << ISCSI_AUTH_CHAP;
  ANSWERS ("AuthMethod", "None", "Reject");
  ck_assert_uint_eq (sess.auth_method, ISCSI_AUTH_REJECTED);
  ANSWERS ("AuthMethod", "KRB5,SRP,CHAP", "CHAP");
  ck_assert_uint_eq (sess.auth_method, ISCSI_AUTH_CHAP);
}
END_TEST

START_TEST (test_negotiate_rules)
{
  char a[ISCSI_VALUE_MAX + 1];
  uint16_t st;

  setup (ISCSI_STAGE_SECURITY);
  FAILS ("MaxBurstLength", "512", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("CHAP_A", "5", ISCSI_LOGIN_AUTH_FAILURE);     /* before CHAP */
  setup (ISCSI_STAGE_OPERATIONAL);
  FAILS ("AuthMethod", "None", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("CHAP_A", "5", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("CHAP_R", "0x00", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("TargetAlias", "x", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("TargetPortalGroupTag", "1", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("TargetAddress", "10.0.0.1", ISCSI_LOGIN_INITIATOR_ERROR);
  FAILS ("SendTargets", "All", ISCSI_LOGIN_INITIATOR_ERROR);
  /* negotiating a key twice in one login fails it */
  sess.seen = 0;
  ck_assert_int_eq (offer ("HeaderDigest", "None", a, &st), ISCSI_NEG_ANSWER);
  ck_assert_int_eq (offer ("HeaderDigest", "None", a, &st), ISCSI_NEG_FAIL);
  ck_assert_uint_eq (st, ISCSI_LOGIN_INITIATOR_ERROR);
  /* leading-only keys on another connection */
  neg.leading = false;
  ANSWERS ("MaxBurstLength", "512", "Reject");
  ANSWERS ("HeaderDigest", "None", "None");
  /* discovery sessions: data-transfer keys are irrelevant */
  setup (ISCSI_STAGE_OPERATIONAL);
  sess.session_type = ISCSI_SESSION_DISCOVERY;
  ANSWERS ("MaxBurstLength", "512", "Irrelevant");
  ANSWERS ("ImmediateData", "Yes", "Irrelevant");
  ANSWERS ("ErrorRecoveryLevel", "0", "0");
  ANSWERS ("HeaderDigest", "None", "None");
  /* full feature phase: only ALL/FFPO keys, renegotiation allowed */
  setup (ISCSI_STAGE_FULL_FEATURE);
  ANSWERS ("MaxBurstLength", "512", "Reject");
  RESULT ("MaxRecvDataSegmentLength", "65536", ISCSI_NEG_SILENT);
  ck_assert_int_eq (offer ("MaxRecvDataSegmentLength", "4096", a, &st),
                    ISCSI_NEG_SILENT);
  ck_assert_uint_eq (sess.max_recv_dsl, 4096);
  ANSWERS ("SendTargets", "All", "Reject");     /* normal session */
  RESULT ("SendTargets", "iqn.2024-01.org.example:disk0",
          ISCSI_NEG_SEND_TARGETS);
  RESULT ("SendTargets", "", ISCSI_NEG_SEND_TARGETS);
  ANSWERS ("SendTargets", "bogus", "Reject");
  sess.session_type = ISCSI_SESSION_DISCOVERY;
  RESULT ("SendTargets", "All", ISCSI_NEG_SEND_TARGETS);
}
END_TEST

START_TEST (test_negotiate_chap)
{
  char big[ISCSI_BINARY_VALUE_MAX + 1];
  uint8_t bytes[ISCSI_BINARY_MAX + 1];

  setup (ISCSI_STAGE_SECURITY);
  cfg.auth_methods = 1u << ISCSI_AUTH_CHAP;
  ANSWERS ("AuthMethod", "CHAP", "CHAP");
  FAILS ("CHAP_N", "user", ISCSI_LOGIN_AUTH_FAILURE);  /* before CHAP_A */
  ANSWERS ("CHAP_A", "7", "Reject");
  ANSWERS ("CHAP_A", "7,5", "5");
  ck_assert_uint_eq (sess.chap_a, ISCSI_CHAP_MD5);
  RESULT ("CHAP_N", "user", ISCSI_NEG_AUTH);
  FAILS ("CHAP_N", "", ISCSI_LOGIN_AUTH_FAILURE);
  RESULT ("CHAP_R", "0x0123456789abcdef0123456789abcdef", ISCSI_NEG_AUTH);
  RESULT ("CHAP_R", "0bASNFZ4mrze8BI0VniavN7w==", ISCSI_NEG_AUTH);
  FAILS ("CHAP_R", "0xabc", ISCSI_LOGIN_AUTH_FAILURE);  /* odd */
  FAILS ("CHAP_R", "0x", ISCSI_LOGIN_AUTH_FAILURE);     /* empty */
  FAILS ("CHAP_R", "0b", ISCSI_LOGIN_AUTH_FAILURE);
  FAILS ("CHAP_R", "abcd", ISCSI_LOGIN_AUTH_FAILURE);
  RESULT ("CHAP_I", "255", ISCSI_NEG_AUTH);
  FAILS ("CHAP_I", "256", ISCSI_LOGIN_AUTH_FAILURE);
  RESULT ("CHAP_C", "0x00", ISCSI_NEG_AUTH);
  /* 1024 bytes in base64 fit the value limit; 1025 bytes are refused */
  memset (bytes, 0x5a, sizeof bytes);
  ck_assert_int_gt (iscsi_binary_encode_base64 (bytes, 1024, big, sizeof big),
                    0);
  RESULT ("CHAP_C", big, ISCSI_NEG_AUTH);
  ck_assert_int_gt (iscsi_binary_encode_base64 (bytes, 1025, big, sizeof big),
                    0);
  FAILS ("CHAP_C", big, ISCSI_LOGIN_AUTH_FAILURE);
}
END_TEST

/*----------------------------------------------------------------------
 * Whole requests.
 */

/* Negotiate the LEN bytes of REQ; the answers parsed into *RESP. */
static int
negotiate (const char *req, size_t len, struct iscsi_text *resp)
{
  struct iscsi_text t;
  struct iscsi_text_builder b = { 0 };
  int r;

  ck_assert_int_eq (iscsi_text_parse (req, len, 0, &t, NULL), ISCSI_TEXT_OK);
  r = iscsi_negotiate_text (&neg, &t, &b);
  ck_assert_int_eq (iscsi_text_parse (b.buf, b.len, 0, resp, NULL),
                    ISCSI_TEXT_OK);
  iscsi_text_builder_clear (&b);
  iscsi_text_clear (&t);
  return r;
}

#define REQ(lit) lit, sizeof (lit) - 1

START_TEST (test_negotiate_text)
{
  struct iscsi_text r;

  setup (ISCSI_STAGE_SECURITY);
  cfg.target_alias = "disk zero";
  ck_assert_int_eq (negotiate (REQ ("InitiatorName=iqn.2024-01.org.ex:h\0"
                                    "SessionType=Normal\0"
                                    "TargetName=iqn.2024-01.org.ex:d\0"
                                    "AuthMethod=None\0"), &r), 0);
  ck_assert_uint_eq (r.n, 3);
  ck_assert_str_eq (iscsi_text_find (&r, "AuthMethod"), "None");
  ck_assert_str_eq (iscsi_text_find (&r, "TargetPortalGroupTag"), "1");
  ck_assert_str_eq (iscsi_text_find (&r, "TargetAlias"), "disk zero");
  iscsi_text_clear (&r);

  /* operational: FirstBurstLength lowered to MaxBurstLength, our
   * MaxRecvDataSegmentLength declared, unknown keys answered */
  neg.stage = ISCSI_STAGE_OPERATIONAL;
  ck_assert_int_eq (negotiate (REQ ("HeaderDigest=None\0"
                                    "FirstBurstLength=65536\0"
                                    "MaxBurstLength=512\0"
                                    "MaxRecvDataSegmentLength=262144\0"
                                    "InitialR2T=No\0ImmediateData=Yes\0"
                                    "X-foo=bar\0IFMarker=No\0"), &r), 0);
  ck_assert_str_eq (iscsi_text_find (&r, "FirstBurstLength"), "512");
  ck_assert_str_eq (iscsi_text_find (&r, "MaxBurstLength"), "512");
  ck_assert_str_eq (iscsi_text_find (&r, "X-foo"), "NotUnderstood");
  ck_assert_str_eq (iscsi_text_find (&r, "IFMarker"), "No");
  ck_assert_str_eq (iscsi_text_find (&r, "MaxRecvDataSegmentLength"),
                    "262144");                  /* ours, declared */
  ck_assert_str_eq (r.pairs[0].key, "HeaderDigest");    /* request order */
  ck_assert_str_eq (r.pairs[1].key, "FirstBurstLength");
  ck_assert_uint_eq (sess.first_burst_length, 512);
  ck_assert_uint_eq (sess.max_recv_dsl, 262144);
  ck_assert (neg.declared_mrdsl);
  iscsi_text_clear (&r);
}
END_TEST

START_TEST (test_negotiate_text_special)
{
  struct iscsi_text r;
  struct iscsi_text t;
  struct iscsi_text_builder b = { 0 };

  /* no unsolicited data at all: FirstBurstLength is irrelevant */
  setup (ISCSI_STAGE_OPERATIONAL);
  ck_assert_int_eq (negotiate (REQ ("InitialR2T=Yes\0ImmediateData=No\0"
                                    "FirstBurstLength=4096\0"), &r), 0);
  ck_assert_str_eq (iscsi_text_find (&r, "FirstBurstLength"), "Irrelevant");
  iscsi_text_clear (&r);
  /* SessionType is applied first, wherever it is */
  setup (ISCSI_STAGE_OPERATIONAL);
  ck_assert_int_eq (negotiate (REQ ("MaxBurstLength=4096\0"
                                    "SessionType=Discovery\0"), &r), 0);
  ck_assert_str_eq (iscsi_text_find (&r, "MaxBurstLength"), "Irrelevant");
  ck_assert_ptr_null (iscsi_text_find (&r, "TargetPortalGroupTag"));
  iscsi_text_clear (&r);
  /* a rule broken anywhere fails the whole request */
  setup (ISCSI_STAGE_SECURITY);
  ck_assert_int_eq (negotiate (REQ ("AuthMethod=None\0"
                                    "MaxBurstLength=512\0"), &r),
                    ISCSI_LOGIN_INITIATOR_ERROR);
  iscsi_text_clear (&r);
  /* CHAP keys and SendTargets are handed to the caller */
  setup (ISCSI_STAGE_SECURITY);
  sess.auth_method = ISCSI_AUTH_CHAP;
  sess.chap_a = ISCSI_CHAP_MD5;
  ck_assert_int_eq (iscsi_text_parse (REQ ("CHAP_N=u\0CHAP_R=0x0102\0"), 0,
                                      &t, NULL), ISCSI_TEXT_OK);
  ck_assert_int_eq (iscsi_negotiate_text (&neg, &t, &b), 0);
  ck_assert_str_eq (neg.chap[ISCSI_KEY_CHAP_N]->value, "u");
  ck_assert_str_eq (neg.chap[ISCSI_KEY_CHAP_R]->value, "0x0102");
  ck_assert_ptr_null (neg.chap[ISCSI_KEY_CHAP_C]);
  iscsi_text_clear (&t);
  iscsi_text_builder_clear (&b);
  setup (ISCSI_STAGE_FULL_FEATURE);
  sess.session_type = ISCSI_SESSION_DISCOVERY;
  ck_assert_int_eq (iscsi_text_parse (REQ ("SendTargets=All\0"), 0, &t,
                                      NULL), ISCSI_TEXT_OK);
  ck_assert_int_eq (iscsi_negotiate_text (&neg, &t, &b), 0);
  ck_assert_str_eq (neg.send_targets, "All");
  ck_assert_uint_eq (b.len, 0);
  iscsi_text_clear (&t);
  iscsi_text_builder_clear (&b);
}
END_TEST

/*----------------------------------------------------------------------
 * Random texts and offers.
 */

static const char *const values[] = {
  "Yes", "No", "0", "1", "512", "65536", "16777215", "16777216", "0x10",
  "None", "CRC32C", "CRC32C,None", "CHAP", "5", "0x0102", "0bAQ==", "",
  "Normal", "Discovery", "iqn.2024-01.org.ex:x", "All", "Reject", ",",
};

static void
random_pair (char *buf, size_t *len)
{
  const struct iscsi_key_desc *d = iscsi_key_desc (random () % ISCSI_KEY__COUNT);
  const char *key = random () % 8 ? d->name : "X-random";

  *len += sprintf (buf + *len, "%s=%s", key,
                   values[random () % (sizeof values / sizeof values[0])]) + 1;
}

START_TEST (test_random)
{
  char buf[4096];
  struct iscsi_text t, r;
  struct iscsi_text_builder b;
  size_t len, i, k;
  int iter, st;

  srandom (seed);
  for (iter = 0; iter < 20000; iter++) {
    setup (random () % 2 ? ISCSI_STAGE_OPERATIONAL
           : random () % 2 ? ISCSI_STAGE_SECURITY : ISCSI_STAGE_FULL_FEATURE);
    sess.auth_method = random () % 2;
    sess.chap_a = random () % 2 ? ISCSI_CHAP_MD5 : 0;
    len = 0;
    for (k = random () % 12; k > 0; k--)
      random_pair (buf, &len);
    if (iter % 4 == 0)          /* and some corruption */
      for (i = 0; i < len && i < 3; i++)
        buf[random () % len] = random ();
    if (iscsi_text_parse (buf, len, 0, &t, NULL) != ISCSI_TEXT_OK)
      continue;
    memset (&b, 0, sizeof b);
    st = iscsi_negotiate_text (&neg, &t, &b);
    ck_assert_int_ge (st, 0);
    if (st == 0) {
      ck_assert_int_eq (iscsi_text_parse (b.buf, b.len, 0, &r, NULL),
                        ISCSI_TEXT_OK);
      ck_assert_uint_le (sess.first_burst_length, sess.max_burst_length);
      iscsi_text_clear (&r);
    }
    iscsi_text_builder_clear (&b);
    iscsi_text_clear (&t);
  }
}
END_TEST

void
add_negotiate_tests (TCase *tc)
{
  tcase_add_test (tc, test_key_table);
  tcase_add_test (tc, test_numbers);
  tcase_add_test (tc, test_names);
  tcase_add_test (tc, test_negotiate_booleans_numbers);
  tcase_add_test (tc, test_negotiate_declarations);
  tcase_add_test (tc, test_negotiate_lists);
  tcase_add_test (tc, test_negotiate_rules);
  tcase_add_test (tc, test_negotiate_chap);
  tcase_add_test (tc, test_negotiate_text);
  tcase_add_test (tc, test_negotiate_text_special);
  tcase_add_test (tc, test_random);
}
