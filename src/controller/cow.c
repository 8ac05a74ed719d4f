/* segmap: copy-on-write after a snapshot (DESIGN §5 Snapshot, seed 001
 * FIG. 3/4: forward delta).
 *
 * After `snapshot create' the origin's map rows carry NOWRITE and share
 * their segments with the snapshot (refcount > 1).  A write fault on
 * such a row is answered here, before faults-move.c sees it:
 *
 *   segment still shared   a new segment (alt) is taken from the
 *   (refcount > 1)         container's allocator and a redirected
 *                          movement begins (ctrl_move_begin); the fault
 *                          then goes on to ctrl_move_fault, which
 *                          answers DO_WRITE: the host's blocks go to
 *                          alt at once, no segment copy is waited for
 *   no longer shared       the row loses NOWRITE (the snapshot was
 *   (refcount 1)           deleted); faults.c answers RETRY with the
 *                          plain entry, no copy
 *
 * The copier moves the rest.  Movements are its work list: every one
 * (a CoW's, or one reloaded after a restart) has its blocks still at
 * orig copied to alt and then ends with alt as the segment's location.
 * (Movements come from copy-on-write and from clone flatten, which
 * begins the same movement, ctrl_cow_begin, for a shared segment no
 * host wrote; a migration, which also copies everything, ends the same
 * way.)  The controller loop
 * calls ctrl_cow_step after each batch of requests:
 *
 *   IDLE ----claim----> RUNNING ----worker done----> DONE ----> IDLE
 *    |  (blocks at orig,   (a worker thread reads     (ctrl_move_copied
 *    |   held as an order:  orig, writes alt, syncs   marks them at alt
 *    |   no write or end    alt's container)          in the open
 *    |   touches them)                                transaction)
 *    +--- a movement has every block at alt and no order: finish it:
 *         ctrl_move_end (keep alt), map row -> alt (plain), SET_ENTRY
 *         blocking at the agents, then the reference to orig dropped
 *         (the snapshot keeps it, or it is freed)
 *
 * One batch runs at a time: up to COPY_BATCH segments (the first the
 * movements of vdisks a snapshot waits for, snapshot.c), copied by a
 * worker thread, then each container written synced once.  That bounds
 * the I/O in flight that is not the host's, and costs one sync per
 * batch rather than per segment (a sync per 1 MiB segment made the
 * copier too slow to keep up with random writes after a snapshot).  The
 * worker only uses the container handles it was given; each copy's
 * order keeps its movement (and so both locations) alive until the
 * controller thread has seen the result.
 *
 * A claimed block is busy: a host write to it waits.  So the batch is
 * claimed as it goes, COPY_AHEAD segments ahead of the worker (fill),
 * and each segment's blocks are released as soon as the worker has
 * written them, before the batch's sync (release_copied): a write that
 * meets a segment being copied waits for a segment copy or two, not
 * for the batch and its sync (which made writes to a vdisk just
 * snapshotted wait hundreds of milliseconds).  A write after the
 * release overwrites the copied block at alt and is marked itself; the
 * copy's own marks still wait for the sync.  A segment whose copy was
 * written may be delegated to the agent again (faults-move.c).  The
 * batch closes when it is full, or when nothing is left to claim and
 * the worker has caught up; then the worker syncs and is done.
 *
 * Crash safety.  Alt is synced before its blocks are marked, so a mark
 * that is committed never names data that is not durable at alt.  A
 * restart reloads the movements (ctrl_move_load): the copy starts again
 * from the blocks still at orig, which the snapshot still references,
 * so orig holds their data.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/errors.h"
#include "common/limits.h"
#include "controller/controller-internal.h"
#include "store/container.h"

enum cow_state {
  COW_IDLE,
  COW_RUNNING,                  /* the worker copies */
  COW_DONE,                     /* the worker finished: join it */
};

#define COPY_BATCH 64            /* segments copied per sync */
#define COPY_AHEAD 2             /* claimed, not yet copied, per batch */

/* One segment's copy in a batch. */
struct cow_job {
  struct move_copy copy;
  struct container *from, *to;  /* orig's and alt's containers */
  int err;                      /* errno of a failure, or 0 */
  struct container *failed_on;  /* where it failed (from or to) */
  _Atomic bool copied;          /* the worker wrote alt (not synced) */
  bool released;                /* its blocks no longer busy */
};

struct cow_copier {
  struct controller *c;
  pthread_t thread;
  bool thread_running;          /* joined in end_batch */
  _Atomic enum cow_state state;
  struct cow_job jobs[COPY_BATCH];
  size_t n_jobs;                /* claimed (controller thread) */
  /* Under c->queue_lock: */
  size_t n_ready;               /* handed to the worker */
  _Atomic size_t n_copied;      /* copied by the worker */
  size_t n_seen;                /* of those, released (controller) */
  bool closed;                  /* no more jobs in this batch */
  pthread_cond_t more;          /* n_ready or closed changed */
};

static const char *
cow_state_to_string (enum cow_state s)
{
  switch (s) {
  case COW_IDLE: return "idle";
  case COW_RUNNING: return "running";
  case COW_DONE: return "done";
  }
  return "unknown";
}

/* Faults ------------------------------------------------------------ */

int
ctrl_cow_begin (struct controller *c, const struct sm_vdisk_info *v,
                uint64_t seg, sm_entry row)
{
  uint32_t units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
  sm_entry alt;
  int err = ctrl_pool_alloc (c, v, seg, &alt);

  if (err)
    return err;
  if (ctrl_move_begin (c, v->id, seg, row, alt, true) == -1) {
    err = errno;
    alloc_put (c->containers[entry_container (alt)]->alloc,
               entry_unit (alt), units);
    return err;
  }
  c->containers[entry_container (alt)]->n_segments++;
  return 0;
}

bool
ctrl_cow_fault (struct controller *c, struct msg *req)
{
  const struct sm_vdisk_info *v = ctrl_find_vdisk (c, req->vdisk);
  sm_entry row;
  uint32_t refs;
  int err;

  if (req->op != FAULT_WRITE || req->count != 1 || v == NULL
      || v->read_only || c->degraded
      || ctrl_move_find (c, req->vdisk, req->first)
      || store_map_get (c->store, v->id, req->first, 1, &row) == -1
      || row == ENTRY_ZERO_SEGMENT
      || (row & (ENTRY_NOWRITE | ENTRY_ERROR | ENTRY_ALT)) != ENTRY_NOWRITE
      || store_segment_ref (c->store, entry_container (row),
                            entry_unit (row), 0, &refs) == -1)
    return false;               /* faults.c and faults-move.c answer */
  if (refs <= 1) {
    if (ctrl_change (c) == -1
        || store_map_set (c->store, v->id, req->first,
                          row & ~ENTRY_NOWRITE) == -1)
      ctrl_set_degraded (c, "a no-write flag could not be cleared");
    return false;               /* RETRY with the stored entry */
  }
  if ((err = ctrl_cow_begin (c, v, req->first, row)) != 0) {
    struct msg m = { .type = MSG_FAIL, .id = req->id, .status = err };
    ctrl_answer (c, &m);
    return true;
  }
  return false;                 /* ctrl_move_fault orders the write */
}

/* The worker -------------------------------------------------------- */


/* Copy blocks [FIRST, FIRST+N) of J's segment. */
static int
copy_run (struct cow_job *j, uint64_t first, uint64_t n, uint8_t *buf)
{
  uint64_t off = first * SM_BLOCK_SIZE, len = n * SM_BLOCK_SIZE;

  j->failed_on = j->from;
  if (container_pread (j->from, buf, len,
                       entry_offset (j->copy.orig) + off) == -1)
    return -1;
  j->failed_on = j->to;
  if (container_pwrite (j->to, buf, len,
                        entry_offset (j->copy.alt) + off) == -1)
    return -1;
  j->failed_on = NULL;
  return 0;
}

#define COPY_RUN_MAX 256        /* blocks per read: 1 MiB */

/* Copy J's claimed blocks (not yet synced). */
static void
copy_job (struct cow_job *j, uint8_t *buf)
{
  uint64_t n_blocks = (uint64_t) j->copy.n_bytes * 8, b = 0;

  while (j->err == 0 && b < n_blocks) {
    uint64_t n = 0;
    if (!((j->copy.blocks[b / 8] >> (b % 8)) & 1)) {
      b++;
      continue;
    }
    while (b + n < n_blocks && n < COPY_RUN_MAX
           && ((j->copy.blocks[(b + n) / 8] >> ((b + n) % 8)) & 1))
      n++;
    if (copy_run (j, b, n, buf) == -1)
      j->err = errno ? errno : EIO;
    b += n;
  }
}

/* Sync each container the batch wrote, once; a failure is every job's
 * that wrote there. */
static void
sync_batch (struct cow_copier *w)
{
  for (size_t i = 0; i < w->n_jobs; i++) {
    struct container *to = w->jobs[i].to;
    bool seen = false;
    int err = 0;
    for (size_t k = 0; k < i && !seen; k++)
      seen = w->jobs[k].to == to;
    if (seen || to == NULL)
      continue;
    if (container_sync (to) == -1)
      err = errno ? errno : EIO;
    for (size_t k = i; k < w->n_jobs && err; k++)
      if (w->jobs[k].to == to && w->jobs[k].err == 0) {
        w->jobs[k].err = err;
        w->jobs[k].failed_on = to;
      }
  }
}

/* The next job for the worker: its index, or -1 once the batch is
 * closed and every job handed out is done. */
static ssize_t
next_job (struct cow_copier *w, size_t i)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&w->c->queue_lock);

  while (i >= w->n_ready && !w->closed)
    pthread_cond_wait (&w->more, &w->c->queue_lock);
  return i < w->n_ready ? (ssize_t) i : -1;
}

static void *
copy_thread (void *arg)
{
  struct cow_copier *w = arg;
  CLEANUP_FREE uint8_t *buf = malloc (COPY_RUN_MAX * SM_BLOCK_SIZE);
  ssize_t i;

  pthread_setname_np (pthread_self (), "sm-copier");
  for (i = 0; (i = next_job (w, i)) >= 0; i++) {
    if (buf == NULL)
      w->jobs[i].err = ENOMEM;
    else if (w->jobs[i].err == 0 && w->jobs[i].from != NULL)
      copy_job (&w->jobs[i], buf);
    {
      /* Writes waiting for these blocks may go ahead (release_copied),
       * and the controller claims the next segment (fill). */
      ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&w->c->queue_lock);
      if (w->jobs[i].err == 0)
        atomic_store (&w->jobs[i].copied, true);
      atomic_store (&w->n_copied, i + 1);
      pthread_cond_signal (&w->c->queue_cond);
    }
  }
  sync_batch (w);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&w->c->queue_lock);
    atomic_store (&w->state, COW_DONE);
    pthread_cond_signal (&w->c->queue_cond);
  }
  return NULL;
}

/* The controller's side ----------------------------------------------- */

/* Alt becomes the location of the complete movement CP. */
static void
finish (struct controller *c, const struct move_copy *cp)
{
  struct sm_vdisk_info *v = ctrl_find_vdisk (c, cp->vdisk);
  uint32_t units = cp->n_bytes * 8 * SM_BLOCK_SIZE / SM_UNIT_SIZE;
  sm_entry alt = cp->alt | (v && v->base ? ENTRY_OPEN : 0);
  struct msg set = { .type = MSG_SET_ENTRY, .vdisk = cp->vdisk,
                     .first = cp->seg, .count = 1, .flags = MSG_F_BLOCKING,
                     .entries = &alt, .n_entries = 1 };
  uint32_t refs = 0;

  if (ctrl_move_end (c, cp->vdisk, cp->seg, true) == -1)
    return;                     /* EBUSY: later; EIO: degraded */
  /* Only a read on the fast path may still use orig (writes and split
   * reads of a moving segment are orders, all done by now): the agents
   * need to drain only if orig is about to be freed.  Draining for
   * every finished segment stalled the controller once per segment. */
  if (cp->orig != ENTRY_ZERO_SEGMENT
      && store_segment_ref (c->store, entry_container (cp->orig),
                            entry_unit (cp->orig), 0, &refs) == 0
      && refs > 1)
    set.flags = 0;
  if (ctrl_change (c) == -1
      || store_map_set (c->store, cp->vdisk, cp->seg, alt) == -1) {
    ctrl_set_degraded (c, "the end of a copy-on-write could not be "
                       "recorded");
    return;
  }
  if (v != NULL && ctrl_broadcast (c, &set) != 0) {
    /* An agent may still read orig: keep it referenced (a leak that
     * 'segmapctl check' reports), fence the vdisk. */
    ctrl_fence_vdisk (c, v, "the end of a copy-on-write has an unknown "
                      "outcome at an agent");
    return;
  }
  if (cp->orig != ENTRY_ZERO_SEGMENT
      && ctrl_unref_segment (c, cp->orig, units) == -1)
    ctrl_set_degraded (c, "the old location of a copied segment could "
                       "not be released");
}

/* Let host writes at the blocks of each job the worker has copied: a
 * redirected write after the copy overwrites the copied block at alt
 * and is marked itself, so the blocks need not wait for the batch's
 * sync (up to COPY_BATCH segments and a sync of their container, which
 * is what writes to a segment being copied used to wait for). */
static void
release_copied (struct controller *c, struct cow_copier *w)
{
  size_t copied = atomic_load (&w->n_copied);

  for (; w->n_seen < copied; w->n_seen++) {
    struct cow_job *j = &w->jobs[w->n_seen];
    if (atomic_load (&j->copied)) {
      j->released = true;
      ctrl_move_copy_written (c, &j->copy);
    }
  }
}

/* Prepare job J of a batch: its containers, or an error. */
static void
prepare_job (struct controller *c, struct cow_job *j)
{
  struct ctrl_container *from = c->containers[entry_container (j->copy.orig)];
  struct ctrl_container *to = c->containers[entry_container (j->copy.alt)];

  j->err = 0;
  atomic_store (&j->copied, false);
  j->released = false;
  j->from = from ? from->c : NULL;
  j->to = to ? to->c : NULL;
  if (j->copy.orig == ENTRY_ZERO_SEGMENT)
    j->from = j->to = NULL;     /* alt was free space, which reads zeros */
  else if (j->from == NULL || j->to == NULL)
    j->err = ENXIO;
}

/* Hand the jobs claimed since the last time to the worker. */
static void
hand_out (struct controller *c, struct cow_copier *w)
{
  for (size_t i = w->n_ready; i < w->n_jobs; i++)
    prepare_job (c, &w->jobs[i]);
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
  w->n_ready = w->n_jobs;
  pthread_cond_signal (&w->more);
}

/* No more jobs in W's batch: the worker syncs its containers once the
 * jobs are copied, which covers every write marked at alt on them so
 * far (ctrl_move_cover). */
static void
close_batch (struct controller *c, struct cow_copier *w)
{
  uint32_t synced[COPY_BATCH];
  size_t n = 0;

  if (w->closed)
    return;
  for (size_t i = 0; i < w->n_jobs; i++)
    if (w->jobs[i].to)
      synced[n++] = w->jobs[i].to->id;
  ctrl_move_cover (c, synced, n);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&c->queue_lock);
    w->closed = true;
    pthread_cond_signal (&w->more);
  }
}

/* Claim segments for the running batch, COPY_AHEAD ahead of the
 * worker, so that a host write to a segment the copier claimed waits
 * for at most a few segment copies, not for a whole batch; close the
 * batch when it is full, or when there is nothing left to claim and the
 * worker has caught up. */
static void
fill (struct controller *c, struct cow_copier *w)
{
  while (!w->closed && !c->degraded && w->n_jobs < COPY_BATCH
         && w->n_jobs - atomic_load (&w->n_copied) < COPY_AHEAD) {
    if (ctrl_move_claim_copy (c, &w->jobs[w->n_jobs].copy) != 1) {
      if (atomic_load (&w->n_copied) == w->n_jobs)
        close_batch (c, w);
      break;
    }
    w->n_jobs++;
  }
  if (w->n_jobs == COPY_BATCH || c->degraded)
    close_batch (c, w);
  hand_out (c, w);
}

/* Start the worker on W's batch.  0 or -1 (the batch is still W's). */
static int
start_batch (struct controller *c, struct cow_copier *w)
{
  int r;

  for (size_t i = 0; i < w->n_jobs; i++)
    prepare_job (c, &w->jobs[i]);
  w->n_ready = w->n_jobs;
  atomic_store (&w->state, COW_RUNNING);
  r = pthread_create (&w->thread, NULL, copy_thread, w);
  if (r != 0) {
    errno = r;
    sm_error ("controller: cannot start a copy thread: %m");
    atomic_store (&w->state, COW_IDLE);
    return -1;
  }
  w->thread_running = true;
  return 0;
}

/* The copy of J finished (OK) or is given up: record it, free it. */
static void
end_job (struct controller *c, struct cow_job *j, bool ok)
{
  if (ok && j->err != 0) {
    errno = j->err;
    sm_error ("controller: vdisk %" PRIu32 " segment %" PRIu64 ": copying "
              "the shared segment failed: %m", j->copy.vdisk, j->copy.seg);
  }
  if (ctrl_move_copied (c, &j->copy, ok && j->err == 0) == -1
      && errno != ENOENT)
    sm_error ("controller: vdisk %" PRIu32 " segment %" PRIu64 ": the "
              "copied blocks could not be recorded", j->copy.vdisk,
              j->copy.seg);
  if (ok && j->err != 0) {
    /* A failing container fails alone (failure.c): the copy waits for
     * it to come back.  Anything else stops durability for all. */
    if (container_error_is_failure (j->err) && j->failed_on)
      ctrl_container_failed_io (c, j->failed_on, j->err, "copy");
    else
      ctrl_set_degraded (c, "a copy-on-write failed");
  }
  free (j->copy.blocks);
  j->copy.blocks = NULL;
}

/* The worker finished (or never started: OK false): take the results. */
static void
end_batch (struct controller *c, struct cow_copier *w, bool ok)
{
  bool synced;

  if (w->thread_running)
    pthread_join (w->thread, NULL);
  w->thread_running = false;
  synced = ok;
  atomic_store (&w->state, COW_IDLE);
  for (size_t i = 0; i < w->n_jobs; i++)
    synced = synced && w->jobs[i].err == 0;   /* (a failed sync's too) */
  ctrl_move_covered (c, synced);
  for (size_t i = 0; i < w->n_jobs; i++)
    end_job (c, &w->jobs[i], ok);
  w->n_jobs = w->n_ready = w->n_seen = 0;
  atomic_store (&w->n_copied, 0);
  w->closed = false;
}

static struct cow_copier *
copier (struct controller *c)
{
  if (c->cow == NULL && (c->cow = calloc (1, sizeof *c->cow)) != NULL) {
    c->cow->c = c;
    pthread_cond_init (&c->cow->more, NULL);
  }
  return c->cow;
}

bool
ctrl_cow_pending (const struct controller *c)
{
  /* Running, the worker waits for the controller once it has copied a
   * job the controller has not seen (release_copied, fill): the loop
   * must not sleep on an empty queue then (its signal may have come
   * before the loop waited; the caller holds queue_lock, under which
   * the worker counts). */
  return !c->degraded && ctrl_move_any (c)
    && (c->cow == NULL || atomic_load (&c->cow->state) != COW_RUNNING
        || atomic_load (&c->cow->n_copied) != c->cow->n_seen);
}

/* End every movement that is complete: all blocks at alt, stored. */
static void
finish_complete (struct controller *c)
{
  struct move_copy done;

  while (!c->degraded && ctrl_move_next_complete (c, &done) == 1) {
    size_t before = c->moves.len;
    finish (c, &done);
    if (c->moves.len == before)
      break;                    /* could not end it: try again later */
  }
}

void
ctrl_cow_step (struct controller *c)
{
  struct cow_copier *w;

  if (c->degraded || (w = copier (c)) == NULL)
    return;
  if (atomic_load (&w->state) == COW_RUNNING) {
    release_copied (c, w);
    fill (c, w);
    return;
  }
  if (atomic_load (&w->state) == COW_DONE)
    end_batch (c, w, true);
  finish_complete (c);
  while (!c->degraded && w->n_jobs < COPY_AHEAD
         && ctrl_move_claim_copy (c, &w->jobs[w->n_jobs].copy) == 1)
    w->n_jobs++;
  if (w->n_jobs == 0) {
    /* Nothing left to copy, so no batch's sync will cover the marks of
     * writes to movements that are otherwise complete: sync here. */
    if (ctrl_move_settle_due (c) && ctrl_move_settle_marks (c) == 0)
      finish_complete (c);
    return;
  }
  sm_debug ("controller: copier %s: copying %zu segments, the first of "
            "vdisk %" PRIu32 " segment %" PRIu64,
            cow_state_to_string (atomic_load (&w->state)), w->n_jobs,
            w->jobs[0].copy.vdisk, w->jobs[0].copy.seg);
  if (start_batch (c, w) == -1)
    end_batch (c, w, false);
}

void
ctrl_cow_stop (struct controller *c)
{
  if (c->cow == NULL)
    return;
  if (atomic_load (&c->cow->state) != COW_IDLE) {
    close_batch (c, c->cow);
    end_batch (c, c->cow, true);
  }
  pthread_cond_destroy (&c->cow->more);
  free (c->cow);
  c->cow = NULL;
}
