/* segmap: NOP-Out answers and the target's NOP-In pings (RFC 7143
 * §11.18, §11.19).
 *
 *   NOP-Out, ITT valid       answered with a NOP-In echoing its data
 *                            (StatSN advances)
 *   NOP-Out, ITT 0xffffffff  no answer (a reply to our ping if its TTT
 *                            is ours, or a bare CmdSN update)
 *
 * Ping: when a logged-in connection has been silent for nop_interval
 * seconds, the target sends a NOP-In with a TTT of its own (ITT
 * 0xffffffff, StatSN not advanced).  If nothing at all arrives within
 * nop_timeout seconds of the ping, the connection is dropped.
 */
#include <config.h>

#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

/* A non-immediate PDU uses a CmdSN. */
static void
consume_cmdsn (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
  if (!p->immediate && p->cmdsn == c->sess->exp_cmdsn) {
    c->sess->exp_cmdsn++;
    task_dispatch_held (c);
  }
}

int
nop_on_out (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  struct out_pdu o = { .statsn = true, .sn = true };
  uint32_t max = c->tx_lim.max_recv_dsl;

  if (p->ttt != ISCSI_RESERVED_TAG) {
    if (p->ttt == c->ping_ttt)
      c->ping_sent = 0;
    return 0;
  }
  consume_cmdsn (c, p);
  if (p->itt == ISCSI_RESERVED_TAG)
    return 0;
  iscsi_pdu_init (&o.pdu, ISCSI_OP_NOP_IN);
  o.pdu.itt = p->itt;
  o.pdu.lun = p->lun;
  o.pdu.data = p->data;
  o.pdu.data_len = p->data_len < max ? p->data_len : max;
  conn_send (c, &o, 1);
  return 0;
}

void
nop_tick (struct iscsi_conn *c, uint64_t now)
{
  struct iscsi_target *t = c->t;
  struct out_pdu o = { .sn = true };

  if (c->state != CONN_FULL_FEATURE)
    return;
  if (c->ping_sent != 0) {
    if (c->last_rx >= c->ping_sent)
      c->ping_sent = 0;         /* it is alive */
    else if (now - c->ping_sent >= t->nop_timeout * UINT64_C (1000)) {
      conn_close (c, "no answer to NOP-In");
      return;
    }
    return;
  }
  if (now - c->last_rx < t->nop_interval * UINT64_C (1000))
    return;
  c->ping_ttt = (c->ping_ttt + 1) & 0x7fffffff;
  iscsi_pdu_init (&o.pdu, ISCSI_OP_NOP_IN);
  o.pdu.itt = ISCSI_RESERVED_TAG;
  o.pdu.ttt = c->ping_ttt;
  c->ping_sent = now;
  conn_send (c, &o, 1);
}
