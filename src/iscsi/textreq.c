/* segmap: Text requests in full feature phase (RFC 7143 §11.10,
 * §11.11): SendTargets, and renegotiation of the few keys allowed then
 * (MaxRecvDataSegmentLength).
 *
 * A request may span PDUs (C=1, each answered by an empty Text
 * Response) up to 8 KiB; an answer longer than the initiator's
 * MaxRecvDataSegmentLength goes out in pieces (C=1 and a TTT of ours),
 * each asked for by an empty Text Request echoing that TTT.  A new
 * request (TTT 0xffffffff) abandons an unfinished answer.
 */
#include <config.h>

#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

static void
consume_cmdsn (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
  if (!p->immediate && p->cmdsn == c->sess->exp_cmdsn) {
    c->sess->exp_cmdsn++;
    task_dispatch_held (c);
  }
}

/* Send the next piece of c->text_resp. */
static int
send_piece (struct iscsi_conn *c, const struct iscsi_pdu *req)
{
  struct out_pdu o = { .statsn = true, .sn = true };
  bool more = false;
  size_t n = iscsi_text_chunk (&c->text_resp, c->text_off,
                               c->tx_lim.max_recv_dsl, &more);
  int r;

  iscsi_pdu_init (&o.pdu, ISCSI_OP_TEXT_RESP);
  o.pdu.itt = req->itt;
  o.pdu.lun = req->lun;
  o.pdu.data = (const uint8_t *) c->text_resp.buf + c->text_off;
  o.pdu.data_len = n;
  c->text_off += n;
  o.pdu.final = !more;
  o.pdu.cont = more;
  if (more) {
    c->text_ttt = (c->text_ttt + 1) & 0x7fffffff;
    o.pdu.ttt = c->text_ttt;
    c->text_itt = req->itt;
  }
  else
    o.pdu.ttt = ISCSI_RESERVED_TAG;
  r = conn_send (c, &o, 1);
  if (!more) {
    iscsi_text_builder_clear (&c->text_resp);
    c->text_off = 0;
  }
  return r;
}

/* Negotiate a whole request into c->text_resp.  Returns 0, or -1 if it
 * must be rejected. */
static int
answer (struct iscsi_conn *c, const struct iscsi_text *req)
{
  struct iscsi_target *t = c->t;
  struct iscsi_session *s = c->sess;
  struct iscsi_params params = s->params;
  struct iscsi_negotiation n = {
    .cfg = &t->cfg, .sess = &params, .stage = ISCSI_STAGE_FULL_FEATURE,
    .leading = true,
  };

  if (iscsi_negotiate_text (&n, req, &c->text_resp) != 0)
    return -1;
  if (n.send_targets != NULL
      && discovery_send_targets (&c->login_env, s->initiator,
                                 n.send_targets,
                                 s->discovery ? NULL : s->target,
                                 (const char *const *) t->portal_names,
                                 t->n_portals, &c->local_addr,
                                 &c->text_resp) == -1)
    return -1;
  if (params.max_recv_dsl != s->params.max_recv_dsl) {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->send_lock);
    s->params.max_recv_dsl = params.max_recv_dsl;
    c->tx_lim.max_recv_dsl = params.max_recv_dsl;
  }
  return 0;
}

static int
new_request (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  struct iscsi_text req;
  int r;

  if (iscsi_text_acc_append (&c->text_acc, p->data, p->data_len)
      != ISCSI_TEXT_OK) {
    iscsi_text_acc_reset (&c->text_acc);
    return -1;
  }
  if (p->cont) {
    struct out_pdu o = { .statsn = true, .sn = true };

    iscsi_pdu_init (&o.pdu, ISCSI_OP_TEXT_RESP);
    o.pdu.itt = p->itt;
    o.pdu.final = false;
    c->text_ttt = (c->text_ttt + 1) & 0x7fffffff;
    o.pdu.ttt = c->text_ttt;
    conn_send (c, &o, 1);
    return 0;
  }
  r = iscsi_text_parse (c->text_acc.buf, c->text_acc.len, 0, &req, NULL);
  iscsi_text_acc_reset (&c->text_acc);
  if (r != ISCSI_TEXT_OK)
    return -1;
  iscsi_text_builder_clear (&c->text_resp);
  c->text_off = 0;
  r = answer (c, &req);
  iscsi_text_clear (&req);
  if (r == -1) {
    iscsi_text_builder_clear (&c->text_resp);
    return -1;
  }
  return send_piece (c, p);
}

int
textreq_on_request (struct iscsi_conn *c, const struct iscsi_pdu *p,
                    const uint8_t *bhs)
{
  consume_cmdsn (c, p);
  if (p->ttt != ISCSI_RESERVED_TAG && c->text_acc.len == 0) {
    /* The initiator asks for the rest of our answer. */
    if (p->ttt != c->text_ttt || p->itt != c->text_itt
        || c->text_off >= c->text_resp.len || p->data_len != 0) {
      conn_reject (c, ISCSI_REJECT_INVALID_PDU_FIELD, bhs);
      return 0;
    }
    return send_piece (c, p);
  }
  if (c->text_off > 0) {        /* a new request: forget the old answer */
    iscsi_text_builder_clear (&c->text_resp);
    c->text_off = 0;
  }
  if (new_request (c, p) == -1)
    conn_reject (c, ISCSI_REJECT_PROTOCOL_ERROR, bhs);
  return 0;
}
