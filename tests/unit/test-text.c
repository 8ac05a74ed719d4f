/* segmap: unit tests for iSCSI text segments and key negotiation
 * (src/iscsi/text*.c, params.c, negotiate.c).
 *
 * One program in two files: this one (text, binary values) and
 * test-negotiate.c (keys and negotiation).  What is checked and how:
 *  - Parsing: valid texts, and each malformation of RELIABILITY.md
 *    "Login text and CHAP" (missing NUL, key without '=', empty key,
 *    key > 63 bytes, value > 255 bytes (CHAP_C/R: > 2050), invalid
 *    UTF-8, duplicate keys, > 8 KiB) with the offset of the culprit.
 *  - The accumulator: continuation PDUs split anywhere, never growing
 *    past its limit.
 *  - The builder and chunking back into PDUs; binary values (hex and
 *    base64: odd, empty, bad padding, > 1024 bytes).
 *  - The key table against RFC 7143 defaults, number and name syntax.
 *  - Negotiation of every key type, the special answers (Reject,
 *    Irrelevant, NotUnderstood), login failures (wrong stage, wrong
 *    sender, renegotiation, bad declarations, CHAP misuse), the
 *    FirstBurstLength <= MaxBurstLength rule and the declarations.
 *  - Random texts and offers: no crash, answers always well-formed.
 *    SEGMAP_TEST_SEED=N reproduces a run.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "iscsi/params.h"
#include "iscsi/text.h"
#include "test-text.h"

unsigned seed;

static void
quiet (const char *fmt, va_list args)
{
}

/* Parse the LEN bytes of S; returns the error, *OFF the offset. */
static enum iscsi_text_error
parse (const char *s, size_t len, struct iscsi_text *t, size_t *off)
{
  return iscsi_text_parse (s, len, 0, t, off);
}

#define PARSE_FAILS(lit, err, at) do {                                  \
    struct iscsi_text t_;                                               \
    size_t off_ = 999;                                                  \
    ck_assert_int_eq (parse (lit, sizeof (lit) - 1, &t_, &off_), err);  \
    ck_assert_uint_eq (off_, at);                                       \
    ck_assert_uint_eq (t_.n, 0);                                        \
  } while (0)

START_TEST (test_parse_valid)
{
  static const char text[] = "InitiatorName=iqn.2024-01.org.example:h1\0"
    "SessionType=Normal\0AuthMethod=CHAP,None\0X-com.example.x=a=b\0"
    "InitiatorAlias=\xc3\xa9t\xc3\xa9\0Empty=\0";
  struct iscsi_text t;

  ck_assert_int_eq (parse (text, sizeof text - 1, &t, NULL), ISCSI_TEXT_OK);
  ck_assert_uint_eq (t.n, 6);
  ck_assert_str_eq (iscsi_text_find (&t, "SessionType"), "Normal");
  ck_assert_str_eq (iscsi_text_find (&t, "X-com.example.x"), "a=b");
  ck_assert_str_eq (iscsi_text_find (&t, "Empty"), "");
  ck_assert_uint_eq (t.pairs[4].value_len, 5);
  ck_assert_ptr_null (iscsi_text_find (&t, "Missing"));
  iscsi_text_clear (&t);
  ck_assert_int_eq (parse ("", 0, &t, NULL), ISCSI_TEXT_OK);
  ck_assert_uint_eq (t.n, 0);
}
END_TEST

START_TEST (test_parse_errors)
{
  PARSE_FAILS ("A=1\0B=2", ISCSI_TEXT_ERR_NO_NUL, 7);
  PARSE_FAILS ("A=1\0\0", ISCSI_TEXT_ERR_EMPTY_PAIR, 4);
  PARSE_FAILS ("A=1\0Bee\0", ISCSI_TEXT_ERR_NO_EQUALS, 4);
  PARSE_FAILS ("=1\0", ISCSI_TEXT_ERR_EMPTY_KEY, 0);
  PARSE_FAILS ("lower=1\0", ISCSI_TEXT_ERR_KEY_CHARS, 0);
  PARSE_FAILS ("A b=1\0", ISCSI_TEXT_ERR_KEY_CHARS, 0);
  PARSE_FAILS ("A=1\0B=\xc0\x80\0", ISCSI_TEXT_ERR_UTF8, 4);     /* overlong */
  PARSE_FAILS ("B=\xed\xa0\x80\0", ISCSI_TEXT_ERR_UTF8, 0);      /* surrogate */
  PARSE_FAILS ("B=\xf4\x90\x80\x80\0", ISCSI_TEXT_ERR_UTF8, 0);  /* > 10FFFF */
  PARSE_FAILS ("B=\xe2\x82\0", ISCSI_TEXT_ERR_UTF8, 0);          /* cut */
  PARSE_FAILS ("B=\x80\0", ISCSI_TEXT_ERR_UTF8, 0);
  PARSE_FAILS ("A=1\0B=2\0A=3\0", ISCSI_TEXT_ERR_DUPLICATE, 8);
}
END_TEST

/* Keys of 63/64 bytes, values of 255/256 (and 2050/2051 for CHAP_C). */
START_TEST (test_parse_lengths)
{
  char buf[ISCSI_TEXT_MAX + 16];
  struct iscsi_text t;
  size_t off, n;

  memset (buf, 'K', 63);
  n = 63 + sprintf (buf + 63, "=v") + 1;
  ck_assert_int_eq (parse (buf, n, &t, NULL), ISCSI_TEXT_OK);
  iscsi_text_clear (&t);
  memset (buf, 'K', 64);
  n = 64 + sprintf (buf + 64, "=v") + 1;
  ck_assert_int_eq (parse (buf, n, &t, &off), ISCSI_TEXT_ERR_KEY_TOO_LONG);
  strcpy (buf, "TargetAlias=");
  memset (buf + 12, 'a', 255);
  buf[12 + 255] = '\0';
  ck_assert_int_eq (parse (buf, 12 + 255 + 1, &t, NULL), ISCSI_TEXT_OK);
  iscsi_text_clear (&t);
  memset (buf + 12, 'a', 256);
  buf[12 + 256] = '\0';
  ck_assert_int_eq (parse (buf, 12 + 256 + 1, &t, NULL),
                    ISCSI_TEXT_ERR_VALUE_TOO_LONG);
  strcpy (buf, "CHAP_C=0x");
  memset (buf + 9, 'a', 2048);
  buf[9 + 2048] = '\0';
  ck_assert_int_eq (parse (buf, 9 + 2048 + 1, &t, NULL), ISCSI_TEXT_OK);
  iscsi_text_clear (&t);
  memset (buf + 9, 'a', 2049);
  buf[9 + 2049] = '\0';
  ck_assert_int_eq (parse (buf, 9 + 2049 + 1, &t, NULL),
                    ISCSI_TEXT_ERR_VALUE_TOO_LONG);
  memset (buf, 0, sizeof buf);
  ck_assert_int_eq (parse (buf, ISCSI_TEXT_MAX + 1, &t, NULL),
                    ISCSI_TEXT_ERR_TOO_LONG);
}
END_TEST

START_TEST (test_accumulator)
{
  static const char text[] = "HeaderDigest=None\0DataDigest=None\0";
  struct iscsi_text_acc acc;
  struct iscsi_text t;
  uint8_t chunk[100];
  size_t split, total = 0;

  /* A pair split anywhere across two PDUs still parses. */
  for (split = 0; split <= sizeof text - 1; split++) {
    iscsi_text_acc_init (&acc, 0);
    ck_assert_int_eq (iscsi_text_acc_append (&acc, text, split),
                      ISCSI_TEXT_OK);
    ck_assert_int_eq (iscsi_text_acc_append (&acc, text + split,
                                             sizeof text - 1 - split),
                      ISCSI_TEXT_OK);
    ck_assert_int_eq (iscsi_text_parse (acc.buf, acc.len, 0, &t, NULL),
                      ISCSI_TEXT_OK);
    ck_assert_uint_eq (t.n, 2);
    iscsi_text_clear (&t);
    iscsi_text_acc_clear (&acc);
  }
  /* 8 KiB in 100-byte continuation PDUs, then one byte too many. */
  iscsi_text_acc_init (&acc, 0);
  memset (chunk, 'x', sizeof chunk);
  while (total + sizeof chunk <= ISCSI_TEXT_MAX) {
    ck_assert_int_eq (iscsi_text_acc_append (&acc, chunk, sizeof chunk),
                      ISCSI_TEXT_OK);
    total += sizeof chunk;
  }
  ck_assert_int_eq (iscsi_text_acc_append (&acc, chunk,
                                           ISCSI_TEXT_MAX - total),
                    ISCSI_TEXT_OK);
  ck_assert_int_eq (iscsi_text_acc_append (&acc, chunk, 1),
                    ISCSI_TEXT_ERR_TOO_LONG);
  ck_assert_int_eq (iscsi_text_acc_append (&acc, chunk, SIZE_MAX),
                    ISCSI_TEXT_ERR_TOO_LONG);
  ck_assert_uint_eq (acc.len, ISCSI_TEXT_MAX);
  ck_assert_uint_le (acc.cap, ISCSI_TEXT_MAX);
  iscsi_text_acc_reset (&acc);
  ck_assert_uint_eq (acc.len, 0);
  iscsi_text_acc_clear (&acc);
  /* A small limit is never exceeded either. */
  iscsi_text_acc_init (&acc, 10);
  ck_assert_int_eq (iscsi_text_acc_append (&acc, chunk, 11),
                    ISCSI_TEXT_ERR_TOO_LONG);
  ck_assert_ptr_null (acc.buf);
  iscsi_text_acc_clear (&acc);
}
END_TEST

START_TEST (test_builder_and_chunks)
{
  struct iscsi_text_builder b = { 0 };
  struct iscsi_text_acc acc;
  struct iscsi_text t;
  char long_value[300];
  size_t off = 0, n;
  bool more = true;
  int pdus = 0, i;

  for (i = 0; i < 20; i++)
    ck_assert_int_eq (iscsi_text_addf (&b, "TargetAddress", "10.0.0.%d:3260,1",
                                       i), 0);
  ck_assert_int_eq (iscsi_text_add (&b, "TargetName",
                                    "iqn.2024-01.org.example:disk0"), 0);
  iscsi_text_acc_init (&acc, 0);
  while (more) {
    n = iscsi_text_chunk (&b, off, 64, &more);
    ck_assert_uint_le (n, 64);
    ck_assert_int_eq (iscsi_text_acc_append (&acc, b.buf + off, n),
                      ISCSI_TEXT_OK);
    off += n;
    pdus++;
  }
  ck_assert_uint_eq (off, b.len);
  ck_assert_int_eq (pdus, (int) ((b.len + 63) / 64));
  ck_assert_int_eq (iscsi_text_parse (acc.buf, acc.len,
                                      ISCSI_TEXT_ALLOW_DUPLICATES, &t, NULL),
                    ISCSI_TEXT_OK);
  ck_assert_uint_eq (t.n, 21);
  ck_assert_str_eq (t.pairs[19].value, "10.0.0.19:3260,1");
  iscsi_text_clear (&t);
  ck_assert_int_eq (iscsi_text_parse (acc.buf, acc.len, 0, &t, NULL),
                    ISCSI_TEXT_ERR_DUPLICATE);
  iscsi_text_acc_clear (&acc);
  /* misuse is refused */
  sm_set_log_sinks (quiet, quiet);
  ck_assert_int_eq (iscsi_text_add (&b, "bad key", "x"), -1);
  memset (long_value, 'v', 256);
  long_value[256] = '\0';
  ck_assert_int_eq (iscsi_text_add (&b, "TargetAlias", long_value), -1);
  ck_assert_int_eq (iscsi_text_add (&b, "TargetAlias", "\xff"), -1);
  sm_set_log_sinks (NULL, NULL);
  iscsi_text_builder_clear (&b);
}
END_TEST

START_TEST (test_binary)
{
  uint8_t out[ISCSI_BINARY_MAX + 8], in[ISCSI_BINARY_MAX + 1];
  char str[2 * ISCSI_BINARY_MAX + 8];
  size_t n, len;

  ck_assert_int_eq (iscsi_binary_decode ("0x0aFf", out, 8, &n), ISCSI_TEXT_OK);
  ck_assert_uint_eq (n, 2);
  ck_assert_uint_eq (out[0], 0x0a);
  ck_assert_uint_eq (out[1], 0xff);
  ck_assert_int_eq (iscsi_binary_decode ("0bAQID", out, 8, &n), ISCSI_TEXT_OK);
  ck_assert_uint_eq (n, 3);
  ck_assert_uint_eq (out[2], 3);
  ck_assert_int_eq (iscsi_binary_decode ("0BAQ==", out, 8, &n), ISCSI_TEXT_OK);
  ck_assert_uint_eq (n, 1);
  ck_assert_int_eq (iscsi_binary_decode ("0bAQI=", out, 8, &n), ISCSI_TEXT_OK);
  ck_assert_uint_eq (n, 2);
  /* odd, empty, bad characters, bad padding, no prefix */
  static const char *const bad[] = {
    "0x", "0xabc", "0xzz", "0b", "0bAQ=", "0bA===", "0bAQ=A", "0b====",
    "0bAR==", "0bAQJ=", "0b AQ=", "abcd", "0", "0c12", "",
  };
  for (n = 0; n < sizeof bad / sizeof bad[0]; n++)
    ck_assert_msg (iscsi_binary_decode (bad[n], out, 8, &len)
                   == ISCSI_TEXT_ERR_BINARY, "accepted \"%s\"", bad[n]);
  /* 1024 bytes fit, 1025 do not, in both encodings */
  for (n = 0; n < sizeof in; n++)
    in[n] = random ();
  for (len = 1023; len <= 1025; len++) {
    enum iscsi_text_error want = len <= ISCSI_BINARY_MAX ? ISCSI_TEXT_OK
      : ISCSI_TEXT_ERR_BINARY;

    ck_assert_int_ge (iscsi_binary_encode_hex (in, len, str, sizeof str), 0);
    ck_assert_int_eq (iscsi_binary_decode (str, out, ISCSI_BINARY_MAX, &n),
                      want);
    if (want == ISCSI_TEXT_OK)
      ck_assert_mem_eq (out, in, len);
    ck_assert_int_ge (iscsi_binary_encode_base64 (in, len, str, sizeof str),
                      0);
    ck_assert_int_eq (iscsi_binary_decode (str, NULL, ISCSI_BINARY_MAX, &n),
                      want);
  }
  ck_assert_int_eq (iscsi_binary_encode_hex (in, 4, str, 10), -1);
  ck_assert_int_eq (iscsi_binary_encode_base64 (in, 4, str, 10), -1);
}
END_TEST

START_TEST (test_binary_roundtrip_random)
{
  uint8_t in[64], out[64];
  char str[200];
  size_t len, n;
  int i;

  srandom (seed);
  for (i = 0; i < 20000; i++) {
    len = 1 + random () % sizeof in;
    for (n = 0; n < len; n++)
      in[n] = random ();
    if (i & 1)
      iscsi_binary_encode_hex (in, len, str, sizeof str);
    else
      iscsi_binary_encode_base64 (in, len, str, sizeof str);
    ck_assert_int_eq (iscsi_binary_decode (str, out, sizeof out, &n),
                      ISCSI_TEXT_OK);
    ck_assert_uint_eq (n, len);
    ck_assert_mem_eq (in, out, len);
  }
}
END_TEST

START_TEST (test_to_string)
{
  unsigned i;

  for (i = 0; i < ISCSI_TEXT_ERR__COUNT; i++)
    ck_assert (strcmp (iscsi_text_error_to_string (i),
                       "unknown text error") != 0);
  ck_assert_str_eq (iscsi_text_error_to_string (ISCSI_TEXT_ERR__COUNT),
                    "unknown text error");
  for (i = ISCSI_NEG_ANSWER; i <= ISCSI_NEG_FAIL; i++)
    ck_assert (strcmp (iscsi_neg_result_to_string (i), "unknown result")
               != 0);
}
END_TEST

static Suite *
text_suite (void)
{
  Suite *s = suite_create ("text");
  TCase *tc = tcase_create ("text");

  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_parse_valid);
  tcase_add_test (tc, test_parse_errors);
  tcase_add_test (tc, test_parse_lengths);
  tcase_add_test (tc, test_accumulator);
  tcase_add_test (tc, test_builder_and_chunks);
  tcase_add_test (tc, test_binary);
  tcase_add_test (tc, test_binary_roundtrip_random);
  tcase_add_test (tc, test_to_string);
  add_negotiate_tests (tc);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  const char *env = getenv ("SEGMAP_TEST_SEED");
  SRunner *sr = srunner_create (text_suite ());
  int failed;

  seed = env ? strtoul (env, NULL, 0) : (unsigned) time (NULL);
  printf ("test-text: SEGMAP_TEST_SEED=%u\n", seed);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
