/* segmap: CHAP authentication for iSCSI logins (RFC 7143 §12.1.3,
 * RFC 1994), one-way and mutual, MD5 only (CHAP_A=5).
 *
 * The target side of the exchange, as a small state machine driven by
 * the login layer with the CHAP keys of each Login request (already
 * syntax-checked by iscsi/params.c):
 *
 *   START --CHAP_A=...--> [answer CHAP_A=5, CHAP_I, CHAP_C] CHALLENGED
 *   CHALLENGED --CHAP_N, CHAP_R [, CHAP_I, CHAP_C for mutual]-->
 *        verify; for mutual answer CHAP_N, CHAP_R  --> DONE | FAILED
 *
 * Security rules enforced here:
 *   - challenges (16 bytes) and identifiers come from getrandom(2), a
 *     CSPRNG, and are never reused within the process;
 *   - a mutual challenge equal to the one we sent (a reflection attack)
 *     is refused, as is a mutual challenge when the target has no
 *     secret of its own to answer with;
 *   - CHAP_C / CHAP_R values longer than ISCSI_BINARY_MAX decoded bytes
 *     and CHAP_I outside 0..255 are refused before anything is
 *     allocated;
 *   - secrets shorter than 12 bytes are refused when loaded (RFC 7143
 *     §12.1.3: 96 bits at least); comparison of responses is constant
 *     time.
 *
 * Secrets come from files (chap_secret_load): the first line, without
 * its line ending; the file must not be readable by group or others.
 *
 * Errors: functions return -1 (or CHAP_FAILED) after sm_error, saying
 * what was wrong for the log; the login layer answers the initiator with
 * Login status 0201 (authentication failure) and never tells it why.
 */
#ifndef SEGMAP_ISCSI_CHAP_H
#define SEGMAP_ISCSI_CHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iscsi/text.h"

#define CHAP_CHALLENGE_LEN 16
#define CHAP_MD5_LEN       16
#define CHAP_SECRET_MIN    12
#define CHAP_SECRET_MAX    256
#define CHAP_USER_MAX      255

/* A name and secret: what the initiator must prove (one-way), or what
 * the target proves to the initiator (mutual). */
struct chap_credentials {
  char user[CHAP_USER_MAX + 1];
  uint8_t secret[CHAP_SECRET_MAX];
  size_t secret_len;
};

enum chap_state {
  CHAP_START,                   /* waiting for CHAP_A */
  CHAP_CHALLENGED,              /* sent CHAP_I/CHAP_C, waiting for N/R */
  CHAP_DONE,                    /* the initiator is authenticated */
  CHAP_FAILED,
};

struct chap {
  enum chap_state state;
  uint8_t id;                   /* our CHAP_I */
  uint8_t challenge[CHAP_CHALLENGE_LEN];   /* our CHAP_C */
};

/* Looks up the secret the initiator must know for user name USER
 * (CHAP_N), given the initiator's iSCSI name.  Fills *CRED and returns
 * 0, or -1 if that user may not log in (unknown user). */
typedef int (*chap_lookup_fn) (void *opaque, const char *initiator,
                               const char *user,
                               struct chap_credentials *cred);

void chap_init (struct chap *c);

/* Handle the CHAP_A offer (a list like "5" or "7,5"): appends CHAP_A=5,
 * CHAP_I and CHAP_C to RESP and moves to CHALLENGED.  If MD5 is not
 * offered, appends CHAP_A=Reject and fails.  Returns the new state. */
enum chap_state chap_offer (struct chap *c, const char *chap_a,
                            struct iscsi_text_builder *resp);

/* Handle the initiator's answer: N and R (required), I and C (present
 * only for mutual CHAP, both or neither).  LOOKUP finds the secret for
 * N; TARGET_CRED is the target's own credentials for mutual CHAP (or
 * NULL: mutual CHAP is then refused).  On success appends CHAP_N and
 * CHAP_R to RESP when mutual.  Returns CHAP_DONE or CHAP_FAILED. */
enum chap_state chap_verify (struct chap *c, const char *initiator,
                             const char *n, const char *r,
                             const char *i, const char *challenge,
                             chap_lookup_fn lookup, void *opaque,
                             const struct chap_credentials *target_cred,
                             struct iscsi_text_builder *resp);

/* The CHAP response MD5(id || secret || challenge) (RFC 1994). */
void chap_response (uint8_t id, const uint8_t *secret, size_t secret_len,
                    const uint8_t *challenge, size_t challenge_len,
                    uint8_t out[CHAP_MD5_LEN]);

/* Read a secret from PATH (see above).  Returns 0 or -1 (sm_error:
 * unreadable, group/world readable, empty, too short, too long). */
int chap_secret_load (const char *path, struct chap_credentials *cred);

const char *chap_state_to_string (enum chap_state s);

#endif /* SEGMAP_ISCSI_CHAP_H */
