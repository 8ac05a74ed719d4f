/* segmap: the controller thread, its queue and group commit.
 *
 * Loop:
 *
 *   wait for requests (or the commit deadline) -> take the whole queue
 *   -> handle each in order (faults are answered at once; FLUSH ids are
 *   collected; admin commands run and commit) -> if any FLUSH came, or
 *   changes are older than COMMIT_INTERVAL, commit -> answer the FLUSHes
 *
 * Wake-ups: a request wakes the thread at once, except ALLOCATED (it
 * needs no answer): those wake it only every LAZY_BATCH messages, or
 * when it waits with no deadline, so first writes cost a futex wake-up
 * per batch rather than per write.  Whatever wakes the thread next
 * (a fault, a FLUSH, the commit deadline) handles them first, in queue
 * order, so a FLUSH still covers every ALLOCATED queued before it.
 *
 * Group commit: changes (allocations, frees) accumulate in one open
 * SQLite transaction.  A commit is durable when it returns (WAL,
 * synchronous=FULL).  Before a commit, the containers are synced if any
 * segment was zeroed since the last sync: a segment's zeroing must be
 * durable before a commit can hand it to another vdisk.  A FLUSH is
 * answered only after (1) the agent synced the containers (data) and
 * (2) the commit covering every earlier allocation returned (metadata).
 *
 * Grants (faults.c): after each batch the grant pools are topped up;
 * at a clean shutdown the outstanding grants are zeroed and released
 * before the final commit, so a clean state never leaves a reserved
 * segment holding data.
 *
 * Failure: a failed container sync or commit puts the controller in the
 * degraded state (no more allocations, flushes fail), tells every agent
 * (SET_DEGRADED) and records needs_check in the database when it still
 * can.  An agent's own failed sync reaches the controller as a REPORT
 * (faults.c).  Nothing is retried into a false success.
 *
 * Agents: the controller knows them only through their transports and
 * messages (agents.c); it includes nothing of src/agent.  A frame is
 * queued with the transport it came from, so answers go back to the
 * agent that asked.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"
#include "controller/controller-internal.h"
#include "proto/transport.h"
#include "store/container.h"

#define COMMIT_INTERVAL_MS 1000
#define LAZY_BATCH 16           /* ALLOCATED messages per wake-up */

struct controller *
controller_new (const struct segmap_config *cfg)
{
  struct controller *c = calloc (1, sizeof *c);

  if (c == NULL) {
    sm_error ("cannot allocate the controller: %m");
    return NULL;
  }
  c->cfg = cfg;
  c->start_status = 1;
  pthread_mutex_init (&c->queue_lock, NULL);
  pthread_cond_init (&c->queue_cond, NULL);
  pthread_cond_init (&c->start_cond, NULL);
  return c;
}

void
controller_free (struct controller *c)
{
  if (c == NULL)
    return;
  ctrl_close_containers (c);
  sm_vdisk_info_free (c->vdisks, c->n_vdisks);
  sm_vdisk_info_free (c->deleting, c->n_deleting);
  free (c->delete_freed.ptr);
  free (c->delete_syncing.ptr);
  ctrl_cbt_pending_free (c);
  free (c->frees.ptr);
  free (c->flushers.ptr);
  free (c->cbt_waiters.ptr);
  for (size_t i = 0; i < c->grants.len; i++)
    free (c->grants.ptr[i].out.ptr);
  free (c->grants.ptr);
  ctrl_move_free_all (c);
  ctrl_job_free_all (c);
  ctrl_free_agents (c);
  pthread_mutex_destroy (&c->queue_lock);
  pthread_cond_destroy (&c->queue_cond);
  pthread_cond_destroy (&c->start_cond);
  free (c);
}

/* Transactions --------------------------------------------------------- */

/* About to change the store: open the transaction if needed. */
int
ctrl_change (struct controller *c)
{
  if (!store_in_transaction (c->store)) {
    if (store_begin (c->store) == -1)
      return -1;
    c->dirty_since_ms = sm_now_ms ();
  }
  c->dirty = true;
  return 0;
}

/* Sync every container (ALL) or those zeroed, or holding redirected
 * writes the commit will mark at alt, since their last sync.  Other
 * containers are not synced on the controller's behalf: their dirty
 * data is the agents' (they sync it on a flush), and a sync could take
 * long enough to stall every fault. */
static int
sync_containers (struct controller *c, bool all)
{
  for (uint32_t id = 1; id <= c->max_container; id++) {
    struct ctrl_container *cc = c->containers[id];
    if (cc == NULL || cc->failed || !(all || cc->unsynced))
      continue;
    if (container_sync (cc->c) == -1) {
      /* A failing container fails alone (failure.c); anything else
       * stops durability for all. */
      if (!container_error_is_failure (errno))
        return -1;
      ctrl_container_fail (c, id, errno, "sync");
      continue;
    }
    cc->unsynced = false;
  }
  return 0;
}

int
ctrl_sync_containers (struct controller *c)
{
  return sync_containers (c, true);
}

void
ctrl_set_degraded (struct controller *c, const char *why)
{
  struct msg m = { .type = MSG_SET_DEGRADED, .flags = MSG_F_ON };

  if (c->degraded)
    return;
  c->degraded = true;
  sm_error ("controller: %s: refusing writes until 'segmapctl check' "
            "passes after a restart", why);
  if (ctrl_broadcast (c, &m) != 0)
    sm_error ("controller: not every agent confirmed the degraded mode "
              "(the controller refuses every allocation anyway)");
  /* Record it if the database still takes writes.  The open
   * transaction is dropped: nothing is committed from now on. */
  if (store_in_transaction (c->store))
    store_rollback (c->store);
  c->dirty = false;
  if (store_begin (c->store) == 0
      && (store_meta_set (c->store, "needs_check", "1") == -1
          || store_commit (c->store) == -1))
    store_rollback (c->store);
}

/* Give the segments freed by the committed transaction back.  Only now:
 * until the commit, the rows that reference a freed segment may still be
 * what a crash leaves (a rollback, a trim whose changed-block marks go in
 * the same transaction), so its data must still be there.  Those not
 * zeroed yet go to the delete pipeline's worker (delete.c), which zeroes
 * and syncs them off this thread and hands them back through c->frees:
 * punching a hole holds the container's inode lock, and may wait for a
 * journal commit, and with it for the writeback of everything dirty; on
 * this thread that stalled every fault, and the host writes behind them,
 * for up to a second during a migration (bench/README.md).  A crash
 * before the zeroing leaves free space, which an unclean start zeroes. */
static void
release_pending_frees (struct controller *c)
{
  for (size_t i = 0; i < c->frees.len; i++) {
    struct pending_free *f = &c->frees.ptr[i];
    struct ctrl_container *cc = c->containers[f->container];
    if (cc == NULL)
      continue;
    if (f->zero && !cc->failed) {
      struct pending_free z = *f;
      z.zero = false;
      if (pending_free_vector_append (&c->delete_freed, z) == -1)
        ctrl_set_degraded (c, "a freed segment could not be queued for "
                           "zeroing");
      continue;                 /* left used until then: never stale */
    }
    alloc_put (cc->alloc, f->unit, f->units);
  }
  c->frees.len = 0;
}

/* Commit the open transaction.  SYNC_DATA: sync the containers first
 * even if nothing was zeroed (the caller needs data durability).
 * 0 or -1 (degraded). */
int
ctrl_commit (struct controller *c, bool sync_data)
{
  if (ctrl_cbt_flush (c) == -1)
    return -1;
  if (sync_containers (c, sync_data) == -1) {
    ctrl_set_degraded (c, "a container sync failed");
    return -1;
  }
  if (!c->dirty) {
    /* Nothing to commit, so only released grants can be pending: they
     * never reached the store, and their zeroing is synced now. */
    release_pending_frees (c);
    return 0;
  }
  if (store_commit (c->store) == -1) {
    store_rollback (c->store);
    ctrl_set_degraded (c, "the map commit failed");
    return -1;
  }
  c->dirty = false;
  release_pending_frees (c);
  atomic_fetch_add (&c->commits, 1);
  return 0;
}

/* The queue -------------------------------------------------------------- */

/* Queue R; wake the thread unless R is LAZY and the batch is not full
 * (see the wake-ups above). */
static void
enqueue (struct controller *c, struct creq *r, bool lazy)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
  r->next = NULL;
  if (c->queue_tail)
    c->queue_tail->next = r;
  else
    c->queue_head = r;
  c->queue_tail = r;
  if (!lazy || c->idle || ++c->queued_lazy >= LAZY_BATCH)
    pthread_cond_signal (&c->queue_cond);
}

int
controller_submit_frame (struct controller *c, struct transport *from,
                         uint8_t *frame, size_t len)
{
  struct creq *r = calloc (1, sizeof *r);
  int type;

  if (r == NULL) {
    free (frame);
    sm_error ("controller: cannot queue a request: %m");
    return -1;
  }
  r->kind = CREQ_FRAME;
  r->from = from;
  r->frame = frame;
  r->len = len;
  type = msg_frame_type (frame, len);
  enqueue (c, r, type == MSG_ALLOCATED || type == MSG_MARK);
  return 0;
}

/* Queue R (on the caller's stack) and wait until the thread is done. */
static void
enqueue_and_wait (struct controller *c, struct creq *r)
{
  pthread_cond_init (&r->cond, NULL);
  enqueue (c, r, false);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
    while (!r->done)
      pthread_cond_wait (&r->cond, &c->queue_lock);
  }
  pthread_cond_destroy (&r->cond);
}

json_object *
controller_admin (void *opaque, const char *cmd, json_object *args,
                  char **error)
{
  struct controller *c = opaque;
  struct creq r = { .kind = CREQ_ADMIN, .cmd = cmd, .args = args };

  enqueue_and_wait (c, &r);
  *error = r.error;
  return r.result;
}

int
ctrl_call (struct controller *c, ctrl_call_fn *fn, void *arg)
{
  struct creq r = { .kind = CREQ_CALL, .fn = fn, .arg = arg };

  enqueue_and_wait (c, &r);
  if (r.status == -1)
    sm_error ("%s", r.error ? r.error : "out of memory");
  free (r.error);
  return r.status;
}

static void
answer_flushers (struct controller *c, int status)
{
  for (size_t i = 0; i < c->flushers.len; i++) {
    struct msg m = { .type = MSG_REPLY, .id = c->flushers.ptr[i].id,
                     .status = status };
    ctrl_send (c, c->flushers.ptr[i].agent, &m, NULL);
  }
  c->flushers.len = 0;
}

struct creq *
ctrl_admin_park (struct controller *c)
{
  struct creq *r = c->admin_req;

  c->admin_req = NULL;
  return r;
}

void
ctrl_admin_finish (struct controller *c, struct creq *r,
                   json_object *result, char *error)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
  r->result = result;
  r->error = error;
  r->done = true;
  pthread_cond_signal (&r->cond);
}

/* Handle one request.  Returns true if it was STOP. */
static bool
handle_request (struct controller *c, struct creq *r)
{
  switch (r->kind) {
  case CREQ_FRAME:
    ctrl_handle_frame (c, r->from, r->frame, r->len);
    free (r->frame);
    free (r);
    return false;
  case CREQ_ADMIN:
    ctrl_cbt_flush (c);         /* commands may read stored marks */
    c->admin_req = r;
    r->result = ctrl_admin (c, r->cmd, r->args, &r->error);
    if (c->admin_req == NULL)
      return false;             /* parked: answered later */
    c->admin_req = NULL;
    ctrl_admin_finish (c, r, r->result, r->error);
    return false;
  case CREQ_CALL:
    ctrl_cbt_flush (c);
    r->status = r->fn (c, r->arg, &r->error);
    ctrl_admin_finish (c, r, NULL, r->error);
    return false;
  case CREQ_STOP:
    free (r);
    return true;
  }
  return false;
}

/* Is R an ALLOCATED or MARK frame of VDISK (a write's, queued before
 * the write was acknowledged)? */
static bool
is_allocated_of (struct creq *r, uint32_t vdisk)
{
  struct msg m;
  bool yes;
  int type = r->kind == CREQ_FRAME ? msg_frame_type (r->frame, r->len) : 0;

  if ((type != MSG_ALLOCATED && type != MSG_MARK && type != MSG_MOVED)
      || msg_decode (r->frame, r->len, &m) == -1)
    return false;
  yes = m.vdisk == vdisk;
  msg_clear (&m);
  return yes;
}

/* Move the ALLOCATED, MARK and MOVED frames of VDISK from the list at
 * *PP (tail pointer *TAILP, may be NULL) to the end of the list at
 * **OUT. */
static void
take_frames_of (struct creq **pp, struct creq **tailp, uint32_t vdisk,
                struct creq ***out)
{
  struct creq *prev = NULL;

  while (*pp) {
    struct creq *r = *pp;
    if (!is_allocated_of (r, vdisk)) {
      prev = r;
      pp = &r->next;
      continue;
    }
    *pp = r->next;
    if (tailp && *tailp == r)
      *tailp = prev;
    r->next = NULL;
    **out = r;
    *out = &r->next;
  }
}

void
ctrl_take_allocated (struct controller *c, uint32_t vdisk)
{
  struct creq *mine = NULL, **tail = &mine;

  /* The loop's batch first: it was queued before the rest. */
  take_frames_of (&c->batch, NULL, vdisk, &tail);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
    take_frames_of (&c->queue_head, &c->queue_tail, vdisk, &tail);
  }
  while (mine) {
    struct creq *next = mine->next;
    handle_request (c, mine);
    mine = next;
  }
  /* The caller is about to change what those marks belong to (a
   * snapshot, a rollback): they go to the store first. */
  ctrl_cbt_flush (c);
}

static bool
commit_due (struct controller *c)
{
  return c->dirty && sm_now_ms () - c->dirty_since_ms >= COMMIT_INTERVAL_MS;
}

/* Wait for work: the whole queue, FIFO, or NULL on timeout. */
static struct creq *
take_queue (struct controller *c)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
  struct creq *list;

  if (c->queue_head == NULL) {
    /* A delete in progress paces itself: one batch per DELETE_PACE_MS
     * when nothing else is queued (delete.c). */
    bool deleting = ctrl_delete_pending (c) || ctrl_cow_pending (c)
      || ctrl_snapshot_waiting (c) || ctrl_job_pending (c);
    if (deleting || (c->dirty && !c->degraded)) {
      struct timespec deadline;
      clock_gettime (CLOCK_REALTIME, &deadline);
      deadline.tv_nsec += (deleting ? DELETE_PACE_MS : 100) * 1000000;
      if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait (&c->queue_cond, &c->queue_lock, &deadline);
    }
    else {
      c->idle = true;
      pthread_cond_wait (&c->queue_cond, &c->queue_lock);
      c->idle = false;
    }
  }
  list = c->queue_head;
  c->queue_head = c->queue_tail = NULL;
  c->queued_lazy = 0;
  return list;
}

static void
run_loop (struct controller *c)
{
  bool stop = false;

  while (!stop) {
    c->batch = take_queue (c);
    while (c->batch) {
      struct creq *r = c->batch;
      c->batch = r->next;
      stop |= handle_request (c, r);
    }
    ctrl_failure_step (c);
    ctrl_refill_grants (c);
    ctrl_delete_step (c);
    ctrl_cow_step (c);
    ctrl_snapshot_step (c);
    ctrl_job_step (c);
    if (ctrl_cbt_waiting (c)) {
      /* Marks must be durable before the writes they allow. */
      int r = c->degraded ? -1 : c->dirty ? ctrl_commit (c, false) : 0;
      ctrl_cbt_answer (c, r == 0 ? 0 : EIO);
    }
    if (c->flushers.len > 0) {
      /* The agent synced the data; commit the map (and sync again only
       * if segments were zeroed since). */
      int r = c->degraded || ctrl_move_settle_marks (c) == -1
        ? -1 : ctrl_commit (c, false);
      answer_flushers (c, r == 0 ? 0 : EIO);
    }
    else if (!c->degraded
             && (commit_due (c) || (!c->dirty && c->frees.len > 0)))
      ctrl_commit (c, false);   /* the latter: released grants only */
  }
}

/* Clean shutdown: commit, zero what was freed, sync, mark clean.
 * The first commit sends the segments the open transaction frees (a
 * migration's or a trim's, zeroed after their commit) to the zeroing
 * queue, which ctrl_delete_stop then empties: a clean start does not
 * zero free space, so every free segment must be durably zero before
 * the clean flag is (a segment freed in the last transaction used to
 * keep its data, and the next vdisk given it read it). */
static void
shutdown_store (struct controller *c)
{
  ctrl_snapshot_stop (c);
  ctrl_cow_stop (c);
  ctrl_release_grants (c);
  if (!c->degraded && ctrl_move_settle_marks (c) == 0)
    ctrl_commit (c, false);
  ctrl_delete_stop (c);
  if (!c->degraded && ctrl_commit (c, true) == 0
      && ctrl_change (c) == 0
      && store_meta_set (c->store, "clean", "1") == 0)
    ctrl_commit (c, false);
  if (store_in_transaction (c->store))
    store_rollback (c->store);
  store_close (c->store);
  c->store = NULL;
}

static void *
controller_thread (void *arg)
{
  struct controller *c = arg;
  int r;

  pthread_setname_np (pthread_self (), "sm-controller");
  r = ctrl_startup (c);

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
    c->start_status = r;
    pthread_cond_broadcast (&c->start_cond);
  }
  if (r == -1) {
    if (c->store) {
      store_close (c->store);
      c->store = NULL;
    }
    return NULL;
  }
  run_loop (c);
  shutdown_store (c);
  return NULL;
}

int
controller_start (struct controller *c)
{
  int err = pthread_create (&c->thread, NULL, controller_thread, c);

  if (err) {
    errno = err;
    sm_error ("cannot start the controller thread: %m");
    return -1;
  }
  c->thread_started = true;
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
  while (c->start_status == 1)
    pthread_cond_wait (&c->start_cond, &c->queue_lock);
  if (c->start_status == -1) {
    pthread_join (c->thread, NULL);
    c->thread_started = false;
    return -1;
  }
  return 0;
}

void
controller_stop (struct controller *c)
{
  struct creq *r;

  if (c == NULL || !c->thread_started)
    return;
  r = calloc (1, sizeof *r);
  if (r == NULL)
    abort ();                   /* cannot stop cleanly without memory */
  r->kind = CREQ_STOP;
  enqueue (c, r, false);
  pthread_join (c->thread, NULL);
  c->thread_started = false;
}
