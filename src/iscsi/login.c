/* segmap: the iSCSI login phase, target side (RFC 7143 §6.3, §11.12,
 * §11.13), as a pure state machine: decoded Login Requests in, Login
 * Responses out.  Sockets, TSIHs and sessions are the caller's
 * (conn.c, session.c), so unit tests drive this directly.
 *
 * States (the stage the next request must be in):
 *
 *   SECURITY ---T=1,NSG=1---> OPERATIONAL ---T=1,NSG=3---> DONE
 *      |  \______________T=1,NSG=3______________________/^
 *      +-- any failure --> FAILED (answered, then the caller closes)
 *
 *   The first request may start in OPERATIONAL (no security stage)
 *   unless CHAP is required.
 *
 * Rules enforced here:
 *   - ISID, TSIH and CID never change within a login (0200);
 *   - the request's CSG is the current stage (0200);
 *   - continued requests (C=1) are accumulated up to 8 KiB (0200 past
 *     it) and answered with empty responses; an answer longer than one
 *     PDU is sent in pieces with C=1, each asked for by an empty
 *     request;
 *   - InitiatorName is required, TargetName too in a normal session
 *     (0207); the target must be PREFIX:VDISK of a vdisk the initiator
 *     is allowed -- otherwise 0203 in both cases, so that an initiator
 *     that is not allowed cannot learn which targets exist;
 *   - when hooks->chap_required, AuthMethod must be CHAP and the CHAP
 *     exchange must succeed before leaving the security stage (0201);
 *     otherwise only AuthMethod=None is offered;
 *   - keys are negotiated by iscsi_negotiate_text (params.h), which
 *     fails the login for stage and sender violations.
 *
 * Our MaxRecvDataSegmentLength is only in force if we declared it,
 * which happens in the operational stage (neg.declared_mrdsl); an
 * initiator that goes straight from security to full feature phase
 * keeps the default 8192 both ways.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "iscsi/target-internal.h"

const char *
login_state_to_string (enum login_state s)
{
  switch (s) {
  case LOGIN_SECURITY: return "security";
  case LOGIN_OPERATIONAL: return "operational";
  case LOGIN_DONE: return "done";
  case LOGIN_FAILED: return "failed";
  }
  return "unknown";
}

void
login_init (struct login *l, const struct login_env *env)
{
  memset (l, 0, sizeof *l);
  l->env = env;
  l->state = LOGIN_SECURITY;
  iscsi_text_acc_init (&l->acc, ISCSI_TEXT_MAX);
  l->cfg = *env->cfg;
  iscsi_params_defaults (&l->params);
  l->neg.cfg = &l->cfg;
  l->neg.sess = &l->params;
  chap_init (&l->chap);
}

void
login_clear (struct login *l)
{
  iscsi_text_acc_clear (&l->acc);
  iscsi_text_builder_clear (&l->resp);
}

/* The common fields of every answer to REQ. */
static void
reply_init (struct login *l, const struct iscsi_pdu *req,
            struct login_reply *r)
{
  memset (r, 0, sizeof *r);
  iscsi_pdu_init (&r->pdu, ISCSI_OP_LOGIN_RESP);
  r->pdu.version_max = 0;
  r->pdu.version_min = 0;
  r->pdu.isid = l->isid;
  r->pdu.tsih = l->tsih;
  r->pdu.itt = req->itt;
  r->pdu.csg = req->csg;
}

void
login_fail (struct login *l, uint16_t status, struct login_reply *r)
{
  sm_debug ("iscsi login: failed in %s stage: %s",
            login_state_to_string (l->state),
            iscsi_login_status_to_string (status));
  l->state = LOGIN_FAILED;
  r->pdu.status_class = status >> 8;
  r->pdu.status_detail = status & 0xff;
  r->pdu.transit = false;
  r->pdu.cont = false;
  r->pdu.nsg = 0;
  r->pdu.data = NULL;
  r->pdu.data_len = 0;
  r->close = true;
  r->done = false;
}

/* Send the next piece of l->resp (at most one login PDU). */
static void
reply_piece (struct login *l, struct login_reply *r)
{
  bool more = false;
  size_t n = iscsi_text_chunk (&l->resp, l->resp_off, ISCSI_LOGIN_DSL,
                               &more);

  r->pdu.data = (const uint8_t *) l->resp.buf + l->resp_off;
  r->pdu.data_len = n;
  l->resp_off += n;
  r->pdu.cont = more;
  if (!more) {
    r->pdu.transit = l->resp_transit;
    r->pdu.nsg = l->resp_transit ? l->resp_nsg : 0;
    if (l->resp_transit)
      l->state = l->resp_nsg == ISCSI_STAGE_FULL_FEATURE ? LOGIN_DONE
        : LOGIN_OPERATIONAL;
    r->done = l->state == LOGIN_DONE;
  }
}

/* The first request fixes ISID, TSIH and CID; later ones must agree. */
static bool
same_login (struct login *l, const struct iscsi_pdu *req)
{
  if (!l->started) {
    l->started = true;
    l->isid = req->isid;
    l->tsih = req->tsih;
    l->cid = req->cid;
    l->itt = req->itt;
    l->cmdsn = req->cmdsn;
    if (req->csg == ISCSI_STAGE_OPERATIONAL)
      l->state = LOGIN_OPERATIONAL;
    return true;
  }
  return req->isid == l->isid && req->tsih == l->tsih && req->cid == l->cid;
}

static uint8_t
state_stage (enum login_state s)
{
  return s == LOGIN_SECURITY ? ISCSI_STAGE_SECURITY
    : ISCSI_STAGE_OPERATIONAL;
}

/* Who the initiator is and what it logs in to, from the first whole
 * request (before negotiating it: the initiator decides which
 * AuthMethod we accept).  Returns 0 or a Login status. */
static uint16_t
identify (struct login *l, const struct iscsi_text *req)
{
  const struct iscsi_target_hooks *hk = l->env->hooks;
  const char *initiator = iscsi_text_find (req, "InitiatorName");
  const char *type = iscsi_text_find (req, "SessionType");
  const char *target = iscsi_text_find (req, "TargetName");

  if (l->identified)
    return 0;
  l->identified = true;
  if (initiator == NULL || initiator[0] == '\0')
    return ISCSI_LOGIN_MISSING_PARAMETER;
  if (type == NULL || strcmp (type, "Discovery") != 0) {
    if (target == NULL || target[0] == '\0')
      return ISCSI_LOGIN_MISSING_PARAMETER;
    if (!discovery_vdisk_of (l->env, target, l->vdisk, sizeof l->vdisk)
        || !hk->allowed (l->env->h, initiator, l->vdisk)) {
      l->vdisk[0] = '\0';
      return ISCSI_LOGIN_NOT_FOUND;
    }
  }
  l->chap_required = hk->chap_required != NULL
    && hk->chap_required (l->env->h, initiator);
  l->cfg.auth_methods = l->chap_required ? 1u << ISCSI_AUTH_CHAP
    : 1u << ISCSI_AUTH_NONE;
  if (!l->chap_required)
    l->authenticated = true;
  return 0;
}

/* Our answer to CHAP_A: CHAP_I and CHAP_C (the negotiator answered
 * CHAP_A itself).  Returns 0, a Login status, or -1. */
static int
chap_challenge (struct login *l, const char *chap_a,
                struct iscsi_text_builder *resp)
{
  struct iscsi_text_builder tmp = { 0 };
  struct iscsi_text parsed;
  enum chap_state st;
  size_t i;
  int ret = 0;

  if (l->params.chap_a != ISCSI_CHAP_MD5)
    return ISCSI_LOGIN_AUTH_FAILURE;
  st = chap_offer (&l->chap, chap_a, &tmp);
  if (st != CHAP_CHALLENGED) {
    iscsi_text_builder_clear (&tmp);
    return ISCSI_LOGIN_AUTH_FAILURE;
  }
  if (iscsi_text_parse (tmp.buf, tmp.len, 0, &parsed, NULL)
      != ISCSI_TEXT_OK) {
    iscsi_text_builder_clear (&tmp);
    sm_error ("iscsi login: CHAP produced an unreadable challenge");
    return -1;
  }
  for (i = 0; i < parsed.n && ret == 0; i++)
    if (strcmp (parsed.pairs[i].key, "CHAP_A") != 0)
      ret = iscsi_text_add (resp, parsed.pairs[i].key,
                            parsed.pairs[i].value);
  iscsi_text_clear (&parsed);
  iscsi_text_builder_clear (&tmp);
  return ret;
}

/* The initiator's CHAP_N / CHAP_R (and CHAP_I / CHAP_C for mutual). */
static int
chap_answer (struct login *l, struct iscsi_text_builder *resp)
{
  const struct iscsi_text_pair *const *k = l->neg.chap;
  const struct iscsi_target_hooks *hk = l->env->hooks;
  struct chap_credentials own;
  const struct chap_credentials *mine = NULL;
  enum chap_state st;

  if (k[ISCSI_KEY_CHAP_N] == NULL || k[ISCSI_KEY_CHAP_R] == NULL
      || l->chap.state != CHAP_CHALLENGED)
    return ISCSI_LOGIN_AUTH_FAILURE;
  if ((k[ISCSI_KEY_CHAP_I] == NULL) != (k[ISCSI_KEY_CHAP_C] == NULL))
    return ISCSI_LOGIN_AUTH_FAILURE;
  if (k[ISCSI_KEY_CHAP_C] != NULL && hk->target_credentials != NULL
      && hk->target_credentials (l->env->h, l->params.initiator_name,
                                 &own) == 0)
    mine = &own;
  st = chap_verify (&l->chap, l->params.initiator_name,
                    k[ISCSI_KEY_CHAP_N]->value, k[ISCSI_KEY_CHAP_R]->value,
                    k[ISCSI_KEY_CHAP_I] ? k[ISCSI_KEY_CHAP_I]->value : NULL,
                    k[ISCSI_KEY_CHAP_C] ? k[ISCSI_KEY_CHAP_C]->value : NULL,
                    hk->lookup_secret, l->env->h, mine, resp);
  memset (&own, 0, sizeof own);
  if (st != CHAP_DONE)
    return ISCSI_LOGIN_AUTH_FAILURE;
  l->chap_mutual = mine != NULL;
  l->authenticated = true;
  return 0;
}

/* The security stage's own work after negotiation. */
static int
security (struct login *l, const struct iscsi_text *req,
          struct iscsi_text_builder *resp)
{
  const char *chap_a = iscsi_text_find (req, "CHAP_A");
  bool any_chap = false;
  size_t i;

  for (i = 0; i < ISCSI_KEY__COUNT; i++)
    any_chap |= l->neg.chap[i] != NULL;
  if (l->params.auth_method == ISCSI_AUTH_REJECTED)
    return ISCSI_LOGIN_AUTH_FAILURE;
  if (chap_a != NULL)
    return chap_challenge (l, chap_a, resp);
  if (any_chap)
    return chap_answer (l, resp);
  return 0;
}

/* May the login leave the current stage as the request asks?  Sets
 * *TRANSIT (false: we answer T=0 and the exchange goes on). */
static uint16_t
may_transit (struct login *l, const struct iscsi_pdu *req, bool *transit)
{
  *transit = req->transit;
  if (!req->transit)
    return 0;
  if (l->authenticated)
    return 0;
  /* CHAP is required and not finished: go on with the exchange. */
  if (l->state == LOGIN_SECURITY
      && l->params.auth_method == ISCSI_AUTH_CHAP
      && (l->chap.state == CHAP_START || l->chap.state == CHAP_CHALLENGED)) {
    *transit = false;
    return 0;
  }
  return ISCSI_LOGIN_AUTH_FAILURE;
}

/* Negotiate one whole request TEXT into l->resp.  Returns 0, a Login
 * status, or -1. */
static int
negotiate (struct login *l, const struct iscsi_pdu *req,
           const struct iscsi_text *text)
{
  int st;

  if ((st = identify (l, text)) != 0)
    return st;
  l->neg.stage = req->csg;
  l->neg.leading = l->tsih == 0;
  st = iscsi_negotiate_text (&l->neg, text, &l->resp);
  if (st != 0)
    return st;
  if (req->csg == ISCSI_STAGE_SECURITY)
    return security (l, text, &l->resp);
  if (!l->authenticated)
    return ISCSI_LOGIN_AUTH_FAILURE;   /* skipped the security stage */
  return 0;
}

/* A whole request arrived: negotiate and answer.  Returns 0 or -1. */
static int
complete_request (struct login *l, const struct iscsi_pdu *req,
                  struct login_reply *r)
{
  struct iscsi_text text;
  bool transit;
  int st;

  if (iscsi_text_parse (l->acc.buf, l->acc.len, 0, &text, NULL)
      != ISCSI_TEXT_OK) {
    login_fail (l, ISCSI_LOGIN_INITIATOR_ERROR, r);
    return 0;
  }
  iscsi_text_acc_reset (&l->acc);
  iscsi_text_builder_clear (&l->resp);
  l->resp_off = 0;
  st = negotiate (l, req, &text);
  iscsi_text_clear (&text);
  if (st == -1)
    return -1;
  if (st == 0)
    st = may_transit (l, req, &transit);
  if (st != 0) {
    login_fail (l, st, r);
    return 0;
  }
  l->resp_transit = transit;
  l->resp_nsg = req->nsg;
  reply_piece (l, r);
  return 0;
}

int
login_step (struct login *l, const struct iscsi_pdu *req,
            struct login_reply *r)
{
  enum iscsi_text_error e;

  reply_init (l, req, r);
  if (l->state == LOGIN_DONE || l->state == LOGIN_FAILED
      || !same_login (l, req) || req->csg != state_stage (l->state)) {
    login_fail (l, ISCSI_LOGIN_INITIATOR_ERROR, r);
    return 0;
  }
  /* The rest of an answer that did not fit one PDU. */
  if (l->resp_off < l->resp.len) {
    if (req->data_len != 0 || req->cont) {
      login_fail (l, ISCSI_LOGIN_INITIATOR_ERROR, r);
      return 0;
    }
    reply_piece (l, r);
    return 0;
  }
  e = iscsi_text_acc_append (&l->acc, req->data, req->data_len);
  if (e == ISCSI_TEXT_ERR_NOMEM) {
    sm_error ("iscsi login: out of memory");
    return -1;
  }
  if (e != ISCSI_TEXT_OK) {
    login_fail (l, ISCSI_LOGIN_INITIATOR_ERROR, r);
    return 0;
  }
  if (req->cont)
    return 0;                   /* an empty answer asks for more */
  return complete_request (l, req, r);
}
