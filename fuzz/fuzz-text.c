/* segmap: libFuzzer harness for iSCSI login/text segments and key
 * negotiation (src/iscsi/text*.c, params.c, negotiate.c).
 *
 * Input: two option bytes (stage, session and auth state, where to cut
 * the text into continuation PDUs), then the text.  Invariants:
 *  - the accumulator never holds or allocates more than its limit;
 *  - a text that parses is rebuilt by the builder to the same bytes;
 *  - negotiating it never fails oddly, its answers parse again, and
 *    the session keeps FirstBurstLength <= MaxBurstLength;
 *  - binary values decode within their bound.
 *
 * Not part of the autotools build: fuzz/run-fuzz.sh text SECONDS.
 */
#include <config.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "iscsi/params.h"
#include "iscsi/text.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
quiet (const char *fmt, va_list args)
{
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  sm_set_log_sinks (quiet, quiet);
  return 0;
}

static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-text: %s\n", what);
  abort ();
}

/* Feed DATA to an accumulator in up to three PDUs cut at A and B. */
static int
accumulate (const uint8_t *data, size_t size, size_t a, size_t b,
            struct iscsi_text_acc *acc)
{
  size_t cuts[4] = { 0, a % (size + 1), 0, size }, i;

  cuts[2] = cuts[1] + b % (size - cuts[1] + 1);
  iscsi_text_acc_init (acc, 0);
  for (i = 0; i < 3; i++) {
    enum iscsi_text_error e =
      iscsi_text_acc_append (acc, data + cuts[i], cuts[i + 1] - cuts[i]);

    if (acc->cap > acc->limit || acc->len > acc->limit)
      fail ("accumulator grew past its limit");
    if (e != ISCSI_TEXT_OK)
      return -1;
  }
  return 0;
}

static void
check_rebuild (const struct iscsi_text *t, const uint8_t *data, size_t size)
{
  struct iscsi_text_builder b = { 0 };
  size_t i, n;
  uint8_t bin[ISCSI_BINARY_MAX];

  for (i = 0; i < t->n; i++) {
    if (iscsi_text_add (&b, t->pairs[i].key, t->pairs[i].value) == -1)
      fail ("builder refuses a parsed pair");
    if (iscsi_binary_decode (t->pairs[i].value, bin, sizeof bin, &n)
        == ISCSI_TEXT_OK && n > sizeof bin)
      fail ("binary value over its bound");
  }
  if (b.len != size || (size > 0 && memcmp (b.buf, data, size) != 0))
    fail ("rebuilt text differs");
  iscsi_text_builder_clear (&b);
}

static void
check_negotiation (const struct iscsi_text *t, uint8_t opt)
{
  static const uint8_t stages[4] = { 0, 1, 3, 1 };
  struct iscsi_target_config cfg;
  struct iscsi_params sess;
  struct iscsi_negotiation n = { .cfg = &cfg, .sess = &sess };
  struct iscsi_text_builder b = { 0 };
  struct iscsi_text r;
  int st;

  iscsi_target_config_defaults (&cfg);
  if (opt & 4)
    cfg.auth_methods = 1u << ISCSI_AUTH_CHAP;
  iscsi_params_defaults (&sess);
  n.stage = stages[opt & 3];
  n.leading = !(opt & 8);
  sess.session_type = (opt & 16) ? ISCSI_SESSION_DISCOVERY
    : ISCSI_SESSION_NORMAL;
  sess.auth_method = (opt & 32) ? ISCSI_AUTH_CHAP : ISCSI_AUTH_NONE;
  sess.chap_a = (opt & 64) ? ISCSI_CHAP_MD5 : 0;
  st = iscsi_negotiate_text (&n, t, &b);
  if (st < 0)
    fail ("negotiation could not build its answer");
  if (st == 0) {
    if (iscsi_text_parse (b.buf, b.len, 0, &r, NULL) != ISCSI_TEXT_OK)
      fail ("answers do not parse");
    iscsi_text_clear (&r);
    if (sess.first_burst_length > sess.max_burst_length)
      fail ("FirstBurstLength > MaxBurstLength");
  }
  iscsi_text_builder_clear (&b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct iscsi_text_acc acc;
  struct iscsi_text t;
  uint8_t opt, cut;

  if (size < 2)
    return 0;
  opt = data[0];
  cut = data[1];
  data += 2;
  size -= 2;
  if (accumulate (data, size, cut & 0x0f, cut >> 4, &acc) == 0
      && (acc.len != size || (size && memcmp (acc.buf, data, size) != 0)))
    fail ("accumulator lost bytes");
  iscsi_text_acc_clear (&acc);
  if (iscsi_text_parse (data, size, (opt & 128) ? ISCSI_TEXT_ALLOW_DUPLICATES
                        : 0, &t, NULL) != ISCSI_TEXT_OK)
    return 0;
  check_rebuild (&t, data, size);
  if (!(opt & 128))
    check_negotiation (&t, opt);
  iscsi_text_clear (&t);
  return 0;
}
