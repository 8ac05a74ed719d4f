/* segmap: the target side of iSCSI CHAP (chap.h has the exchange, its
 * states and the security rules; this note says how they are kept).
 *
 * Challenges.  16 bytes: a process-wide serial number (8 bytes,
 * big-endian) followed by 8 fresh bytes from getrandom(2).  The serial
 * starts at a random value drawn once and is incremented under
 * serial_lock for every challenge, so no two challenges of one process
 * can be equal: "never reused" holds by construction (it would take
 * 2^64 exchanges to wrap), needs no record of past challenges and no
 * retry loop.  A ring of the last N challenges was the alternative; it
 * only covers its window, past which we would be trusting the odds
 * anyway.  The price: someone who saw one challenge can predict the
 * serial half of the next, so each exchange is unpredictable by its 64
 * random bits plus the random 8-bit CHAP_I -- guessing a future
 * (CHAP_I, CHAP_C) to harvest a response in advance takes ~2^72 tries.
 * The random start keeps the serial from telling how many logins the
 * process has served.  If getrandom fails, the exchange fails.
 *
 * Verification, in this order, each failure refusing the login:
 *   1. syntax: CHAP_N 1-255 bytes without control characters (it goes
 *      to the log), CHAP_R exactly 16 bytes once decoded;
 *   2. mutual CHAP only (CHAP_I or CHAP_C present): both are, the target
 *      has credentials, CHAP_I is 0..255 (a number as RFC 7143 §6.1
 *      writes them: decimal or 0x-hex, the syntax params.c checked),
 *      CHAP_C is 1..ISCSI_BINARY_MAX bytes and not our own challenge;
 *   3. LOOKUP knows CHAP_N, and CHAP_R is MD5 (our id, its secret, our
 *      challenge), compared in constant time;
 *   4. CHAP_R is not what the target's own secret would give (RFC 7143
 *      §9.2.1: a secret used for both directions fails the login);
 *   5. mutual CHAP only: answer CHAP_N and CHAP_R with the target's
 *      secret.  Our response is only ever computed for an initiator that
 *      has just proved itself, so the target is no oracle for strangers.
 * Every way out of chap_verify but success goes through refuse(), which
 * sets FAILED: each challenge gets one answer checked, never two.
 * Nothing is allocated; secrets copied to the stack are wiped before
 * returning.
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/md5.h>
#include <nettle/memops.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/chap.h"
#include "iscsi/params.h"

#define SERIAL_LEN 8            /* leading bytes of a challenge */

/* The serial of the next challenge, drawn at random on first use. */
static pthread_mutex_t serial_lock = PTHREAD_MUTEX_INITIALIZER;
static bool serial_seeded;      /* protected by serial_lock */
static uint64_t serial_next;    /* protected by serial_lock */

const char *
chap_state_to_string (enum chap_state s)
{
  switch (s) {
  case CHAP_START: return "START";
  case CHAP_CHALLENGED: return "CHALLENGED";
  case CHAP_DONE: return "DONE";
  case CHAP_FAILED: return "FAILED";
  }
  return "?";
}

void
chap_init (struct chap *c)
{
  memset (c, 0, sizeof *c);
  c->state = CHAP_START;
}

void
chap_response (uint8_t id, const uint8_t *secret, size_t secret_len,
               const uint8_t *challenge, size_t challenge_len,
               uint8_t out[CHAP_MD5_LEN])
{
  struct md5_ctx ctx;

  md5_init (&ctx);
  md5_update (&ctx, 1, &id);
  md5_update (&ctx, secret_len, secret);
  md5_update (&ctx, challenge_len, challenge);
  md5_digest (&ctx, CHAP_MD5_LEN, out);
  explicit_bzero (&ctx, sizeof ctx);
}

/* Fill LEN bytes from getrandom(2), across EINTR and short reads.
 * Returns 0, or -1 with sm_error. */
static int
random_bytes (void *buf, size_t len)
{
  uint8_t *p = buf;

  while (len > 0) {
    ssize_t n = getrandom (p, len, 0);

    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      sm_error ("iSCSI CHAP: getrandom: %m");
      return -1;
    }
    p += n;
    len -= n;
  }
  return 0;
}

static int
next_serial (uint64_t *serial)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&serial_lock);

  if (!serial_seeded) {
    if (random_bytes (&serial_next, sizeof serial_next) == -1)
      return -1;
    serial_seeded = true;
  }
  *serial = serial_next++;
  return 0;
}

/* A fresh CHAP_I and CHAP_C in C (see the note above). */
static int
new_challenge (struct chap *c)
{
  uint8_t fresh[1 + CHAP_CHALLENGE_LEN - SERIAL_LEN];
  uint64_t serial;
  int i;

  if (next_serial (&serial) == -1
      || random_bytes (fresh, sizeof fresh) == -1)
    return -1;
  for (i = 0; i < SERIAL_LEN; i++)
    c->challenge[i] = serial >> (8 * (SERIAL_LEN - 1 - i));
  c->id = fresh[0];
  memcpy (&c->challenge[SERIAL_LEN], &fresh[1], sizeof fresh - 1);
  return 0;
}

/* Whether the CHAP_A list offers MD5. */
static bool
offers_md5 (const char *list)
{
  char item[ISCSI_VALUE_MAX + 1];
  const char *p = list;

  for (;;) {
    size_t len = strcspn (p, ",");
    uint64_t v;

    if (len > 0 && len < sizeof item) {
      memcpy (item, p, len);
      item[len] = '\0';
      if (iscsi_parse_number (item, 255, &v) == 0 && v == ISCSI_CHAP_MD5)
        return true;
    }
    if (p[len] == '\0')
      return false;
    p += len + 1;
  }
}

enum chap_state
chap_offer (struct chap *c, const char *chap_a,
            struct iscsi_text_builder *resp)
{
  char hex[2 + 2 * CHAP_CHALLENGE_LEN + 1];
  enum chap_state was = c->state;

  c->state = CHAP_FAILED;
  if (was != CHAP_START) {
    sm_error ("iSCSI CHAP: CHAP_A in state %s", chap_state_to_string (was));
    return CHAP_FAILED;
  }
  if (chap_a == NULL || !offers_md5 (chap_a)) {
    sm_error ("iSCSI CHAP: the initiator does not offer CHAP_A=5 (MD5)");
    (void) iscsi_text_add (resp, "CHAP_A", "Reject");
    return CHAP_FAILED;
  }
  if (new_challenge (c) == -1)
    return CHAP_FAILED;
  iscsi_binary_encode_hex (c->challenge, CHAP_CHALLENGE_LEN, hex, sizeof hex);
  if (iscsi_text_add (resp, "CHAP_A", "5") == -1
      || iscsi_text_addf (resp, "CHAP_I", "%u", c->id) == -1
      || iscsi_text_add (resp, "CHAP_C", hex) == -1)
    return CHAP_FAILED;
  return c->state = CHAP_CHALLENGED;
}

/* The initiator's mutual challenge, decoded. */
struct mutual {
  uint8_t id;
  uint8_t challenge[ISCSI_BINARY_MAX];
  size_t len;
};

/* The checks of the design note; each returns NULL if VALUE passes, or
 * why it does not. */

static const char *
check_user (const char *n)
{
  size_t len = strlen (n), i;

  if (len == 0 || len > CHAP_USER_MAX)
    return "CHAP_N is empty or longer than 255 bytes";
  for (i = 0; i < len; i++)
    if ((unsigned char) n[i] < 0x20 || n[i] == 0x7f)
      return "CHAP_N contains control characters";
  return NULL;
}

static const char *
decode_response (const char *r, uint8_t out[CHAP_MD5_LEN])
{
  size_t len;

  if (iscsi_binary_decode (r, NULL, ISCSI_BINARY_MAX, &len) != ISCSI_TEXT_OK)
    return "CHAP_R is not a binary value of at most 1024 bytes";
  if (len != CHAP_MD5_LEN)
    return "CHAP_R is not 16 bytes long";
  iscsi_binary_decode (r, out, CHAP_MD5_LEN, &len);
  return NULL;
}

static const char *
parse_mutual (const struct chap *c, const char *i, const char *challenge,
              const struct chap_credentials *target_cred, struct mutual *m)
{
  uint64_t id;

  if (i == NULL || challenge == NULL)
    return "CHAP_I and CHAP_C must come together";
  if (target_cred == NULL)
    return "mutual CHAP requested but the target has no credentials";
  if (target_cred->user[0] == '\0' || target_cred->secret_len == 0
      || target_cred->secret_len > CHAP_SECRET_MAX)
    return "the target's CHAP credentials are incomplete";
  if (iscsi_parse_number (i, 255, &id) == -1)
    return "CHAP_I is not a number 0..255";
  m->id = id;
  if (iscsi_binary_decode (challenge, m->challenge, sizeof m->challenge,
                           &m->len) != ISCSI_TEXT_OK)
    return "CHAP_C is not a binary value of 1 to 1024 bytes";
  if (m->len == CHAP_CHALLENGE_LEN
      && memeql_sec (m->challenge, c->challenge, CHAP_CHALLENGE_LEN))
    return "CHAP_C reflects our own challenge";
  return NULL;
}

static void
wipe_credentials (struct chap_credentials *cred)
{
  explicit_bzero (cred, sizeof *cred);
}
#define CLEANUP_WIPE_CREDENTIALS __attribute__ ((cleanup (wipe_credentials)))

static const char *
check_response (const struct chap *c, const char *initiator, const char *n,
                const uint8_t r[CHAP_MD5_LEN],
                chap_lookup_fn lookup, void *opaque,
                const struct chap_credentials *target_cred)
{
  CLEANUP_WIPE_CREDENTIALS struct chap_credentials cred = { .secret_len = 0 };
  uint8_t expected[CHAP_MD5_LEN];

  if (lookup (opaque, initiator, n, &cred) == -1)
    return "unknown CHAP user";
  if (cred.secret_len == 0 || cred.secret_len > CHAP_SECRET_MAX)
    return "the user's CHAP secret is empty or too long";
  chap_response (c->id, cred.secret, cred.secret_len,
                 c->challenge, CHAP_CHALLENGE_LEN, expected);
  if (!memeql_sec (expected, r, CHAP_MD5_LEN))
    return "wrong CHAP_R";
  if (target_cred == NULL || target_cred->secret_len == 0
      || target_cred->secret_len > CHAP_SECRET_MAX)
    return NULL;
  chap_response (c->id, target_cred->secret, target_cred->secret_len,
                 c->challenge, CHAP_CHALLENGE_LEN, expected);
  if (memeql_sec (expected, r, CHAP_MD5_LEN))
    return "the user's CHAP secret is also the target's";
  return NULL;
}

static const char *
answer_mutual (const struct mutual *m,
               const struct chap_credentials *target_cred,
               struct iscsi_text_builder *resp)
{
  uint8_t r[CHAP_MD5_LEN];
  char hex[2 + 2 * CHAP_MD5_LEN + 1];

  chap_response (m->id, target_cred->secret, target_cred->secret_len,
                 m->challenge, m->len, r);
  iscsi_binary_encode_hex (r, CHAP_MD5_LEN, hex, sizeof hex);
  if (iscsi_text_add (resp, "CHAP_N", target_cred->user) == -1
      || iscsi_text_add (resp, "CHAP_R", hex) == -1)
    return "cannot build the mutual CHAP answer";
  return NULL;
}

/* Log why the login of INITIATOR (as USER, if it is fit to print) was
 * refused, and fail the exchange.  The reason comes first: the names
 * may be long. */
static enum chap_state
refuse (struct chap *c, const char *initiator, const char *user,
        const char *why)
{
  sm_error ("iSCSI CHAP: %s: login of %s%s%s refused", why, initiator,
            user ? " as CHAP user " : "", user ? user : "");
  return c->state = CHAP_FAILED;
}

enum chap_state
chap_verify (struct chap *c, const char *initiator,
             const char *n, const char *r,
             const char *i, const char *challenge,
             chap_lookup_fn lookup, void *opaque,
             const struct chap_credentials *target_cred,
             struct iscsi_text_builder *resp)
{
  bool mutual = i != NULL || challenge != NULL;
  uint8_t r_bytes[CHAP_MD5_LEN];
  struct mutual m;
  const char *why;

  assert (initiator != NULL && lookup != NULL);
  if (c->state != CHAP_CHALLENGED)
    return refuse (c, initiator, NULL, c->state == CHAP_START
                   ? "CHAP_N/CHAP_R before any challenge"
                   : "CHAP_N/CHAP_R after the exchange ended");
  if (n == NULL || r == NULL)
    return refuse (c, initiator, NULL, "CHAP_N or CHAP_R missing");
  if ((why = check_user (n)) != NULL)
    return refuse (c, initiator, NULL, why);
  why = decode_response (r, r_bytes);
  if (why == NULL && mutual)
    why = parse_mutual (c, i, challenge, target_cred, &m);
  if (why == NULL)
    why = check_response (c, initiator, n, r_bytes, lookup, opaque,
                          target_cred);
  if (why == NULL && mutual)
    why = answer_mutual (&m, target_cred, resp);
  if (why != NULL)
    return refuse (c, initiator, n, why);
  sm_debug ("iSCSI CHAP: %s authenticated as %s%s", initiator, n,
            mutual ? " (mutual)" : "");
  return c->state = CHAP_DONE;
}

/* Read the first line of PATH (at most LINE_MAX_READ bytes) into LINE,
 * without "\n" or "\r\n"; *LEN is its length, or CHAP_SECRET_MAX + 1 if
 * longer.  Returns 0, or -1 with sm_error. */
#define LINE_MAX_READ (CHAP_SECRET_MAX + 3)   /* secret, "\r\n", 1 more */
static int
read_first_line (const char *path, uint8_t line[LINE_MAX_READ], size_t *len)
{
  CLEANUP_CLOSE int fd = -1;
  struct stat st;
  size_t got = 0;
  uint8_t *nl;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd == -1 || fstat (fd, &st) == -1) {
    sm_error ("CHAP secret file %s: %m", path);
    return -1;
  }
  if (!S_ISREG (st.st_mode)) {
    sm_error ("CHAP secret file %s: not a regular file", path);
    return -1;
  }
  if (st.st_mode & 077) {
    sm_error ("CHAP secret file %s: readable or writable by group or "
              "others (mode %04o); chmod 600 it", path,
              (unsigned) (st.st_mode & 07777));
    return -1;
  }
  while (got < LINE_MAX_READ) {
    ssize_t n = read (fd, &line[got], LINE_MAX_READ - got);

    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1) {
      sm_error ("CHAP secret file %s: read: %m", path);
      return -1;
    }
    if (n == 0)
      break;
    got += n;
  }
  nl = memchr (line, '\n', got);
  if (nl == NULL && got == LINE_MAX_READ) {
    *len = CHAP_SECRET_MAX + 1;         /* the line goes on */
    return 0;
  }
  *len = nl ? (size_t) (nl - line) : got;
  if (*len > 0 && line[*len - 1] == '\r')
    (*len)--;
  return 0;
}

int
chap_secret_load (const char *path, struct chap_credentials *cred)
{
  uint8_t line[LINE_MAX_READ];
  size_t len;
  int r;

  r = read_first_line (path, line, &len);
  if (r == 0 && len == 0) {
    sm_error ("CHAP secret file %s: empty (the secret is its first line)",
              path);
    r = -1;
  }
  else if (r == 0 && len < CHAP_SECRET_MIN) {
    sm_error ("CHAP secret file %s: the secret is shorter than %d bytes",
              path, CHAP_SECRET_MIN);
    r = -1;
  }
  else if (r == 0 && len > CHAP_SECRET_MAX) {
    sm_error ("CHAP secret file %s: the secret is longer than %d bytes",
              path, CHAP_SECRET_MAX);
    r = -1;
  }
  if (r == 0) {
    memcpy (cred->secret, line, len);
    cred->secret_len = len;
  }
  explicit_bzero (line, sizeof line);
  return r;
}
