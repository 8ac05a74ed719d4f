/* segmap: unit tests for the iSCSI CHAP authenticator (src/iscsi/chap.c).
 *
 * What is checked and how:
 *  - The RFC 1994 response against MD5 vectors computed outside segmap
 *    (xxd -r -p | md5sum, cross-checked with openssl dgst -md5).
 *  - Exchanges as the login layer drives them, reading our CHAP_I and
 *    CHAP_C back from the answer text: one-way and mutual success (the
 *    target's CHAP_R against a hard-coded vector), and every refusal --
 *    wrong secret, unknown user, reflected challenge, mutual CHAP
 *    without target credentials, a secret shared by both directions,
 *    oversize or malformed CHAP_C / CHAP_R / CHAP_I, CHAP_A without 5,
 *    answers out of order or replayed -- each by its logged reason, so
 *    that a test cannot pass because of another refusal.
 *  - Challenges: 1000 exchanges all distinct, serials consecutive.
 *  - getrandom(2) is wrapped at link time (-Wl,--wrap=getrandom, see
 *    tests/Makefile.am) to return EINTR and one byte at a time, or to
 *    fail: the bytes must land in order, and a failure fails the offer.
 *  - Secret files: CRLF / LF stripped, first line only, lengths 11, 12,
 *    256, 257, mode 0644 / 0640 / 0604 refused, empty, missing, not a
 *    regular file; every error names the file.
 */
#include <config.h>

#undef NDEBUG
#include <assert.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/chap.h"
#include "iscsi/text.h"
#include "test-util.h"

#define INITIATOR     "iqn.2024-01.org.example:host1"
#define USER          "alice"
#define SECRET        "alice-secret-0123"
#define TARGET_USER   "iqn.2024-01.org.example:segmap"
#define TARGET_SECRET "target-secret-22"

/* ---- getrandom, wrapped ------------------------------------------- */

ssize_t __real_getrandom (void *buf, size_t len, unsigned flags);
ssize_t __wrap_getrandom (void *buf, size_t len, unsigned flags);

static enum {
  RNG_REAL,
  RNG_SLOW,     /* EINTR every other call, else one byte: rng_next++ */
  RNG_FAIL,     /* ENOSYS */
} rng_mode;
static unsigned rng_calls;
static uint8_t rng_next;

ssize_t
__wrap_getrandom (void *buf, size_t len, unsigned flags)
{
  switch (rng_mode) {
  case RNG_SLOW:
    if (rng_calls++ % 2 == 0) {
      errno = EINTR;
      return -1;
    }
    *(uint8_t *) buf = rng_next++;
    return 1;
  case RNG_FAIL:
    errno = ENOSYS;
    return -1;
  default:
    return __real_getrandom (buf, len, flags);
  }
}

/* ---- helpers ------------------------------------------------------ */

static void
quiet (const char *fmt, va_list args)
{
}

static void
setup (void)
{
  sm_set_log_sinks (quiet, NULL);
  rng_mode = RNG_REAL;
}

#define ASSERT_REFUSED_FOR(reason) \
  ck_assert_msg (strstr (sm_last_error (), reason) != NULL,       \
                 "expected \"%s\", logged \"%s\"", reason, sm_last_error ())

/* The users the target knows: one, for one initiator. */
struct user_db {
  const char *user, *secret;
  unsigned calls;
};

static int
lookup (void *opaque, const char *initiator, const char *user,
        struct chap_credentials *cred)
{
  struct user_db *db = opaque;

  db->calls++;
  if (strcmp (initiator, INITIATOR) != 0 || strcmp (user, db->user) != 0)
    return -1;
  snprintf (cred->user, sizeof cred->user, "%s", user);
  cred->secret_len = strlen (db->secret);
  memcpy (cred->secret, db->secret, cred->secret_len);
  return 0;
}

static struct chap_credentials
credentials (const char *user, const char *secret)
{
  struct chap_credentials cred = { .secret_len = strlen (secret) };

  snprintf (cred.user, sizeof cred.user, "%s", user);
  memcpy (cred.secret, secret, cred.secret_len);
  return cred;
}

/* The value of KEY in the text B built, copied to VALUE; false if absent. */
static bool
text_value (const struct iscsi_text_builder *b, const char *key,
            char *value, size_t size)
{
  struct iscsi_text t;
  const char *v;

  ck_assert_int_eq (iscsi_text_parse (b->buf, b->len, 0, &t, NULL),
                    ISCSI_TEXT_OK);
  v = iscsi_text_find (&t, key);
  if (v != NULL)
    snprintf (value, size, "%s", v);
  iscsi_text_clear (&t);
  return v != NULL;
}

/* What the initiator sees of our challenge. */
struct wire_challenge {
  uint8_t id;
  uint8_t c[CHAP_CHALLENGE_LEN];
};

/* Start an exchange on C and read CHAP_I / CHAP_C back from the text. */
static struct wire_challenge
offer (struct chap *c)
{
  struct iscsi_text_builder b = { NULL };
  struct wire_challenge w;
  char v[ISCSI_BINARY_VALUE_MAX + 1];
  size_t len;

  chap_init (c);
  ck_assert_int_eq (chap_offer (c, "7,5", &b), CHAP_CHALLENGED);
  ck_assert (text_value (&b, "CHAP_A", v, sizeof v));
  ck_assert_str_eq (v, "5");
  ck_assert (text_value (&b, "CHAP_I", v, sizeof v));
  ck_assert_uint_eq (strspn (v, "0123456789"), strlen (v));  /* decimal */
  ck_assert_int_ge (atoi (v), 0);
  ck_assert_int_le (atoi (v), 255);
  w.id = atoi (v);
  ck_assert (text_value (&b, "CHAP_C", v, sizeof v));
  ck_assert_uint_eq (strlen (v), 2 + 2 * CHAP_CHALLENGE_LEN);
  ck_assert_int_eq (iscsi_binary_decode (v, w.c, sizeof w.c, &len),
                    ISCSI_TEXT_OK);
  ck_assert_uint_eq (len, CHAP_CHALLENGE_LEN);
  iscsi_text_builder_clear (&b);
  return w;
}

/* The initiator's CHAP_R for W with SECRET, as 0x-hex (BASE64: 0b). */
static void
respond (const struct wire_challenge *w, const char *secret, bool base64,
         char out[64])
{
  uint8_t r[CHAP_MD5_LEN];

  chap_response (w->id, (const uint8_t *) secret, strlen (secret),
                 w->c, sizeof w->c, r);
  if (base64)
    ck_assert_int_gt (iscsi_binary_encode_base64 (r, sizeof r, out, 64), 0);
  else
    ck_assert_int_gt (iscsi_binary_encode_hex (r, sizeof r, out, 64), 0);
}

/* "0x" and N bytes of 0xab. */
static char *
hex_of_length (size_t n)
{
  char *s = malloc (2 + 2 * n + 1);
  size_t i;

  ck_assert_ptr_nonnull (s);
  strcpy (s, "0x");
  for (i = 0; i < n; i++)
    memcpy (&s[2 + 2 * i], "ab", 2);
  s[2 + 2 * n] = '\0';
  return s;
}

/* ---- the response ------------------------------------------------- */

START_TEST (test_response_known_answers)
{
  /* MD5 (2a "segmap-secret-1" 000102...0f) */
  static const uint8_t expect1[CHAP_MD5_LEN] = {
    0x11, 0x60, 0x71, 0x04, 0x17, 0xf0, 0x9f, 0x17,
    0x7d, 0x43, 0xf5, 0x85, 0x06, 0x70, 0x6d, 0x43,
  };
  /* MD5 (00): id 0, empty secret and challenge */
  static const uint8_t expect2[CHAP_MD5_LEN] = {
    0x93, 0xb8, 0x85, 0xad, 0xfe, 0x0d, 0xa0, 0x89,
    0xcd, 0xf6, 0x34, 0x90, 0x4f, 0xd5, 0x9f, 0x71,
  };
  uint8_t challenge[16], out[CHAP_MD5_LEN];
  int i;

  for (i = 0; i < 16; i++)
    challenge[i] = i;
  chap_response (0x2a, (const uint8_t *) "segmap-secret-1", 15,
                 challenge, sizeof challenge, out);
  ck_assert_mem_eq (out, expect1, CHAP_MD5_LEN);
  chap_response (0, (const uint8_t *) "", 0, (const uint8_t *) "", 0, out);
  ck_assert_mem_eq (out, expect2, CHAP_MD5_LEN);
}
END_TEST

START_TEST (test_state_names)
{
  ck_assert_str_eq (chap_state_to_string (CHAP_START), "START");
  ck_assert_str_eq (chap_state_to_string (CHAP_CHALLENGED), "CHALLENGED");
  ck_assert_str_eq (chap_state_to_string (CHAP_DONE), "DONE");
  ck_assert_str_eq (chap_state_to_string (CHAP_FAILED), "FAILED");
}
END_TEST

/* ---- the offer ---------------------------------------------------- */

START_TEST (test_offer)
{
  struct chap c;
  struct iscsi_text_builder b = { NULL };
  struct wire_challenge w = offer (&c);
  char v[64];

  /* What was sent is what the state holds. */
  ck_assert_uint_eq (w.id, c.id);
  ck_assert_mem_eq (w.c, c.challenge, CHAP_CHALLENGE_LEN);
  /* Only one offer per exchange. */
  ck_assert_int_eq (chap_offer (&c, "5", &b), CHAP_FAILED);
  ASSERT_REFUSED_FOR ("CHAP_A in state CHALLENGED");
  ck_assert_uint_eq (b.len, 0);
  /* A lone 5 works too. */
  chap_init (&c);
  ck_assert_int_eq (chap_offer (&c, "5", &b), CHAP_CHALLENGED);
  ck_assert (text_value (&b, "CHAP_A", v, sizeof v));
  ck_assert_str_eq (v, "5");
  iscsi_text_builder_clear (&b);
}
END_TEST

START_TEST (test_offer_without_md5)
{
  static const char *const offers[] = {
    "7", "6,7", "", ",", "55", "05", "5x", "x5", "7,,15", "Reject", NULL,
  };
  size_t k;

  for (k = 0; k < ARRAY_SIZE (offers); k++) {
    struct chap c;
    struct iscsi_text_builder b = { NULL };
    char v[64];

    chap_init (&c);
    ck_assert_int_eq (chap_offer (&c, offers[k], &b), CHAP_FAILED);
    ck_assert_int_eq (c.state, CHAP_FAILED);
    ASSERT_REFUSED_FOR ("does not offer CHAP_A=5");
    ck_assert (text_value (&b, "CHAP_A", v, sizeof v));
    ck_assert_str_eq (v, "Reject");
    ck_assert (!text_value (&b, "CHAP_C", v, sizeof v));
    ck_assert (!text_value (&b, "CHAP_I", v, sizeof v));
    iscsi_text_builder_clear (&b);
  }
}
END_TEST

/* ---- verification ------------------------------------------------- */

START_TEST (test_one_way)
{
  struct user_db db = { .user = USER, .secret = SECRET };
  int base64;

  for (base64 = 0; base64 <= 1; base64++) {
    struct chap c;
    struct iscsi_text_builder b = { NULL };
    struct wire_challenge w = offer (&c);
    char r[64];

    respond (&w, SECRET, base64, r);
    ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, NULL, NULL,
                                   lookup, &db, NULL, &b), CHAP_DONE);
    ck_assert_int_eq (c.state, CHAP_DONE);
    ck_assert_uint_eq (b.len, 0);         /* nothing to say one-way */
  }
  ck_assert_uint_eq (db.calls, 2);
}
END_TEST

START_TEST (test_mutual)
{
  /* MD5 (07 "target-secret-22" 0123456789abcdeffedcba9876543210) */
  static const char expect[] = "0x251a2f8ab2fa4cad83a57beffe5d0701";
  struct user_db db = { .user = USER, .secret = SECRET };
  struct chap_credentials tc = credentials (TARGET_USER, TARGET_SECRET);
  struct chap c;
  struct iscsi_text_builder b = { NULL };
  struct wire_challenge w = offer (&c);
  char r[64], v[64];

  respond (&w, SECRET, false, r);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, "7",
                                 "0x0123456789abcdeffedcba9876543210",
                                 lookup, &db, &tc, &b), CHAP_DONE);
  ck_assert (text_value (&b, "CHAP_N", v, sizeof v));
  ck_assert_str_eq (v, TARGET_USER);
  ck_assert (text_value (&b, "CHAP_R", v, sizeof v));
  ck_assert_str_eq (v, expect);
  iscsi_text_builder_clear (&b);

  /* The same challenge in base64 (python3 base64.b64encode), CHAP_I
   * in hex: the same answer. */
  w = offer (&c);
  respond (&w, SECRET, false, r);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, "0x7",
                                 "0bASNFZ4mrze/+3LqYdlQyEA==",
                                 lookup, &db, &tc, &b), CHAP_DONE);
  ck_assert (text_value (&b, "CHAP_R", v, sizeof v));
  ck_assert_str_eq (v, expect);
  iscsi_text_builder_clear (&b);

  /* Bits set below the base64 padding: not a binary value. */
  w = offer (&c);
  respond (&w, SECRET, false, r);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, "7",
                                 "0bASNFZ4mrze/+3LqYdlQyEB==",
                                 lookup, &db, &tc, &b), CHAP_FAILED);
  ASSERT_REFUSED_FOR ("CHAP_C is not a binary value");
  ck_assert_uint_eq (b.len, 0);
}
END_TEST

/* Run one exchange whose answer must be refused for REASON, with
 * nothing appended to the answer text. */
static void
expect_refusal (const char *n, const char *secret, const char *i,
                const char *cc, const struct chap_credentials *tc,
                const char *reason)
{
  struct user_db db = { .user = USER, .secret = SECRET };
  struct chap c;
  struct iscsi_text_builder b = { NULL };
  struct wire_challenge w = offer (&c);
  char r[64];

  respond (&w, secret, false, r);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, n, r, i, cc, lookup, &db,
                                 tc, &b), CHAP_FAILED);
  ck_assert_int_eq (c.state, CHAP_FAILED);
  ASSERT_REFUSED_FOR (reason);
  ck_assert_uint_eq (b.len, 0);
}

START_TEST (test_wrong_secret)
{
  struct chap_credentials tc = credentials (TARGET_USER, TARGET_SECRET);

  expect_refusal (USER, "alice-secret-0124", NULL, NULL, NULL,
                  "wrong CHAP_R");
  /* Mutual: we must not answer an initiator that failed. */
  expect_refusal (USER, "alice-secret-0124", "7", "0x00112233", &tc,
                  "wrong CHAP_R");
}
END_TEST

START_TEST (test_unknown_user)
{
  expect_refusal ("mallory", SECRET, NULL, NULL, NULL, "unknown CHAP user");
  ASSERT_REFUSED_FOR ("as CHAP user mallory");
  ASSERT_REFUSED_FOR (INITIATOR);
}
END_TEST

START_TEST (test_reflected_challenge)
{
  struct chap_credentials tc = credentials (TARGET_USER, TARGET_SECRET);
  struct user_db db = { .user = USER, .secret = SECRET };
  int base64;

  /* The initiator sends our challenge back, hoping we compute the
   * response it owes us. */
  for (base64 = 0; base64 <= 1; base64++) {
    struct chap c;
    struct iscsi_text_builder b = { NULL };
    struct wire_challenge w = offer (&c);
    char r[64], reflected[64], id[8];

    respond (&w, SECRET, false, r);
    snprintf (id, sizeof id, "%u", w.id);
    if (base64)
      iscsi_binary_encode_base64 (w.c, sizeof w.c, reflected,
                                  sizeof reflected);
    else
      iscsi_binary_encode_hex (w.c, sizeof w.c, reflected,
                               sizeof reflected);
    ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, id, reflected,
                                   lookup, &db, &tc, &b), CHAP_FAILED);
    ASSERT_REFUSED_FOR ("reflects our own challenge");
    ck_assert_uint_eq (b.len, 0);
  }
  ck_assert_uint_eq (db.calls, 0);        /* refused before the lookup */
}
END_TEST

START_TEST (test_mutual_without_target_credentials)
{
  struct chap_credentials nameless = credentials ("", TARGET_SECRET);

  expect_refusal (USER, SECRET, "7", "0x00112233", NULL,
                  "the target has no credentials");
  expect_refusal (USER, SECRET, "7", "0x00112233", &nameless,
                  "credentials are incomplete");
  /* CHAP_I and CHAP_C come together. */
  expect_refusal (USER, SECRET, "7", NULL, NULL, "must come together");
  expect_refusal (USER, SECRET, NULL, "0x00112233", NULL,
                  "must come together");
}
END_TEST

START_TEST (test_same_secret_both_ways)
{
  struct chap_credentials tc = credentials (TARGET_USER, SECRET);

  expect_refusal (USER, SECRET, NULL, NULL, &tc, "also the target's");
  expect_refusal (USER, SECRET, "7", "0x00112233", &tc, "also the target's");
}
END_TEST

START_TEST (test_bad_values)
{
  struct chap_credentials tc = credentials (TARGET_USER, TARGET_SECRET);
  struct user_db db = { .user = USER, .secret = SECRET };
  char *big_c = hex_of_length (ISCSI_BINARY_MAX + 1);
  char *max_c = hex_of_length (ISCSI_BINARY_MAX);
  static const struct { const char *r, *why; } bad_r[] = {
    { "0x00112233445566778899aabbccddeeff00", "not 16 bytes" },
    { "0x00112233445566778899aabbccddee", "not 16 bytes" },
    { "0x00112233445566778899aabbccddeef", "not a binary value" },
    { "0x", "not a binary value" },
    { "00112233445566778899aabbccddeeff", "not a binary value" },
    { "0b====", "not a binary value" },
  };
  char user256[CHAP_USER_MAX + 2];
  size_t k;

  /* CHAP_R: malformed, the wrong length, over 1024 bytes. */
  for (k = 0; k < ARRAY_SIZE (bad_r); k++) {
    struct chap c;
    struct iscsi_text_builder b = { NULL };

    offer (&c);
    ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, bad_r[k].r, NULL,
                                   NULL, lookup, &db, NULL, &b),
                      CHAP_FAILED);
    ASSERT_REFUSED_FOR (bad_r[k].why);
  }
  {
    struct chap c;
    struct iscsi_text_builder b = { NULL };

    offer (&c);
    ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, big_c, NULL, NULL,
                                   lookup, &db, NULL, &b), CHAP_FAILED);
    ASSERT_REFUSED_FOR ("CHAP_R is not a binary value of at most 1024");
    offer (&c);
    ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, max_c, NULL, NULL,
                                   lookup, &db, NULL, &b), CHAP_FAILED);
    ASSERT_REFUSED_FOR ("CHAP_R is not 16 bytes");
  }
  ck_assert_uint_eq (db.calls, 0);

  /* CHAP_C over 1024 bytes; CHAP_I out of range or not a number. */
  expect_refusal (USER, SECRET, "7", big_c, &tc, "CHAP_C is not a binary");
  expect_refusal (USER, SECRET, "7", "0x123", &tc, "CHAP_C is not a binary");
  expect_refusal (USER, SECRET, "256", "0x00", &tc, "CHAP_I is not");
  expect_refusal (USER, SECRET, "-1", "0x00", &tc, "CHAP_I is not");
  expect_refusal (USER, SECRET, "", "0x00", &tc, "CHAP_I is not");

  /* CHAP_N: empty, too long, control characters (never logged). */
  memset (user256, 'u', CHAP_USER_MAX + 1);
  user256[CHAP_USER_MAX + 1] = '\0';
  expect_refusal ("", SECRET, NULL, NULL, NULL, "CHAP_N is empty");
  expect_refusal (user256, SECRET, NULL, NULL, NULL, "longer than 255");
  expect_refusal ("ali\nce", SECRET, NULL, NULL, NULL, "control characters");
  ck_assert_ptr_null (strstr (sm_last_error (), "ali\nce"));

  /* A 1024-byte mutual challenge is the largest allowed. */
  {
    struct chap c;
    struct iscsi_text_builder b = { NULL };
    struct wire_challenge w = offer (&c);
    uint8_t big[ISCSI_BINARY_MAX], expect[CHAP_MD5_LEN];
    char r[64], v[64], hex[64];

    respond (&w, SECRET, false, r);
    ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, "255", max_c,
                                   lookup, &db, &tc, &b), CHAP_DONE);
    memset (big, 0xab, sizeof big);
    chap_response (255, (const uint8_t *) TARGET_SECRET,
                   strlen (TARGET_SECRET), big, sizeof big, expect);
    iscsi_binary_encode_hex (expect, sizeof expect, hex, sizeof hex);
    ck_assert (text_value (&b, "CHAP_R", v, sizeof v));
    ck_assert_str_eq (v, hex);
    iscsi_text_builder_clear (&b);
  }
  free (big_c);
  free (max_c);
}
END_TEST

START_TEST (test_out_of_order)
{
  struct user_db db = { .user = USER, .secret = SECRET };
  struct chap c;
  struct iscsi_text_builder b = { NULL };
  struct wire_challenge w;
  char r[64];

  /* An answer before any challenge. */
  chap_init (&c);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, "0x00", NULL, NULL,
                                 lookup, &db, NULL, &b), CHAP_FAILED);
  ASSERT_REFUSED_FOR ("before any challenge");

  /* A good answer replayed on a finished exchange. */
  w = offer (&c);
  respond (&w, SECRET, false, r);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, NULL, NULL,
                                 lookup, &db, NULL, &b), CHAP_DONE);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, NULL, NULL,
                                 lookup, &db, NULL, &b), CHAP_FAILED);
  ASSERT_REFUSED_FOR ("after the exchange ended");

  /* One try per challenge: a good answer after a wrong one fails. */
  w = offer (&c);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER,
                                 "0x00112233445566778899aabbccddeeff",
                                 NULL, NULL, lookup, &db, NULL, &b),
                    CHAP_FAILED);
  respond (&w, SECRET, false, r);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, r, NULL, NULL,
                                 lookup, &db, NULL, &b), CHAP_FAILED);
  ASSERT_REFUSED_FOR ("after the exchange ended");

  /* Missing keys. */
  offer (&c);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, NULL, r, NULL, NULL,
                                 lookup, &db, NULL, &b), CHAP_FAILED);
  ASSERT_REFUSED_FOR ("CHAP_N or CHAP_R missing");
  offer (&c);
  ck_assert_int_eq (chap_verify (&c, INITIATOR, USER, NULL, NULL, NULL,
                                 lookup, &db, NULL, &b), CHAP_FAILED);
  ASSERT_REFUSED_FOR ("CHAP_N or CHAP_R missing");
  ck_assert_uint_eq (b.len, 0);
}
END_TEST

/* ---- challenges --------------------------------------------------- */

#define EXCHANGES 1000

static int
compare_challenges (const void *a, const void *b)
{
  return memcmp (a, b, CHAP_CHALLENGE_LEN);
}

static uint64_t
serial_of (const uint8_t c[CHAP_CHALLENGE_LEN])
{
  uint64_t s = 0;
  int i;

  for (i = 0; i < 8; i++)
    s = s << 8 | c[i];
  return s;
}

START_TEST (test_challenges_distinct)
{
  static uint8_t seen[EXCHANGES][CHAP_CHALLENGE_LEN];
  unsigned ids[256] = { 0 };
  int k, distinct_ids = 0;

  for (k = 0; k < EXCHANGES; k++) {
    struct chap c;
    struct wire_challenge w = offer (&c);

    memcpy (seen[k], w.c, CHAP_CHALLENGE_LEN);
    ids[w.id]++;
    if (k > 0)                  /* the serial half counts up */
      ck_assert_uint_eq (serial_of (seen[k]), serial_of (seen[k - 1]) + 1);
  }
  qsort (seen, EXCHANGES, CHAP_CHALLENGE_LEN, compare_challenges);
  for (k = 1; k < EXCHANGES; k++)
    ck_assert_int_ne (memcmp (seen[k - 1], seen[k], CHAP_CHALLENGE_LEN), 0);
  /* Identifiers are random too: 1000 draws of 256 values miss at most a
   * few (all 256 expected; fewer than 200 has odds below 1e-50). */
  for (k = 0; k < 256; k++)
    distinct_ids += ids[k] > 0;
  ck_assert_int_gt (distinct_ids, 200);
}
END_TEST

START_TEST (test_getrandom_interrupted_and_short)
{
  struct chap c;
  struct iscsi_text_builder b = { NULL };
  int i;

  offer (&c);                   /* the serial is drawn by now */
  rng_mode = RNG_SLOW;
  rng_next = 0x40;
  rng_calls = 0;
  chap_init (&c);
  ck_assert_int_eq (chap_offer (&c, "5", &b), CHAP_CHALLENGED);
  /* 9 bytes (CHAP_I + half the challenge), each after an EINTR. */
  ck_assert_uint_eq (rng_calls, 18);
  ck_assert_uint_eq (c.id, 0x40);
  for (i = 0; i < 8; i++)
    ck_assert_uint_eq (c.challenge[8 + i], 0x41 + i);
  iscsi_text_builder_clear (&b);
}
END_TEST

START_TEST (test_getrandom_fails)
{
  struct chap c;
  struct iscsi_text_builder b = { NULL };
  char v[64];

  rng_mode = RNG_FAIL;
  chap_init (&c);
  ck_assert_int_eq (chap_offer (&c, "5", &b), CHAP_FAILED);
  ck_assert_int_eq (c.state, CHAP_FAILED);
  ASSERT_REFUSED_FOR ("getrandom");
  ck_assert (!text_value (&b, "CHAP_C", v, sizeof v));
  iscsi_text_builder_clear (&b);
}
END_TEST

/* ---- secret files ------------------------------------------------- */

static char dir[] = "/tmp/test-chap-XXXXXX";
static char path[sizeof dir + 32];

static void
secret_setup (void)
{
  setup ();
  strcpy (dir, "/tmp/test-chap-XXXXXX");
  ck_assert_ptr_nonnull (mkdtemp (dir));
  snprintf (path, sizeof path, "%s/secret", dir);
}

static void
secret_teardown (void)
{
  char sub[sizeof path + 8];

  snprintf (sub, sizeof sub, "%s/sub", dir);
  unlink (path);
  rmdir (sub);
  rmdir (dir);
}

/* Write LEN bytes of DATA to PATH with MODE. */
static void
write_secret (const void *data, size_t len, mode_t mode)
{
  int fd;

  unlink (path);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (write (fd, data, len), (ssize_t) len);
  ck_assert_int_eq (fchmod (fd, mode), 0);
  close (fd);
}

/* Load PATH: the secret's length, or -1 (then the error names PATH and
 * says REASON, and the credentials are untouched). */
static ssize_t
load (const char *reason, struct chap_credentials *cred)
{
  cred->secret_len = 999;
  if (chap_secret_load (path, cred) == -1) {
    ck_assert_msg (reason != NULL, "refused: %s", sm_last_error ());
    ck_assert_ptr_nonnull (strstr (sm_last_error (), path));
    ASSERT_REFUSED_FOR (reason);
    ck_assert_uint_eq (cred->secret_len, 999);
    return -1;
  }
  return cred->secret_len;
}

START_TEST (test_secret_line_endings)
{
  struct chap_credentials cred;

  write_secret ("abcdefghijkl\r\nsecond line\n", 26, 0600);
  ck_assert_int_eq (load (NULL, &cred), 12);
  ck_assert_mem_eq (cred.secret, "abcdefghijkl", 12);
  write_secret ("abcdefghijklm\n", 14, 0400);
  ck_assert_int_eq (load (NULL, &cred), 13);
  ck_assert_mem_eq (cred.secret, "abcdefghijklm", 13);
  write_secret ("no line ending", 14, 0600);
  ck_assert_int_eq (load (NULL, &cred), 14);
  ck_assert_mem_eq (cred.secret, "no line ending", 14);
}
END_TEST

START_TEST (test_secret_lengths)
{
  char buf[1000];
  struct chap_credentials cred;

  memset (buf, 's', sizeof buf);
  write_secret (buf, CHAP_SECRET_MIN - 1, 0600);
  ck_assert_int_eq (load ("shorter than 12", &cred), -1);
  write_secret ("short\r\n", 7, 0600);
  ck_assert_int_eq (load ("shorter than 12", &cred), -1);
  write_secret (buf, CHAP_SECRET_MIN, 0600);
  ck_assert_int_eq (load (NULL, &cred), CHAP_SECRET_MIN);

  write_secret (buf, CHAP_SECRET_MAX, 0600);
  ck_assert_int_eq (load (NULL, &cred), CHAP_SECRET_MAX);
  memcpy (&buf[CHAP_SECRET_MAX], "\r\n", 2);
  write_secret (buf, CHAP_SECRET_MAX + 2, 0600);
  ck_assert_int_eq (load (NULL, &cred), CHAP_SECRET_MAX);
  memset (buf, 's', sizeof buf);
  write_secret (buf, CHAP_SECRET_MAX + 1, 0600);
  ck_assert_int_eq (load ("longer than 256", &cred), -1);
  memcpy (&buf[CHAP_SECRET_MAX + 1], "\r\n", 2);
  write_secret (buf, CHAP_SECRET_MAX + 3, 0600);
  ck_assert_int_eq (load ("longer than 256", &cred), -1);
  memset (buf, 's', sizeof buf);
  write_secret (buf, sizeof buf, 0600);
  ck_assert_int_eq (load ("longer than 256", &cred), -1);

  write_secret ("", 0, 0600);
  ck_assert_int_eq (load ("empty", &cred), -1);
  write_secret ("\r\nabcdefghijklmnop\n", 19, 0600);
  ck_assert_int_eq (load ("empty", &cred), -1);
}
END_TEST

START_TEST (test_secret_permissions)
{
  static const mode_t refused[] = { 0644, 0640, 0604, 0620, 0602, 0601 };
  struct chap_credentials cred;
  char sub[sizeof path + 8];
  size_t k;

  for (k = 0; k < ARRAY_SIZE (refused); k++) {
    write_secret ("abcdefghijklmnop\n", 17, refused[k]);
    ck_assert_int_eq (load ("by group or others", &cred), -1);
  }
  write_secret ("abcdefghijklmnop\n", 17, 0600);
  ck_assert_int_eq (load (NULL, &cred), 16);

  unlink (path);
  ck_assert_int_eq (load ("No such file", &cred), -1);
  snprintf (sub, sizeof sub, "%s/sub", dir);
  ck_assert_int_eq (mkdir (sub, 0700), 0);
  ck_assert_int_eq (symlink (sub, path), 0);
  ck_assert_int_eq (load ("not a regular file", &cred), -1);
}
END_TEST

static Suite *
chap_suite (void)
{
  Suite *s = suite_create ("chap");
  TCase *tc = tcase_create ("exchange");
  TCase *files = tcase_create ("secret files");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_response_known_answers);
  tcase_add_test (tc, test_state_names);
  tcase_add_test (tc, test_offer);
  tcase_add_test (tc, test_offer_without_md5);
  tcase_add_test (tc, test_one_way);
  tcase_add_test (tc, test_mutual);
  tcase_add_test (tc, test_wrong_secret);
  tcase_add_test (tc, test_unknown_user);
  tcase_add_test (tc, test_reflected_challenge);
  tcase_add_test (tc, test_mutual_without_target_credentials);
  tcase_add_test (tc, test_same_secret_both_ways);
  tcase_add_test (tc, test_bad_values);
  tcase_add_test (tc, test_out_of_order);
  tcase_add_test (tc, test_challenges_distinct);
  tcase_add_test (tc, test_getrandom_interrupted_and_short);
  tcase_add_test (tc, test_getrandom_fails);
  suite_add_tcase (s, tc);

  tcase_add_checked_fixture (files, secret_setup, secret_teardown);
  tcase_add_test (files, test_secret_line_endings);
  tcase_add_test (files, test_secret_lengths);
  tcase_add_test (files, test_secret_permissions);
  suite_add_tcase (s, files);
  return s;
}

int
main (void)
{
  return sm_test_run (chap_suite ());
}
