/* segmap: iSCSI tasks -- SCSI Command in, Data-Out and R2T, then the
 * logical unit, then Data-In and SCSI Response (RFC 7143 §11.3-11.8).
 *
 * Task states (enum task_state), task_lock held for every change:
 *
 *   FREE -> (command read) -> HELD   its CmdSN is ahead of ExpCmdSN
 *                          -> DATA   waiting for Data-Out (R2Ts sent)
 *                          -> QUEUED all data here, in the worker queue
 *   HELD -> DATA | QUEUED    when ExpCmdSN reaches it
 *   DATA -> QUEUED           the last Data-Out arrived
 *   QUEUED -> RUNNING        a worker picked it up
 *   RUNNING -> RESPONDING    executed, not aborted: the answer goes out
 *   RUNNING | RESPONDING -> FREE   released
 *
 * Data-Out rules (ErrorRecoveryLevel 0, DataPDUInOrder and
 * DataSequenceInOrder Yes): unsolicited data (immediate, then Data-Out
 * with TTT 0xffffffff) covers at most FirstBurstLength from offset 0;
 * everything after it is asked for with R2Ts of at most MaxBurstLength,
 * at most MaxOutstandingR2T at a time.  Each sequence's DataSN starts
 * at 0 and its offsets are contiguous; a gap, an offset outside the
 * sequence or data past its end is a protocol error: the PDU is
 * rejected, its data dropped, and the task ends with CHECK CONDITION
 * (ABORTED COMMAND, DATA PHASE ERROR) since at ERL 0 nothing can be
 * asked for again; the connection goes on.  A Data-Out for an unknown
 * transfer tag (or a task already ended) is rejected and dropped.
 *
 * TTT of an R2T: (slot << 24) | (gen << 16) | task index, so the task
 * and the R2T are found without a search, and a stale tag (the task
 * was reused) does not match.
 *
 * The buffer: one per task, the expected length, kept across reuses up
 * to ISCSI_BUF_KEEP; Data-Out is read straight into it and Data-In is
 * sent straight from it.
 *
 * Where a task runs: a quick command -- a READ or WRITE of at most
 * ISCSI_INLINE_MAX bytes that the backend serves from its cache (no
 * FUA, write cache enabled: scsi_lu_is_quick) -- whose data is complete
 * while the I/O thread reads a batch of PDUs is put on the connection's
 * inline list; after the batch the I/O thread runs them itself, in
 * order, and sends their answers together (conn->reply, a few sendmsg
 * for the whole batch), releasing the tasks after that send.  Handing
 * such a command to a worker costs more than running it (a wake-up, a
 * context switch, lock traffic on every command).  Everything else --
 * FUA and WCE=0 writes, flushes, atomic and compare commands, large
 * transfers, anything outside the batch -- goes to the workers.  The
 * I/O thread never waits for a worker, so running commands there adds
 * no deadlock: the atomicity gate's waits end without it.  A quick
 * command that faults to the controller, or finds the data not cached
 * after all, stalls the loop's other connections for that time; so an
 * inline command slower than ISCSI_INLINE_SLOW_US turns inlining off on
 * its connection for ISCSI_INLINE_BACKOFF_MS, and a slow backend is
 * served by the workers as if inlining did not exist.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "iscsi/target-internal.h"
#include "scsi/cdb.h"

#define DATAIN_BATCH 32

const char *
task_state_to_string (enum task_state s)
{
  switch (s) {
  case TASK_FREE: return "free";
  case TASK_HELD: return "held";
  case TASK_DATA: return "data";
  case TASK_QUEUED: return "queued";
  case TASK_RUNNING: return "running";
  case TASK_RESPONDING: return "responding";
  }
  return "unknown";
}

/*----------------------------------------------------------------------
 * The pool.
 */

static struct iscsi_task *
task_get_locked (struct iscsi_conn *c)
{
  struct iscsi_task *task = c->free_tasks;
  unsigned i;

  if (task != NULL)
    c->free_tasks = task->next;
  else {
    for (i = 0; i < ISCSI_TASKS_MAX && c->tasks[i] != NULL; i++)
      ;
    if (i == ISCSI_TASKS_MAX || (task = calloc (1, sizeof *task)) == NULL)
      return NULL;
    task->index = i;
    task->conn = c;
    c->tasks[i] = task;
  }
  task->gen++;
  task->next = NULL;
  task->aborted = false;
  task->waiter = NULL;
  task->out_got = task->unsol_len = task->unsol_got = 0;
  task->unsol_datasn = task->r2t_next = task->r2tsn = 0;
  task->datain_pdus = 0;
  memset (task->r2ts, 0, sizeof task->r2ts);
  task->aprev = NULL;
  task->anext = c->active;
  if (c->active != NULL)
    c->active->aprev = task;
  c->active = task;
  c->n_active++;
  return task;
}

void
task_release_locked (struct iscsi_task *task)
{
  struct iscsi_conn *c = task->conn;
  struct iscsi_session *s = c->sess;

  if (task->aprev != NULL)
    task->aprev->anext = task->anext;
  else
    c->active = task->anext;
  if (task->anext != NULL)
    task->anext->aprev = task->aprev;
  c->n_active--;
  if (!task->immediate && s != NULL) {
    s->outstanding--;
    session_update_window (s);
  }
  if (task->buf_cap > ISCSI_BUF_KEEP) {
    free (task->buf);
    task->buf = NULL;
    task->buf_cap = 0;
  }
  task->state = TASK_FREE;
  task->next = c->free_tasks;
  c->free_tasks = task;
  if (task->waiter != NULL) {
    struct waiter *w = task->waiter;

    task->waiter = NULL;
    waiter_task_done (c, w);
  }
}

void
task_pool_free (struct iscsi_conn *c)
{
  unsigned i;

  for (i = 0; i < ISCSI_TASKS_MAX; i++)
    if (c->tasks[i] != NULL) {
      free (c->tasks[i]->buf);
      free (c->tasks[i]);
      c->tasks[i] = NULL;
    }
  c->free_tasks = c->active = c->held = NULL;
}

void
task_abort_all_locked (struct iscsi_conn *c)
{
  struct iscsi_task *task = c->active, *next;

  c->held = NULL;
  for (; task != NULL; task = next) {
    next = task->anext;
    task->aborted = true;
    if (task->state == TASK_HELD || task->state == TASK_DATA)
      task_release_locked (task);
  }
}

static int
task_buffer (struct iscsi_task *task, size_t need)
{
  if (need <= task->buf_cap)
    return 0;
  free (task->buf);
  task->buf_cap = 0;
  task->buf = malloc (need);
  if (task->buf == NULL)
    return -1;
  task->buf_cap = need;
  return 0;
}

/*----------------------------------------------------------------------
 * Answers without a task.
 */

/* SCSI Response with STATUS and no data (task_lock not needed). */
static void
respond_status (struct iscsi_conn *c, uint32_t itt, uint8_t status)
{
  struct out_pdu o = { .statsn = true, .sn = true };

  iscsi_pdu_init (&o.pdu, ISCSI_OP_SCSI_RESP);
  o.pdu.final = true;
  o.pdu.itt = itt;
  o.pdu.status = status;
  conn_send (c, &o, 1);
}

/*----------------------------------------------------------------------
 * Moving on.
 */

/* May the I/O thread run TASK itself?  A short READ or WRITE that the
 * backend serves from its cache (scsi_lu_is_quick): handing it to a
 * worker would cost more (a wake-up, a context switch, lock traffic)
 * than running it. */
static bool
quick (const struct iscsi_task *task)
{
  const struct iscsi_session *s = task->conn->sess;

  return task->conn->inline_ok && !task->bidi && task->lun == 0
    && s != NULL && s->itl != NULL
    && task->exp_len <= ISCSI_INLINE_MAX
    && task->read_len <= ISCSI_INLINE_MAX
    && scsi_lu_is_quick (s->itl, task->cdb, task->cdb_len);
}

static void
queue_locked (struct iscsi_task *task)
{
  struct iscsi_conn *c = task->conn;

  task->state = TASK_QUEUED;
  conn_ref (c);
  if (quick (task)) {
    task->next = NULL;
    *c->inline_tail = task;
    c->inline_tail = &task->next;
  }
  else
    workers_queue (&c->t->workers, task);
}

static uint32_t
make_ttt (const struct iscsi_task *task, unsigned slot)
{
  return (uint32_t) slot << 24 | (uint32_t) task->gen << 16 | task->index;
}

/* Ask for more data, up to MaxOutstandingR2T (task_lock held). */
static void
issue_r2ts_locked (struct iscsi_conn *c, struct iscsi_task *task)
{
  const struct iscsi_params *p = &c->sess->params;
  unsigned max = p->max_outstanding_r2t < ISCSI_R2T_MAX
    ? p->max_outstanding_r2t : ISCSI_R2T_MAX;
  struct out_pdu o[ISCSI_R2T_MAX];
  unsigned slot, used = 0, n = 0;

  for (slot = 0; slot < ISCSI_R2T_MAX; slot++)
    used += task->r2ts[slot].used;
  for (slot = 0; slot < ISCSI_R2T_MAX && used < max
         && task->r2t_next < task->exp_len; slot++) {
    struct r2t *r = &task->r2ts[slot];
    uint32_t left = task->exp_len - task->r2t_next;

    if (r->used)
      continue;
    r->used = true;
    r->ttt = make_ttt (task, slot);
    r->offset = task->r2t_next;
    r->len = left < p->max_burst_length ? left : p->max_burst_length;
    r->got = r->datasn = 0;
    task->r2t_next += r->len;
    used++;
    memset (&o[n], 0, sizeof o[n]);
    o[n].sn = true;
    iscsi_pdu_init (&o[n].pdu, ISCSI_OP_R2T);
    o[n].pdu.final = true;
    o[n].pdu.lun = task->lun;
    o[n].pdu.itt = task->itt;
    o[n].pdu.ttt = r->ttt;
    o[n].pdu.r2tsn = task->r2tsn++;
    o[n].pdu.buffer_offset = r->offset;
    o[n].pdu.desired_len = r->len;
    n++;
  }
  if (n > 0)
    conn_send (c, o, n);
}

/* The task may go on: R2Ts or the worker (task_lock held). */
static void
proceed_locked (struct iscsi_conn *c, struct iscsi_task *task)
{
  if (task->aborted)
    task_release_locked (task);
  else if (task->write && task->out_got < task->exp_len) {
    task->state = TASK_DATA;
    issue_r2ts_locked (c, task);
  }
  else
    queue_locked (task);
}

void
task_dispatch_held (struct iscsi_conn *c)
{
  struct iscsi_session *s = c->sess;

  while (c->held != NULL && c->held->cmdsn == s->exp_cmdsn) {
    struct iscsi_task *task = c->held;

    c->held = task->next;
    task->next = NULL;
    s->exp_cmdsn++;
    proceed_locked (c, task);
  }
  session_update_window (s);
}

static void
hold_locked (struct iscsi_conn *c, struct iscsi_task *task)
{
  struct iscsi_task **pp = &c->held;

  while (*pp != NULL && iscsi_sn_before ((*pp)->cmdsn, task->cmdsn))
    pp = &(*pp)->next;
  task->next = *pp;
  *pp = task;
  task->state = TASK_HELD;
}

/* A non-immediate command was dealt with (not run): its CmdSN is used
 * up (task_lock held). */
static void
consume_cmdsn_locked (struct iscsi_conn *c, const struct iscsi_pdu *p)
{
  if (!p->immediate && p->cmdsn == c->sess->exp_cmdsn) {
    c->sess->exp_cmdsn++;
    task_dispatch_held (c);
  }
}

/*----------------------------------------------------------------------
 * SCSI Command.
 */

static bool
itt_in_use_locked (struct iscsi_conn *c, uint32_t itt)
{
  struct iscsi_task *task;

  for (task = c->active; task != NULL; task = task->anext)
    if (task->itt == itt && !task->aborted)
      return true;
  return false;
}

/* Copy the command into TASK.  Returns 0, or a Reject reason. */
static int
task_fill (struct iscsi_conn *c, struct iscsi_task *task,
           const struct iscsi_pdu *p)
{
  const struct iscsi_params *prm = &c->sess->params;
  size_t len;

  task->itt = p->itt;
  task->cmdsn = p->cmdsn;
  task->immediate = p->immediate;
  task->read = p->read;
  task->write = p->write;
  task->bidi = p->read && p->write;
  task->lun = p->lun;
  task->attr = p->attr;
  memcpy (task->cdb, p->cdb, ISCSI_CDB_SIZE);
  if (p->ext_cdb_len > 0) {
    memcpy (&task->cdb[ISCSI_CDB_SIZE], p->ext_cdb, p->ext_cdb_len);
    task->cdb_len = ISCSI_CDB_SIZE + p->ext_cdb_len;
  }
  else {
    len = scsi_cdb_length (p->cdb, ISCSI_CDB_SIZE);
    task->cdb_len = len == 0 || len > ISCSI_CDB_SIZE ? ISCSI_CDB_SIZE : len;
  }
  task->exp_len = p->exp_xfer_len;
  task->read_len = task->bidi ? (p->has_bidi_read_len ? p->bidi_read_len : 0)
    : p->read ? p->exp_xfer_len : 0;
  if (!task->write)
    task->exp_len = p->read ? p->exp_xfer_len : 0;
  /* Unsolicited data: immediate (if allowed), then Data-Out. */
  if (p->data_len > 0 && !prm->immediate_data)
    return ISCSI_REJECT_PROTOCOL_ERROR;
  if (task->write) {
    uint32_t first = prm->first_burst_length < task->exp_len
      ? prm->first_burst_length : task->exp_len;

    if (!p->final && prm->initial_r2t)
      return ISCSI_REJECT_PROTOCOL_ERROR;
    task->unsol_len = p->final ? p->data_len : first;
    if (p->data_len > first)
      return ISCSI_REJECT_PROTOCOL_ERROR;
  }
  task->r2t_next = task->unsol_len;
  if (task_buffer (task, task->exp_len > task->read_len ? task->exp_len
                   : task->read_len) == -1)
    return -1;
  return 0;
}

int
task_on_command (struct iscsi_conn *c, const struct iscsi_pdu *p,
                 const uint8_t *bhs, uint8_t **dst, struct iscsi_task **out)
{
  struct iscsi_session *s = c->sess;
  struct iscsi_task *task;
  int r;

  *dst = NULL;
  *out = NULL;
  if (c->state == CONN_LOGOUT) {
    conn_reject (c, ISCSI_REJECT_WAITING_FOR_LOGOUT, bhs);
    return 0;
  }
  atomic_fetch_add (&s->commands, 1);
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
  if (!p->immediate
      && !iscsi_cmdsn_in_window (p->cmdsn, s->exp_cmdsn,
                                 atomic_load (&s->max_cmdsn))) {
    sm_debug ("iscsi: %s: CmdSN %u outside [%u, %u], ignored", c->peer,
              p->cmdsn, s->exp_cmdsn, atomic_load (&s->max_cmdsn));
    return 0;
  }
  if (itt_in_use_locked (c, p->itt)) {
    conn_reject (c, ISCSI_REJECT_TASK_IN_PROGRESS, bhs);
    consume_cmdsn_locked (c, p);
    return 0;
  }
  if ((task = task_get_locked (c)) == NULL) {
    respond_status (c, p->itt, SCSI_STATUS_TASK_SET_FULL);
    consume_cmdsn_locked (c, p);
    return 0;
  }
  if (!p->immediate)
    s->outstanding++;
  task->state = TASK_DATA;
  r = task_fill (c, task, p);
  if (r != 0) {
    if (r == -1)
      respond_status (c, p->itt, SCSI_STATUS_TASK_SET_FULL);
    else
      conn_reject (c, r, bhs);
    task_release_locked (task);
    consume_cmdsn_locked (c, p);
    return 0;
  }
  *dst = task->buf;
  *out = task;
  return 0;
}

int
task_on_command_data (struct iscsi_conn *c, struct iscsi_task *task,
                      const struct iscsi_pdu *p, bool ok, const uint8_t *bhs)
{
  struct iscsi_session *s = c->sess;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
  if (task->state == TASK_FREE || task->itt != p->itt)
    return 0;                   /* aborted meanwhile */
  if (!ok) {
    task_release_locked (task);
    consume_cmdsn_locked (c, p);
    return conn_pdu_error (c, ISCSI_PDU_ERR_DATA_DIGEST, bhs);
  }
  task->out_got = task->unsol_got = p->data_len;
  if (task->immediate)
    proceed_locked (c, task);
  else if (task->cmdsn == s->exp_cmdsn) {
    s->exp_cmdsn++;
    proceed_locked (c, task);
    task_dispatch_held (c);
  }
  else
    hold_locked (c, task);
  return 0;
}

/*----------------------------------------------------------------------
 * Data-Out.
 */

static struct iscsi_task *
find_unsolicited_locked (struct iscsi_conn *c, uint32_t itt)
{
  struct iscsi_task *task;

  for (task = c->active; task != NULL; task = task->anext)
    if (task->itt == itt && !task->aborted
        && (task->state == TASK_DATA || task->state == TASK_HELD))
      return task;
  return NULL;
}

/* The R2T slot of TTT, or -1. */
static int
find_r2t_locked (struct iscsi_conn *c, uint32_t ttt,
                 struct iscsi_task **out)
{
  unsigned index = ttt & 0xffff, slot = ttt >> 24;
  struct iscsi_task *task;

  if (index >= ISCSI_TASKS_MAX || slot >= ISCSI_R2T_MAX
      || (task = c->tasks[index]) == NULL || task->state != TASK_DATA
      || task->aborted || !task->r2ts[slot].used
      || task->r2ts[slot].ttt != ttt)
    return -1;
  *out = task;
  return slot;
}

/* SPC-4 ASC/ASCQ 4Bh/00h, for a data transfer that went wrong. */
#define ASC_DATA_PHASE_ERROR 0x4b00

/* End TASK with CHECK CONDITION, ABORTED COMMAND / DATA PHASE ERROR: at
 * ERL 0 its data cannot be asked for again (task_lock held). */
static void
fail_task_locked (struct iscsi_conn *c, struct iscsi_task *task)
{
  struct out_pdu o = { .statsn = true, .sn = true };
  uint8_t sense[2 + SCSI_SENSE_MAX];
  struct scsi_task st;

  memset (&st, 0, sizeof st);
  scsi_task_check_condition (&st, SCSI_SK_ABORTED_COMMAND,
                             ASC_DATA_PHASE_ERROR);
  iscsi_pdu_init (&o.pdu, ISCSI_OP_SCSI_RESP);
  o.pdu.final = true;
  o.pdu.itt = task->itt;
  o.pdu.status = st.status;
  o.pdu.exp_datasn = task->r2tsn;
  o.pdu.data_len = iscsi_sense_segment (st.sense, st.sense_len, sense,
                                        sizeof sense);
  o.pdu.data = sense;
  conn_send (c, &o, 1);
  task->aborted = true;
  if (task->state == TASK_DATA)
    task_release_locked (task);
  /* A held task stays held: its CmdSN is still due, and it is released
   * when its turn comes. */
}

/* A Data-Out that breaks the sequence rules: rejected, its data
 * dropped, its task failed; the connection goes on. */
static int
data_out_violation (struct iscsi_conn *c, struct iscsi_task *task,
                    const uint8_t *bhs, const char *what)
{
  sm_debug ("iscsi: %s: Data-Out %s", c->peer, what);
  conn_reject (c, ISCSI_REJECT_PROTOCOL_ERROR, bhs);
  fail_task_locked (c, task);
  return 0;
}

int
task_on_data_out (struct iscsi_conn *c, const struct iscsi_pdu *p,
                  const uint8_t *bhs, uint8_t **dst, struct iscsi_task **out)
{
  struct iscsi_task *task = NULL;
  uint32_t start, end;
  uint64_t last = (uint64_t) p->buffer_offset + p->data_len;

  *dst = NULL;
  *out = NULL;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
  if (p->ttt == ISCSI_RESERVED_TAG) {
    task = find_unsolicited_locked (c, p->itt);
    if (task == NULL || task->unsol_got >= task->unsol_len) {
      conn_reject (c, ISCSI_REJECT_PROTOCOL_ERROR, bhs);
      return 0;
    }
    if (p->datasn != task->unsol_datasn)
      return data_out_violation (c, task, bhs, "DataSN out of order");
    start = task->unsol_got;
    end = task->unsol_len;
  }
  else {
    int slot = find_r2t_locked (c, p->ttt, &task);
    struct r2t *r;

    if (slot < 0) {
      conn_reject (c, ISCSI_REJECT_INVALID_PDU_FIELD, bhs);
      return 0;
    }
    r = &task->r2ts[slot];
    if (p->itt != task->itt)
      return data_out_violation (c, task, bhs, "ITT does not match the TTT");
    if (p->datasn != r->datasn)
      return data_out_violation (c, task, bhs, "DataSN out of order");
    start = r->offset + r->got;
    end = r->offset + r->len;
  }
  if (p->buffer_offset != start)
    return data_out_violation (c, task, bhs, "offset out of order");
  if (last > end)
    return data_out_violation (c, task, bhs, "beyond the burst");
  *dst = task->buf + p->buffer_offset;
  *out = task;
  return 0;
}

int
task_on_data_out_done (struct iscsi_conn *c, struct iscsi_task *task,
                       const struct iscsi_pdu *p, bool ok,
                       const uint8_t *bhs)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
  if (task->state == TASK_FREE || task->itt != p->itt)
    return 0;                   /* aborted meanwhile */
  if (!ok) {                    /* no recovery at ERL 0 */
    if (conn_pdu_error (c, ISCSI_PDU_ERR_DATA_DIGEST, bhs) == -1)
      return -1;
    fail_task_locked (c, task);
    return 0;
  }
  if (p->ttt == ISCSI_RESERVED_TAG) {
    task->unsol_datasn++;
    task->unsol_got += p->data_len;
  }
  else {
    struct r2t *r = &task->r2ts[p->ttt >> 24];

    r->datasn++;
    r->got += p->data_len;
    if (r->got == r->len)
      r->used = false;
  }
  task->out_got += p->data_len;
  if (task->state != TASK_DATA)
    return 0;                   /* held: goes on with its CmdSN */
  if (task->out_got >= task->exp_len)
    queue_locked (task);
  else if (p->ttt != ISCSI_RESERVED_TAG && !task->r2ts[p->ttt >> 24].used)
    issue_r2ts_locked (c, task);
  return 0;
}

/*----------------------------------------------------------------------
 * Execution and the answer (worker threads).
 */

/* Residual flags and count of TASK into P. */
static void
set_residual (const struct iscsi_task *task, struct iscsi_pdu *p)
{
  uint64_t want = task->st.want_len;
  uint32_t exp = task->write ? task->exp_len : task->read_len;

  if (want > exp) {
    p->overflow = true;
    p->residual = want - exp > UINT32_MAX ? UINT32_MAX : want - exp;
  }
  else if (want < exp) {
    p->underflow = true;
    p->residual = exp - want;
  }
}

/* Where the answer of a task is in its making. */
struct answer {
  uint32_t len;                 /* Data-In bytes to send */
  uint32_t off, seq;            /* next Data-In offset, bytes in burst */
  bool status_in_data;          /* the last Data-In carries the status */
  bool done;                    /* every PDU was produced */
};

static void
answer_start (const struct iscsi_task *task, struct answer *a)
{
  const struct scsi_task *st = &task->st;

  a->len = st->data_in_len < task->read_len ? st->data_in_len
    : task->read_len;
  a->off = a->seq = 0;
  a->status_in_data = a->len > 0 && st->sense_len == 0;
  a->done = false;
}

/* The next PDUs of TASK's answer A into O, at most CAP (> 0): Data-In,
 * then the SCSI Response unless the last Data-In carries the status.
 * Data points into the task (its buffer, its sense segment).  Returns
 * how many; A->done once the last was produced. */
static size_t
answer_pdus (struct iscsi_task *task, struct answer *a, struct out_pdu *o,
             size_t cap)
{
  struct iscsi_conn *c = task->conn;
  const struct scsi_task *st = &task->st;
  uint32_t mrdsl = c->tx_lim.max_recv_dsl;
  uint32_t mbl = c->sess->params.max_burst_length;
  size_t n = 0;

  while (a->off < a->len && n < cap) {
    uint32_t chunk = a->len - a->off < mrdsl ? a->len - a->off : mrdsl;
    struct iscsi_pdu *p = &o[n].pdu;

    if (chunk > mbl - a->seq)
      chunk = mbl - a->seq;
    memset (&o[n], 0, sizeof o[n]);
    o[n].sn = true;
    iscsi_pdu_init (p, ISCSI_OP_DATA_IN);
    p->lun = task->lun;
    p->itt = task->itt;
    p->ttt = ISCSI_RESERVED_TAG;
    p->datasn = task->datain_pdus++;
    p->buffer_offset = a->off;
    p->data = task->buf + a->off;
    p->data_len = chunk;
    a->off += chunk;
    a->seq += chunk;
    if (a->seq == mbl || a->off == a->len) {
      p->final = true;
      a->seq = 0;
    }
    if (a->off == a->len && a->status_in_data) {
      p->status_present = true;
      p->status = st->status;
      o[n].statsn = true;
      set_residual (task, p);
      a->done = true;
    }
    n++;
  }
  if (a->off < a->len || a->status_in_data || n == cap)
    return n;
  memset (&o[n], 0, sizeof o[n]);
  o[n].sn = o[n].statsn = true;
  iscsi_pdu_init (&o[n].pdu, ISCSI_OP_SCSI_RESP);
  o[n].pdu.final = true;
  o[n].pdu.itt = task->itt;
  o[n].pdu.status = st->status;
  o[n].pdu.exp_datasn = task->datain_pdus + task->r2tsn;
  set_residual (task, &o[n].pdu);
  if (st->sense_len > 0) {
    o[n].pdu.data_len = iscsi_sense_segment (st->sense, st->sense_len,
                                             task->sense_seg,
                                             sizeof task->sense_seg);
    o[n].pdu.data = task->sense_seg;
  }
  a->done = true;
  return n + 1;
}

/* Send the answer now, in pieces of DATAIN_BATCH PDUs. */
static void
respond (struct iscsi_task *task)
{
  struct out_pdu o[DATAIN_BATCH];
  struct answer a;

  answer_start (task, &a);
  while (!a.done) {
    size_t n = answer_pdus (task, &a, o, DATAIN_BATCH);

    if (conn_send (task->conn, o, n) == -1)
      return;
  }
}

/* Send the answers batched by the I/O thread with as few sendmsg calls
 * as they fit, then release their tasks. */
static void
reply_flush (struct iscsi_conn *c)
{
  size_t i, n = c->n_replied;

  if (c->n_reply > 0)
    conn_send (c, c->reply, c->n_reply);
  c->n_reply = c->n_replied = 0;
  if (n == 0)
    return;
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
    for (i = 0; i < n; i++)
      task_release_locked (c->replied[i]);
  }
  for (i = 0; i < n; i++)
    conn_unref (c);
}

/* Add TASK's whole answer to the I/O thread's batch (flushed first if
 * full).  Returns false if it does not fit even an empty batch: it must
 * be sent on its own. */
static bool
reply_add (struct iscsi_task *task)
{
  struct iscsi_conn *c = task->conn;
  uint32_t datasn = task->datain_pdus;
  struct answer a;
  int tries;

  for (tries = 0; tries < 2; tries++) {
    size_t n;

    if (c->n_reply == ISCSI_REPLY_BATCH)
      reply_flush (c);
    answer_start (task, &a);
    n = answer_pdus (task, &a, &c->reply[c->n_reply],
                     ISCSI_REPLY_BATCH - c->n_reply);
    if (a.done) {
      c->n_reply += n;
      c->replied[c->n_replied++] = task;
      return true;
    }
    task->datain_pdus = datasn;
    reply_flush (c);
  }
  return false;
}

/* Run the command on the logical unit (only LUN 0 exists). */
static void
execute (struct iscsi_task *task)
{
  struct scsi_task *st = &task->st;
  struct iscsi_session *s = task->conn->sess;
  uint8_t op = task->cdb[0];

  memset (st, 0, sizeof *st);
  st->cdb = task->cdb;
  st->cdb_len = task->cdb_len;
  st->attr = task->attr;
  if (task->write) {
    st->data_out = task->buf;
    st->data_out_len = task->exp_len;
  }
  else if (task->read) {
    st->data_in = task->buf;
    st->data_in_cap = task->read_len;
  }
  if (task->bidi) {
    scsi_task_check_condition (st, SCSI_SK_ILLEGAL_REQUEST,
                               SCSI_ASC_INVALID_FIELD_IN_CDB);
    return;
  }
  if (task->lun != 0 && op != SCSI_OP_REPORT_LUNS && op != SCSI_OP_INQUIRY) {
    scsi_task_check_condition (st, SCSI_SK_ILLEGAL_REQUEST,
                               SCSI_ASC_LU_NOT_SUPPORTED);
    return;
  }
  scsi_lu_execute (s->itl, st);
  /* SPC-4 6.6.2: no logical unit here -- qualifier 011b, type 1Fh. */
  if (task->lun != 0 && op == SCSI_OP_INQUIRY && st->data_in_len > 0
      && st->status == SCSI_STATUS_GOOD)
    st->data_in[0] = 0x7f;
}

/* Execute TASK and answer (BATCH: through the I/O thread's batch, the
 * release then comes with its flush). */
static void
run (struct iscsi_task *task, bool batch)
{
  struct iscsi_conn *c = task->conn;
  bool aborted;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
    aborted = task->aborted;
    task->state = TASK_RUNNING;
  }
  if (!aborted) {
    execute (task);
    {
      ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
      aborted = task->aborted;
      if (!aborted)
        task->state = TASK_RESPONDING;   /* too late to abort now */
    }
    if (!aborted && batch && reply_add (task))
      return;
    if (!aborted)
      respond (task);
  }
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->task_lock);
    task_release_locked (task);
  }
  conn_unref (c);
}

void
task_run (struct iscsi_task *task)
{
  run (task, false);
}

void
task_inline_begin (struct iscsi_conn *c)
{
  c->inline_head = NULL;
  c->inline_tail = &c->inline_head;
  c->inline_ok = iscsi_now_ms () >= c->inline_off_until;
}


void
task_inline_run (struct iscsi_conn *c)
{
  struct iscsi_task *task = c->inline_head;
  bool slow = false;

  c->inline_ok = false;
  c->inline_head = NULL;
  c->inline_tail = &c->inline_head;

  while (task != NULL) {
    struct iscsi_task *next = task->next;
    uint64_t start = slow ? 0 : iscsi_now_us ();

    task->next = NULL;
    run (task, true);
    if (!slow && iscsi_now_us () - start > ISCSI_INLINE_SLOW_US)
      slow = true;
    task = next;
  }
  if (slow)
    c->inline_off_until = iscsi_now_ms () + ISCSI_INLINE_BACKOFF_MS;
  reply_flush (c);
}
