/* segmap: deleting a vdisk without stalling the controller.
 *
 * Freeing a vdisk's segments costs a store update and a container zero
 * (a punched hole) per segment, and a container sync before the space
 * may be handed out again: for a fully written 10 GiB vdisk that is
 * seconds of work, and the controller thread also answers every fault.
 * So `vdisk delete' only takes the vdisk away: the agent drops its
 * table first (DELETE_TABLE: it stops serving and drains, nothing
 * writes the segments afterwards), then the store marks it deleting
 * (unlisted, its name free; sql/004) and commits.  The segments are
 * freed afterwards by ctrl_delete_step, which the controller loop runs
 * once per iteration, between batches of requests: DELETE_BATCH map
 * rows at most once per DELETE_PACE_MS, whether the controller is busy
 * or idle (when idle, the loop waits DELETE_PACE_MS for requests).  The
 * pace is a bound on punched holes per second, not on controller time:
 * freed faster, their journal commits stalled other vdisks' writes for
 * up to a second (bench/bench-delete-latency.sh).  When no row is left
 * the vdisk row goes too.
 *
 * Durability without zeroing or syncing on the controller thread.  A
 * freed segment must read zeros, durably, before the allocator may hand
 * it out (the commit recording its next owner could otherwise reach the
 * disk before the zeroing).  Punching a hole and syncing a container
 * each wait for the file system's journal, for tens of milliseconds
 * while other writers keep it busy, and the controller thread also
 * answers every fault.  So a segment freed here only leaves the map on
 * the controller thread; a worker thread does the rest:
 *
 *   freed ----> zeroing+syncing ----> c->frees ----> allocator
 *   (the next     (the worker punches    (released by the
 *    round takes   each segment, then     next commit, as
 *    them)         syncs its containers)  any free)
 *
 * The same worker zeroes the segments that other frees (a trim, the end
 * of a copy-on-write or a migration, a rollback) give up, once the
 * commit that frees them is done (controller.c, release_pending_frees).
 *
 * Committing the deleted rows before the zeroing is durable is safe: a
 * crash makes the next start zero all free space (startup.c), and a
 * clean stop waits for the worker and syncs every container before it
 * marks the database clean.  The worker uses the containers themselves:
 * `container remove' refuses a container that still has segments in
 * this pipeline (ctrl_delete_units_held), so none is closed under it.
 * A zeroing or sync that fails because the storage is failing fails the
 * container alone (failure.c): its freed segments are given back
 * unzeroed, since bringing it online zeroes its free space, and the
 * round's others are zeroed again.  Any other failure makes the
 * controller degraded.
 *
 * Data movements of the vdisk (faults-move.c) end first, before any
 * map row goes: each one's row is deleted and its alt segment freed
 * (zeroed after the commit, as a trim's are), in the batch's
 * transaction.  A movement with an order
 * outstanding (its IO_DONE is still queued) holds the deletion until
 * the next batch.  The store refuses to delete a vdisk row that still
 * has movement rows (a foreign key, sql/005).
 *
 * A crash while deleting loses at most the uncommitted batches (their
 * rows are still there); the next start finds the vdisk marked deleting
 * (ctrl_delete_resume) and carries on.  Nothing is freed while the
 * controller is degraded (it writes nothing any more).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/limits.h"
#include "controller/controller-internal.h"
#include "store/container.h"

/* Map rows freed per batch: well under a millisecond of work, so a
 * fault queued behind it is not held up for long; one batch per
 * DELETE_PACE_MS (controller-internal.h). */
#define DELETE_BATCH 8

enum delete_sync_state {
  DELETE_SYNC_IDLE,
  DELETE_SYNC_RUNNING,
  DELETE_SYNC_DONE,             /* the thread finished: join it */
};

struct delete_sync {
  struct controller *c;
  pthread_t thread;
  _Atomic enum delete_sync_state state;
  /* The round: segments to zero (c->delete_syncing, untouched by the
   * controller thread while the worker runs) and their containers. */
  const struct pending_free_vector *segments;
  struct container *containers[ENTRY_MAX_CONTAINER + 1];
  int err;                              /* errno of a failure, or 0 */
  const char *failed_op;                /* "zero" or "sync" */
  uint32_t failed_container;
};

int
ctrl_delete_resume (struct controller *c)
{
  sm_vdisk_info_free (c->deleting, c->n_deleting);
  c->deleting = NULL;
  c->n_deleting = 0;
  if (store_vdisk_list_deleting (c->store, &c->deleting, &c->n_deleting)
      == -1)
    return -1;
  if (c->n_deleting > 0)
    sm_debug ("controller: resuming the deletion of %zu vdisks",
              c->n_deleting);
  return 0;
}

int
ctrl_delete_start (struct controller *c, uint32_t id)
{
  if (ctrl_change (c) == -1
      || store_vdisk_mark_deleting (c->store, id) == -1
      || ctrl_commit (c, false) == -1
      || ctrl_reload_vdisks (c) == -1)
    return -1;
  return ctrl_delete_resume (c);
}

/* Work to do now (waiting for the sync thread is not: it wakes the
 * loop when it is done). */
bool
ctrl_delete_pending (const struct controller *c)
{
  bool syncing = c->delete_sync != NULL
    && atomic_load (&c->delete_sync->state) == DELETE_SYNC_RUNNING;

  if (c->degraded)
    return false;
  return c->n_deleting > 0
    || (!syncing && (c->delete_freed.len > 0 || c->delete_syncing.len > 0));
}

uint64_t
ctrl_delete_units_held (const struct controller *c, uint32_t container)
{
  uint64_t units = 0;

  for (size_t i = 0; i < c->delete_freed.len; i++)
    if (c->delete_freed.ptr[i].container == container)
      units += c->delete_freed.ptr[i].units;
  for (size_t i = 0; i < c->delete_syncing.len; i++)
    if (c->delete_syncing.ptr[i].container == container)
      units += c->delete_syncing.ptr[i].units;
  return units;
}

/* The sync thread ------------------------------------------------------- */

/* Zero the freed segment F of container C. */
static int
zero_freed (struct container *c, const struct pending_free *f)
{
  return container_zero (c, f->unit * SM_UNIT_SIZE,
                         (uint64_t) f->units * SM_UNIT_SIZE);
}

static void
round_failed (struct delete_sync *ds, const char *op, uint32_t container)
{
  ds->err = errno;
  ds->failed_op = op;
  ds->failed_container = container;
}

/* The worker: zero every segment of the round, then sync each container
 * it touched. */
static void *
sync_thread (void *arg)
{
  struct delete_sync *ds = arg;

  pthread_setname_np (pthread_self (), "sm-zeroer");
  for (size_t i = 0; i < ds->segments->len && ds->err == 0; i++) {
    const struct pending_free *f = &ds->segments->ptr[i];
    if (zero_freed (ds->containers[f->container], f) == -1)
      round_failed (ds, "zero", f->container);
  }
  for (uint32_t id = 1; id <= ENTRY_MAX_CONTAINER && ds->err == 0; id++)
    if (ds->containers[id] && container_sync (ds->containers[id]) == -1)
      round_failed (ds, "sync", id);
  /* Wake the controller loop (it may be waiting for requests). */
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&ds->c->queue_lock);
    atomic_store (&ds->state, DELETE_SYNC_DONE);
    pthread_cond_signal (&ds->c->queue_cond);
  }
  return NULL;
}

/* Hand the freed segments to a new round of the worker. */
static int
start_sync (struct controller *c)
{
  struct delete_sync *ds = c->delete_sync;
  struct pending_free_vector v = c->delete_syncing;
  int r;

  memset (ds->containers, 0, sizeof ds->containers);
  ds->err = 0;
  /* Those on a failed container are given back unzeroed (see above). */
  for (size_t i = 0; i < c->delete_freed.len; ) {
    struct pending_free f = c->delete_freed.ptr[i];
    if (!ctrl_container_is_failed (c, f.container)) {
      i++;
      continue;
    }
    if (pending_free_vector_append (&c->frees, f) == -1)
      return -1;
    c->delete_freed.ptr[i] = c->delete_freed.ptr[--c->delete_freed.len];
  }
  if (c->delete_freed.len == 0)
    return 0;
  for (size_t i = 0; i < c->delete_freed.len; i++) {
    uint32_t id = c->delete_freed.ptr[i].container;
    /* Present: `container remove' waits for this pipeline. */
    ds->containers[id] = c->containers[id]->c;
  }
  c->delete_syncing = c->delete_freed;
  c->delete_freed = v;
  c->delete_freed.len = 0;
  ds->segments = &c->delete_syncing;
  atomic_store (&ds->state, DELETE_SYNC_RUNNING);
  r = pthread_create (&ds->thread, NULL, sync_thread, ds);
  if (r != 0) {
    errno = r;
    sm_error ("controller: cannot start a sync thread: %m");
    atomic_store (&ds->state, DELETE_SYNC_IDLE);
    return -1;
  }
  return 0;
}

/* The sync thread is done: release what it made durable. */
static int
finish_sync (struct controller *c)
{
  struct delete_sync *ds = c->delete_sync;

  pthread_join (ds->thread, NULL);
  atomic_store (&ds->state, DELETE_SYNC_IDLE);
  if (ds->err != 0) {
    struct container *failed = ds->containers[ds->failed_container];
    atomic_store (&failed->failed, true);
    errno = ds->err;
    sm_error ("container %s: %s of freed segments: %m", failed->name,
              ds->failed_op);
    if (!container_error_is_failure (ds->err))
      return -1;
    /* The container fails alone (failure.c).  Its freed segments are
     * given back unzeroed (bringing it online zeroes its free space);
     * the others go round again. */
    ctrl_container_fail (c, ds->failed_container, ds->err,
                         "zeroing freed segments");
  }
  for (size_t i = 0; i < c->delete_syncing.len; i++) {
    struct pending_free f = c->delete_syncing.ptr[i];
    bool again = ds->err != 0
      && !ctrl_container_is_failed (c, f.container);
    if (pending_free_vector_append (again ? &c->delete_freed : &c->frees,
                                    f) == -1)
      return -1;
  }
  c->delete_syncing.len = 0;
  return 0;
}

static int
advance_sync (struct controller *c)
{
  if (c->delete_sync == NULL
      && (c->delete_sync = calloc (1, sizeof *c->delete_sync)) == NULL) {
    sm_error ("controller: calloc: %m");
    return -1;
  }
  c->delete_sync->c = c;
  switch (atomic_load (&c->delete_sync->state)) {
  case DELETE_SYNC_RUNNING:
    return 0;
  case DELETE_SYNC_DONE:
    if (finish_sync (c) == -1)
      return -1;
    /* fall through */
  case DELETE_SYNC_IDLE:
    if (c->delete_freed.len > 0)
      return start_sync (c);
  }
  return 0;
}

/* Zero what V holds on the controller thread (at a stop). */
static int
zero_now (struct controller *c, const struct pending_free_vector *v)
{
  for (size_t i = 0; i < v->len; i++) {
    const struct pending_free *f = &v->ptr[i];
    if (!ctrl_container_is_failed (c, f->container)
        && zero_freed (c->containers[f->container]->c, f) == -1)
      return -1;
  }
  return 0;
}

/* A clean stop: wait for the worker, and zero what it has not, so that
 * the clean stop's sync makes every freed segment durably zero (the
 * next start does not zero free space after a clean stop). */
void
ctrl_delete_stop (struct controller *c)
{
  if (c->delete_sync != NULL) {
    if (atomic_load (&c->delete_sync->state) != DELETE_SYNC_IDLE)
      pthread_join (c->delete_sync->thread, NULL);
    free (c->delete_sync);
    c->delete_sync = NULL;
  }
  if (!c->degraded
      && (zero_now (c, &c->delete_syncing) == -1
          || zero_now (c, &c->delete_freed) == -1))
    ctrl_set_degraded (c, "zeroing the segments of a deleted vdisk failed");
}

/* Freeing a batch --------------------------------------------------------- */

struct batch {
  unsigned n;
  uint64_t vseg[DELETE_BATCH];
  sm_entry e[DELETE_BATCH];
};

static int
batch_row (void *opaque, uint64_t vseg, sm_entry e)
{
  struct batch *b = opaque;

  b->vseg[b->n] = vseg;
  b->e[b->n] = e;
  return ++b->n == DELETE_BATCH;
}

/* Drop one map row of V and, with its last reference, its segment: the
 * worker zeroes it, and it goes to the allocator once that is durable. */
static int
free_row (struct controller *c, const struct sm_vdisk_info *v,
          uint64_t vseg, sm_entry e)
{
  uint32_t units = (UINT64_C(1) << v->seg_shift) / SM_UNIT_SIZE;
  uint32_t cid = entry_container (e), refs;
  struct ctrl_container *cc = c->containers[cid];

  if (store_map_set (c->store, v->id, vseg, ENTRY_ZERO_SEGMENT) == -1)
    return -1;
  if (cid == 0)
    return 0;                   /* an ERROR entry without a location */
  if (store_segment_ref (c->store, cid, entry_unit (e), -1, &refs) == -1)
    return -1;
  if (refs > 0 || cc == NULL)
    return 0;
  if (pending_free_vector_append (&c->delete_freed, (struct pending_free) {
        cid, entry_unit (e), units, false }) == -1)
    return -1;
  cc->n_segments--;
  atomic_fetch_add (&c->frees_total, 1);
  return 0;
}

/* The vdisk has no row left: remove it from the store and the list. */
static int
finish_vdisk (struct controller *c)
{
  struct sm_vdisk_info *v = &c->deleting[0];

  if (store_vdisk_delete (c->store, v->id) == -1)
    return -1;
  sm_debug ("controller: vdisk %" PRIu32 " deleted", v->id);
  free (v->name);
  memmove (v, v + 1, (c->n_deleting - 1) * sizeof *v);
  c->n_deleting--;
  return 0;
}

static int
free_batch (struct controller *c)
{
  struct sm_vdisk_info *v = &c->deleting[0];
  struct batch b = { .n = 0 };
  int moving;

  if (ctrl_change (c) == -1
      || (moving = ctrl_move_end_vdisk (c, v->id)) < 0)
    return -1;
  if (moving > 0)
    return 0;                   /* an IO_DONE is queued: the next batch */
  if (store_map_foreach (c->store, v->id, 0, batch_row, &b) < 0)
    return -1;
  if (b.n == 0)
    return finish_vdisk (c);
  for (unsigned i = 0; i < b.n; i++)
    if (free_row (c, v, b.vseg[i], b.e[i]) == -1)
      return -1;
  return 0;
}

void
ctrl_delete_step (struct controller *c)
{
  uint64_t now = sm_now_ms ();

  if (!ctrl_delete_pending (c))
    return;
  if (c->n_deleting > 0 && now - c->delete_last_ms >= DELETE_PACE_MS) {
    c->delete_last_ms = now;
    if (free_batch (c) == -1) {
      ctrl_set_degraded (c, "freeing the segments of a deleted vdisk failed");
      return;
    }
  }
  if (advance_sync (c) == -1)
    ctrl_set_degraded (c, "freeing the segments of a deleted vdisk failed");
}
