/* segmap: Logout (RFC 7143 §11.14, §11.15).
 *
 * Reasons: close the session and close the connection both end our
 * only connection; "remove the connection for recovery" needs ERL 2 and
 * is answered "connection recovery is not supported".  Commands still
 * in flight finish first (their responses go out before the Logout
 * Response); commands still waiting for Data-Out are aborted, as the
 * initiator will send no more.  No command is accepted after the
 * Logout (Reject "waiting for logout").  The connection closes once the
 * answer is sent.
 */
#include <config.h>

#include <stdlib.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

enum logout_response {
  LOGOUT_OK = 0,
  LOGOUT_CID_NOT_FOUND = 1,
  LOGOUT_RECOVERY_UNSUPPORTED = 2,
};

/* Make every task of C finish before W is answered (task_lock). */
static void
wait_for_tasks_locked (struct iscsi_conn *c, struct waiter *w)
{
  struct iscsi_task *task, *next;

  for (task = c->active; task != NULL; task = next) {
    next = task->anext;
    if (task->state == TASK_DATA) {
      task->aborted = true;
      task_release_locked (task);
    }
    else if (task->state == TASK_HELD)
      task->aborted = true;
    else if (task->waiter == NULL && !task->aborted) {
      task->waiter = w;
      w->count++;
    }
  }
}

int
logout_on_request (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  struct waiter *w = calloc (1, sizeof *w);
  uint8_t response = LOGOUT_OK;

  if (w == NULL) {
    conn_close (c, "out of memory for a Logout");
    return -1;
  }
  if (p->function == 2)
    response = LOGOUT_RECOVERY_UNSUPPORTED;
  else if (p->function == 1 && p->cid != c->cid)
    response = LOGOUT_CID_NOT_FOUND;
  sm_debug ("iscsi: %s: logout (reason %u): response %u", c->peer,
            p->function, response);
  iscsi_pdu_init (&w->pdu, ISCSI_OP_LOGOUT_RESP);
  w->pdu.final = true;
  w->pdu.itt = p->itt;
  w->pdu.response = response;
  w->close = response == LOGOUT_OK;
  if (response == LOGOUT_OK)
    c->state = CONN_LOGOUT;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
    if (!p->immediate && p->cmdsn == c->sess->exp_cmdsn) {
      c->sess->exp_cmdsn++;
      task_dispatch_held (c);
    }
    if (response == LOGOUT_OK) {
      wait_for_tasks_locked (c, w);
      c->logout = w;
    }
    if (w->count == 0)
      waiter_task_done (c, w);
  }
  return 0;
}
