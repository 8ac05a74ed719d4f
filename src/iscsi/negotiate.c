/* segmap: iSCSI key negotiation, target side (RFC 7143 §6.2, see
 * params.h for the rules and the answers).
 *
 * iscsi_negotiate_key handles one offer in three steps:
 *
 *   lookup        unknown key (X-, X#, anything else) -> NotUnderstood
 *   admission     wrong sender or stage, or negotiated twice in this
 *                 login -> the login fails; leading-only key on a
 *                 non-leading connection -> Reject; data-transfer key
 *                 in a discovery session -> Irrelevant
 *   by type       boolean, number, list, declaration, CHAP, ...
 *
 * iscsi_negotiate_text runs it over a whole request (SessionType first,
 * since it decides what is irrelevant), applies the cross-key rule
 * FirstBurstLength <= MaxBurstLength, and writes the answers in request
 * order followed by the target's due declarations.
 *
 * Session values live in struct iscsi_params; slots[] says where each
 * boolean or number key is kept, for both the target's wishes
 * (cfg->want) and the result (sess).
 */
#include <config.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "iscsi/params.h"

static const char REJECT[] = "Reject";
static const char IRRELEVANT[] = "Irrelevant";
static const char NOT_UNDERSTOOD[] = "NotUnderstood";

struct slot {
  uint16_t off;
  uint8_t size;                 /* 0: the key has no slot */
};

#define SLOT(k, m) [ISCSI_KEY_##k] = { offsetof (struct iscsi_params, m), \
      sizeof (((struct iscsi_params *) 0)->m) }

static const struct slot slots[ISCSI_KEY__COUNT] = {
  SLOT (MAX_CONNECTIONS, max_connections),
  SLOT (INITIAL_R2T, initial_r2t),
  SLOT (IMMEDIATE_DATA, immediate_data),
  SLOT (MAX_RECV_DSL, max_recv_dsl),
  SLOT (MAX_BURST_LENGTH, max_burst_length),
  SLOT (FIRST_BURST_LENGTH, first_burst_length),
  SLOT (DEFAULT_TIME2WAIT, default_time2wait),
  SLOT (DEFAULT_TIME2RETAIN, default_time2retain),
  SLOT (MAX_OUTSTANDING_R2T, max_outstanding_r2t),
  SLOT (DATA_PDU_IN_ORDER, data_pdu_in_order),
  SLOT (DATA_SEQUENCE_IN_ORDER, data_sequence_in_order),
  SLOT (ERROR_RECOVERY_LEVEL, error_recovery_level),
};

static uint32_t
slot_get (const struct iscsi_params *p, unsigned key)
{
  const char *at = (const char *) p + slots[key].off;
  uint8_t v8;
  uint32_t v32;

  if (slots[key].size == 1) {
    memcpy (&v8, at, 1);
    return v8;
  }
  memcpy (&v32, at, 4);
  return v32;
}

static void
slot_set (struct iscsi_params *p, unsigned key, uint32_t v)
{
  char *at = (char *) p + slots[key].off;
  uint8_t v8 = v > 255 ? 255 : v;

  if (slots[key].size == 1)
    memcpy (at, &v8, 1);
  else
    memcpy (at, &v, 4);
}

static enum iscsi_neg_result
say (char *ans, size_t size, const char *s)
{
  snprintf (ans, size, "%s", s);
  return ISCSI_NEG_ANSWER;
}

static enum iscsi_neg_result
fail (uint16_t *status, uint16_t why)
{
  *status = why;
  return ISCSI_NEG_FAIL;
}

/*----------------------------------------------------------------------
 * By type.
 */

static enum iscsi_neg_result
neg_bool (struct iscsi_negotiation *n, const struct iscsi_key_desc *d,
          const char *value, char *ans, size_t size)
{
  int offer = iscsi_parse_bool (value), ours, res;

  if (offer < 0)
    return say (ans, size, REJECT);
  ours = slot_get (&n->cfg->want, d->key) != 0;
  res = d->type == ISCSI_KT_BOOL_AND ? offer && ours : offer || ours;
  slot_set (n->sess, d->key, res);
  return say (ans, size, res ? "Yes" : "No");
}

static enum iscsi_neg_result
neg_number (struct iscsi_negotiation *n, const struct iscsi_key_desc *d,
            const char *value, char *ans, size_t size)
{
  uint64_t offer;
  uint32_t ours, res;

  if (iscsi_parse_number (value, d->max, &offer) == -1 || offer < d->min)
    return say (ans, size, REJECT);
  ours = slot_get (&n->cfg->want, d->key);
  if (d->type == ISCSI_KT_NUM_MIN)
    res = offer < ours ? offer : ours;
  else
    res = offer > ours ? offer : ours;
  slot_set (n->sess, d->key, res);
  snprintf (ans, size, "%" PRIu32, res);
  return ISCSI_NEG_ANSWER;
}

static enum iscsi_neg_result
neg_declared_number (struct iscsi_negotiation *n,
                     const struct iscsi_key_desc *d, const char *value,
                     uint16_t *status)
{
  uint64_t v;

  if (iscsi_parse_number (value, d->max, &v) == -1 || v < d->min)
    return fail (status, ISCSI_LOGIN_INITIATOR_ERROR);
  slot_set (n->sess, d->key, v);
  return ISCSI_NEG_SILENT;
}

/* Which list values the target takes: a code >= 0, or -1. */
typedef int (*accept_fn) (const struct iscsi_negotiation *n,
                          const char *item);

static int
accept_digest (const struct iscsi_negotiation *n, const char *item)
{
  int d = strcmp (item, "None") == 0 ? ISCSI_DIGEST_NONE
    : strcmp (item, "CRC32C") == 0 ? ISCSI_DIGEST_CRC32C : -1;

  return d >= 0 && (n->cfg->digests & (1u << d)) ? d : -1;
}

static int
accept_auth (const struct iscsi_negotiation *n, const char *item)
{
  int a = strcmp (item, "None") == 0 ? ISCSI_AUTH_NONE
    : strcmp (item, "CHAP") == 0 ? ISCSI_AUTH_CHAP : -1;

  return a >= 0 && (n->cfg->auth_methods & (1u << a)) ? a : -1;
}

static int
accept_chap_a (const struct iscsi_negotiation *n, const char *item)
{
  uint64_t v;

  return iscsi_parse_number (item, 255, &v) == 0 && v == ISCSI_CHAP_MD5
    ? ISCSI_CHAP_MD5 : -1;
}

static int
accept_task_reporting (const struct iscsi_negotiation *n, const char *item)
{
  return strcmp (item, "RFC3720") == 0 ? 0 : -1;
}

/* Answer the first offered value ACCEPT takes (its code in *CHOSEN),
 * or Reject (*CHOSEN = -1). */
static enum iscsi_neg_result
neg_list (const struct iscsi_negotiation *n, const char *value,
          accept_fn accept, int *chosen, char *ans, size_t size)
{
  char item[ISCSI_VALUE_MAX + 1];
  const char *p = value;

  for (;;) {
    size_t len = strcspn (p, ",");

    if (len > 0 && len <= ISCSI_VALUE_MAX) {
      memcpy (item, p, len);
      item[len] = '\0';
      if ((*chosen = accept (n, item)) >= 0)
        return say (ans, size, item);
    }
    if (p[len] == '\0')
      break;
    p += len + 1;
  }
  *chosen = -1;
  return say (ans, size, REJECT);
}

static enum iscsi_neg_result
neg_list_key (struct iscsi_negotiation *n, const struct iscsi_key_desc *d,
              const char *value, char *ans, size_t size, uint16_t *status)
{
  struct iscsi_params *s = n->sess;
  enum iscsi_neg_result r;
  int c;

  switch (d->key) {
  case ISCSI_KEY_HEADER_DIGEST:
  case ISCSI_KEY_DATA_DIGEST:
    r = neg_list (n, value, accept_digest, &c, ans, size);
    if (c >= 0 && d->key == ISCSI_KEY_HEADER_DIGEST)
      s->header_digest = c;
    else if (c >= 0)
      s->data_digest = c;
    return r;
  case ISCSI_KEY_AUTH_METHOD:
    r = neg_list (n, value, accept_auth, &c, ans, size);
    s->auth_method = c >= 0 ? c : ISCSI_AUTH_REJECTED;
    return r;
  case ISCSI_KEY_CHAP_A:
    if (s->auth_method != ISCSI_AUTH_CHAP)
      return fail (status, ISCSI_LOGIN_AUTH_FAILURE);
    r = neg_list (n, value, accept_chap_a, &c, ans, size);
    s->chap_a = c >= 0 ? c : 0;
    return r;
  default:
    return neg_list (n, value, accept_task_reporting, &c, ans, size);
  }
}

static enum iscsi_neg_result
neg_string (struct iscsi_negotiation *n, const struct iscsi_key_desc *d,
            const char *value, uint16_t *status)
{
  struct iscsi_params *s = n->sess;

  if (d->key == ISCSI_KEY_SESSION_TYPE) {
    if (strcmp (value, "Normal") == 0)
      s->session_type = ISCSI_SESSION_NORMAL;
    else if (strcmp (value, "Discovery") == 0)
      s->session_type = ISCSI_SESSION_DISCOVERY;
    else
      return fail (status, ISCSI_LOGIN_SESSION_TYPE);
  }
  else if (d->key == ISCSI_KEY_INITIATOR_ALIAS)
    snprintf (s->initiator_alias, sizeof s->initiator_alias, "%s", value);
  return ISCSI_NEG_SILENT;
}

static enum iscsi_neg_result
neg_name (struct iscsi_negotiation *n, const struct iscsi_key_desc *d,
          const char *value, uint16_t *status)
{
  struct iscsi_params *s = n->sess;

  if (!iscsi_name_valid (value))
    return fail (status, ISCSI_LOGIN_INITIATOR_ERROR);
  if (d->key == ISCSI_KEY_INITIATOR_NAME)
    snprintf (s->initiator_name, sizeof s->initiator_name, "%s", value);
  else
    snprintf (s->target_name, sizeof s->target_name, "%s", value);
  return ISCSI_NEG_SILENT;
}

/* CHAP_I/C/N/R: only after CHAP and its algorithm were chosen, and
 * well-formed (the exchange itself is the authenticator's job). */
static enum iscsi_neg_result
neg_chap (struct iscsi_negotiation *n, const struct iscsi_key_desc *d,
          const char *value, uint16_t *status)
{
  uint64_t id;
  size_t len;
  bool ok;

  if (n->sess->auth_method != ISCSI_AUTH_CHAP || n->sess->chap_a == 0)
    return fail (status, ISCSI_LOGIN_AUTH_FAILURE);
  switch (d->key) {
  case ISCSI_KEY_CHAP_I:
    ok = iscsi_parse_number (value, 255, &id) == 0;
    break;
  case ISCSI_KEY_CHAP_C:
  case ISCSI_KEY_CHAP_R:
    ok = iscsi_binary_decode (value, NULL, ISCSI_BINARY_MAX, &len)
      == ISCSI_TEXT_OK;
    break;
  default:                      /* CHAP_N */
    ok = value[0] != '\0';
    break;
  }
  return ok ? ISCSI_NEG_AUTH : fail (status, ISCSI_LOGIN_AUTH_FAILURE);
}

/* "All" (discovery sessions only), a target name, or empty (this
 * session's target). */
static enum iscsi_neg_result
neg_send_targets (struct iscsi_negotiation *n, const char *value,
                  char *ans, size_t size)
{
  if (strcmp (value, "All") == 0) {
    if (n->sess->session_type != ISCSI_SESSION_DISCOVERY)
      return say (ans, size, REJECT);
  }
  else if (value[0] != '\0' && !iscsi_name_valid (value))
    return say (ans, size, REJECT);
  return ISCSI_NEG_SEND_TARGETS;
}

/*----------------------------------------------------------------------
 * One key.
 */

/* Whether D may be negotiated now; if not, *R is the outcome. */
static bool
admitted (struct iscsi_negotiation *n, const struct iscsi_key_desc *d,
          char *ans, size_t size, uint16_t *status,
          enum iscsi_neg_result *r)
{
  bool login = n->stage != ISCSI_STAGE_FULL_FEATURE;
  uint64_t bit = UINT64_C (1) << d->key;

  if (!(d->senders & ISCSI_BY_INITIATOR)
      || n->stage > ISCSI_STAGE_FULL_FEATURE
      || !(d->stages & (1u << n->stage)))
    *r = login ? fail (status, ISCSI_LOGIN_INITIATOR_ERROR)
      : say (ans, size, REJECT);
  else if (login && (n->sess->seen & bit))
    *r = fail (status, ISCSI_LOGIN_INITIATOR_ERROR);
  else if ((d->flags & ISCSI_KF_LEADING_ONLY) && !n->leading)
    *r = say (ans, size, REJECT);
  else if ((d->flags & ISCSI_KF_NO_DISCOVERY)
           && n->sess->session_type == ISCSI_SESSION_DISCOVERY)
    *r = say (ans, size, IRRELEVANT);
  else
    return true;
  return false;
}

static enum iscsi_neg_result
by_type (struct iscsi_negotiation *n, const struct iscsi_key_desc *d,
         const char *value, char *ans, size_t size, uint16_t *status)
{
  switch (d->type) {
  case ISCSI_KT_BOOL_AND: case ISCSI_KT_BOOL_OR:
    return neg_bool (n, d, value, ans, size);
  case ISCSI_KT_NUM_MIN: case ISCSI_KT_NUM_MAX:
    return neg_number (n, d, value, ans, size);
  case ISCSI_KT_NUM_DECL:
    return neg_declared_number (n, d, value, status);
  case ISCSI_KT_LIST:
    return neg_list_key (n, d, value, ans, size, status);
  case ISCSI_KT_STRING:
    return neg_string (n, d, value, status);
  case ISCSI_KT_NAME:
    return neg_name (n, d, value, status);
  case ISCSI_KT_CHAP:
    return neg_chap (n, d, value, status);
  case ISCSI_KT_SEND_TARGETS:
    return neg_send_targets (n, value, ans, size);
  case ISCSI_KT_MARKER:         /* RFC 7143 §13.25: answer No */
    return say (ans, size, iscsi_parse_bool (value) < 0 ? REJECT : "No");
  default:                      /* IFMarkInt, OFMarkInt */
    return say (ans, size, REJECT);
  }
}

enum iscsi_neg_result
iscsi_negotiate_key (struct iscsi_negotiation *n, const char *key,
                     const char *value, char *answer, size_t answer_size,
                     uint16_t *status)
{
  const struct iscsi_key_desc *d = iscsi_key_lookup (key);
  enum iscsi_neg_result r;

  *status = ISCSI_LOGIN_SUCCESS;
  if (answer_size > 0)
    answer[0] = '\0';
  if (d == NULL)
    return say (answer, answer_size, NOT_UNDERSTOOD);
  if (!admitted (n, d, answer, answer_size, status, &r))
    return r;
  if (n->stage != ISCSI_STAGE_FULL_FEATURE)
    n->sess->seen |= UINT64_C (1) << d->key;
  return by_type (n, d, value, answer, answer_size, status);
}

/*----------------------------------------------------------------------
 * A whole request.
 */

struct pending {
  bool has;
  uint8_t result;               /* enum iscsi_neg_result */
  char answer[ISCSI_VALUE_MAX + 1];
};

/* Negotiate one pair; 0 or the Login status of a failure. */
static int
negotiate_pair (struct iscsi_negotiation *n,
                const struct iscsi_text_pair *pair, struct pending *pend)
{
  const struct iscsi_key_desc *d = iscsi_key_lookup (pair->key);
  char ans[ISCSI_VALUE_MAX + 1];
  enum iscsi_neg_result r;
  uint16_t status;

  r = iscsi_negotiate_key (n, pair->key, pair->value, ans, sizeof ans,
                           &status);
  if (r == ISCSI_NEG_FAIL)
    return status;
  if (d == NULL)
    return 0;
  pend[d->key].has = true;
  pend[d->key].result = r;
  memcpy (pend[d->key].answer, ans, sizeof ans);
  if (r == ISCSI_NEG_AUTH)
    n->chap[d->key] = pair;
  else if (r == ISCSI_NEG_SEND_TARGETS)
    n->send_targets = pair->value;
  return 0;
}

/* FirstBurstLength is Irrelevant when no unsolicited data can be sent,
 * and never more than MaxBurstLength (RFC 7143 §13.14). */
static void
fix_first_burst (struct iscsi_negotiation *n, struct pending *pend)
{
  struct iscsi_params *s = n->sess;
  struct pending *p = &pend[ISCSI_KEY_FIRST_BURST_LENGTH];
  bool valued = p->has && p->result == ISCSI_NEG_ANSWER
    && p->answer[0] >= '0' && p->answer[0] <= '9';

  if (valued && s->initial_r2t && !s->immediate_data) {
    say (p->answer, sizeof p->answer, IRRELEVANT);
    return;
  }
  if (s->first_burst_length > s->max_burst_length) {
    s->first_burst_length = s->max_burst_length;
    if (valued)
      snprintf (p->answer, sizeof p->answer, "%" PRIu32,
                s->first_burst_length);
  }
}

/* What the target must declare itself in this stage, once. */
static int
declare (struct iscsi_negotiation *n, struct iscsi_text_builder *resp)
{
  const struct iscsi_target_config *c = n->cfg;

  if (n->stage == ISCSI_STAGE_FULL_FEATURE)
    return 0;
  if (!n->declared_tpgt && n->sess->session_type == ISCSI_SESSION_NORMAL) {
    if (iscsi_text_addf (resp, "TargetPortalGroupTag", "%u",
                         (unsigned) c->portal_group_tag) == -1)
      return -1;
    if (c->target_alias != NULL
        && iscsi_text_add (resp, "TargetAlias", c->target_alias) == -1)
      return -1;
    n->declared_tpgt = true;
  }
  if (!n->declared_mrdsl && n->stage == ISCSI_STAGE_OPERATIONAL) {
    if (iscsi_text_addf (resp, "MaxRecvDataSegmentLength", "%" PRIu32,
                         c->want.max_recv_dsl) == -1)
      return -1;
    n->declared_mrdsl = true;
  }
  return 0;
}

static int
emit_answers (const struct iscsi_text *req, const struct pending *pend,
              struct iscsi_text_builder *resp)
{
  size_t i;

  for (i = 0; i < req->n; i++) {
    const struct iscsi_text_pair *pair = &req->pairs[i];
    const struct iscsi_key_desc *d = iscsi_key_lookup (pair->key);
    int r = 0;

    if (d == NULL)
      r = iscsi_text_add (resp, pair->key, NOT_UNDERSTOOD);
    else if (pend[d->key].has && pend[d->key].result == ISCSI_NEG_ANSWER)
      r = iscsi_text_add (resp, pair->key, pend[d->key].answer);
    if (r == -1)
      return -1;
  }
  return 0;
}

int
iscsi_negotiate_text (struct iscsi_negotiation *n,
                      const struct iscsi_text *req,
                      struct iscsi_text_builder *resp)
{
  struct pending pend[ISCSI_KEY__COUNT];
  size_t i;
  int pass, st;

  memset (pend, 0, sizeof pend);
  memset (n->chap, 0, sizeof n->chap);
  n->send_targets = NULL;
  /* SessionType first: it decides which keys are Irrelevant. */
  for (pass = 0; pass < 2; pass++)
    for (i = 0; i < req->n; i++) {
      bool session_type = strcmp (req->pairs[i].key, "SessionType") == 0;

      if (session_type != (pass == 0))
        continue;
      if ((st = negotiate_pair (n, &req->pairs[i], pend)) != 0)
        return st;
    }
  fix_first_burst (n, pend);
  if (emit_answers (req, pend, resp) == -1)
    return -1;
  return declare (n, resp);
}
