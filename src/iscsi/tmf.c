/* segmap: task management (RFC 7143 §11.5, §11.6) and the waiters
 * that hold a TMF or Logout answer until the tasks it concerns are
 * gone.
 *
 * Aborting a task (task_lock held): a task still waiting for data (or
 * for its CmdSN) is released at once; a queued or running one is
 * marked aborted -- a worker skips it or drops its answer -- and the
 * TMF answer waits for it (struct waiter).  Aborted tasks get no SCSI
 * Response (TAS=0).
 *
 *   ABORT TASK            the task with the Referenced Task Tag
 *   ABORT TASK SET        every task of this session
 *   CLEAR TASK SET        the same, then scsi_lu_task_set_cleared
 *   LUN RESET,
 *   TARGET WARM RESET     every task of this session, then
 *                         scsi_lu_reset (unit attention for the others)
 *   TARGET COLD RESET     warm reset, answered, then every connection
 *                         of the target is closed
 *   CLEAR ACA             "function not supported" (no NACA)
 *   TASK REASSIGN         "allegiance reassignment not supported" (ERL 0)
 *
 * Only LUN 0 exists: LUN-scoped functions for other LUNs answer "LUN
 * does not exist".
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"

enum tmf_response {
  TMF_COMPLETE = 0,
  TMF_NO_TASK = 1,
  TMF_NO_LUN = 2,
  TMF_REASSIGN_UNSUPPORTED = 4,
  TMF_UNSUPPORTED = 5,
  TMF_REJECTED = 255,
};

void
waiter_task_done (struct iscsi_conn *c, struct waiter *w)
{
  struct out_pdu o = { .statsn = true, .sn = true };

  if (w->count > 0 && --w->count > 0)
    return;
  if (c->sess != NULL && c->sess->itl != NULL) {
    if (w->action == WAIT_LU_RESET)
      scsi_lu_reset (c->sess->itl);
    else if (w->action == WAIT_TASK_SET_CLEARED)
      scsi_lu_task_set_cleared (c->sess->itl, false);
  }
  o.pdu = w->pdu;
  conn_send (c, &o, 1);
  if (w->close) {
    atomic_store (&c->close_after_flush, true);
    if (c->loop != NULL)
      ioloop_wake (c->loop);
  }
  if (c->logout == w)
    c->logout = NULL;
  free (w);
}

/* Abort TASK for W (task_lock held). */
static void
abort_task_locked (struct iscsi_task *task, struct waiter *w)
{
  task->aborted = true;
  switch (task->state) {
  case TASK_HELD:               /* stays held: its CmdSN is still due */
  case TASK_FREE:
  case TASK_RESPONDING:         /* too late: its answer is going out */
    break;
  case TASK_DATA:
    task_release_locked (task);
    break;
  case TASK_QUEUED:
  case TASK_RUNNING:
    if (task->waiter == NULL) {
      task->waiter = w;
      w->count++;
    }
    break;
  }
}

static void
abort_all_locked (struct iscsi_conn *c, struct waiter *w)
{
  struct iscsi_task *task, *next;

  for (task = c->active; task != NULL; task = next) {
    next = task->anext;
    if (!task->aborted)
      abort_task_locked (task, w);
  }
}

static struct iscsi_task *
find_itt_locked (struct iscsi_conn *c, uint32_t itt)
{
  struct iscsi_task *task;

  for (task = c->active; task != NULL; task = task->anext)
    if (task->itt == itt && !task->aborted)
      return task;
  return NULL;
}

/* A non-immediate TMF uses a CmdSN (task_lock held). */
static void
consume_cmdsn_locked (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  if (!p->immediate && p->cmdsn == c->sess->exp_cmdsn) {
    c->sess->exp_cmdsn++;
    task_dispatch_held (c);
  }
}

/* Drop every connection of the target but C (which closes once its
 * answer is sent). */
static void
cold_reset (struct iscsi_conn *c)
{
  struct iscsi_target *t = c->t;
  struct iscsi_conn *o;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
  for (o = t->conns; o != NULL; o = o->next)
    if (o != c)
      conn_request_close (o);
}

/* Which tasks FUNCTION concerns, and what happens after: fills W.
 * Returns the response if it is already known, or -1. */
static int
tmf_apply_locked (struct iscsi_conn *c, const struct iscsi_pdu *p,
                  struct waiter *w)
{
  struct iscsi_task *task;

  switch (p->function) {
  case ISCSI_TMF_ABORT_TASK:
    task = find_itt_locked (c, p->ttt);
    /* Unknown or already answered.  (One TCP connection loses no
     * command, so RFC 7143 §11.5.1's rule for commands never received
     * does not apply.) */
    if (task == NULL || task->state == TASK_RESPONDING)
      return TMF_NO_TASK;
    abort_task_locked (task, w);
    return -1;
  case ISCSI_TMF_CLEAR_TASK_SET:
    w->action = WAIT_TASK_SET_CLEARED;
    /* fall through */
  case ISCSI_TMF_ABORT_TASK_SET:
    abort_all_locked (c, w);
    return -1;
  case ISCSI_TMF_LUN_RESET:
  case ISCSI_TMF_TARGET_WARM_RESET:
  case ISCSI_TMF_TARGET_COLD_RESET:
    w->action = WAIT_LU_RESET;
    abort_all_locked (c, w);
    return -1;
  case ISCSI_TMF_CLEAR_ACA:
    return TMF_UNSUPPORTED;
  case ISCSI_TMF_TASK_REASSIGN:
    return TMF_REASSIGN_UNSUPPORTED;
  default:
    return TMF_REJECTED;
  }
}

static bool
lun_scoped (uint8_t function)
{
  return function == ISCSI_TMF_ABORT_TASK_SET
    || function == ISCSI_TMF_CLEAR_TASK_SET
    || function == ISCSI_TMF_LUN_RESET || function == ISCSI_TMF_CLEAR_ACA;
}

int
tmf_on_request (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  struct waiter *w = calloc (1, sizeof *w);
  int r;

  if (w == NULL) {
    conn_close (c, "out of memory for a TMF");
    return -1;
  }
  sm_debug ("iscsi: %s: task management function %u", c->peer,
            p->function);
  iscsi_pdu_init (&w->pdu, ISCSI_OP_TASK_MGMT_RESP);
  w->pdu.final = true;
  w->pdu.itt = p->itt;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
    consume_cmdsn_locked (c, p);
    if (lun_scoped (p->function) && p->lun != 0)
      r = TMF_NO_LUN;
    else
      r = tmf_apply_locked (c, p, w);
    w->pdu.response = r >= 0 ? r : TMF_COMPLETE;
    w->close = p->function == ISCSI_TMF_TARGET_COLD_RESET;
    if (w->count == 0)
      waiter_task_done (c, w);
  }
  if (p->function == ISCSI_TMF_TARGET_COLD_RESET)
    cold_reset (c);
  return 0;
}
