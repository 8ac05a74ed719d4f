/* segmap: the atomicity gate -- COMPARE AND WRITE and WRITE ATOMIC(16)
 * are atomic against every other command on their range, while
 * ordinary reads and writes take no lock.
 *
 * Two counters and a range lock:
 *   inflight        ordinary commands running on the fast path
 *   atomic_pending  atomic commands announced (waiting or running)
 *   ranges          LBA ranges locked by slow-path commands, under
 *                   lock, waited on with cond
 *
 * Ordinary command (gate_enter):
 *   inflight++ (seq_cst); if atomic_pending == 0: run (fast path).
 *   Otherwise back out (inflight--, wake the drainers) and take the
 *   slow path: wait until no locked range overlaps, lock its range.
 * Atomic command (gate_enter_atomic):
 *   under lock: atomic_pending++ (seq_cst); wait until inflight == 0;
 *   wait until no locked range overlaps; lock its range.
 *
 * Why it is safe: both sides write their own counter then read the
 * other's, all seq_cst, so at least one sees the other.  Either the
 * ordinary command sees atomic_pending > 0 (and goes through the range
 * lock), or the atomic command sees it in inflight and waits for it to
 * leave.  A fast-path command that leaves while an atomic command is
 * pending broadcasts under lock, so the drain cannot miss its wake-up.
 * Every range in the list is exclusive (slow-path ordinary commands
 * also exclude each other; they only exist while an atomic command is
 * pending, so this costs nothing in the common case).
 */
#include <config.h>

#include "common/cleanup.h"
#include "scsi/lu-internal.h"

void
gate_init (struct gate *g)
{
  atomic_init (&g->inflight, 0);
  atomic_init (&g->atomic_pending, 0);
  pthread_mutex_init (&g->lock, NULL);
  pthread_cond_init (&g->cond, NULL);
  g->ranges = NULL;
}

void
gate_destroy (struct gate *g)
{
  pthread_cond_destroy (&g->cond);
  pthread_mutex_destroy (&g->lock);
}

static bool
overlaps_locked (const struct gate *g, const struct gate_range *r)
{
  const struct gate_range *p;

  for (p = g->ranges; p != NULL; p = p->next)
    if (r->lba < p->lba + p->nblocks && p->lba < r->lba + r->nblocks)
      return true;
  return false;
}

/* A 0-block command still excludes its LBA (it has no data to tear,
 * but it keeps the rule simple). */
static void
lock_range_locked (struct gate *g, struct gate_ticket *t, uint64_t lba,
                   uint64_t n)
{
  t->range.lba = lba;
  t->range.nblocks = n ? n : 1;
  while (overlaps_locked (g, &t->range))
    pthread_cond_wait (&g->cond, &g->lock);
  t->range.next = g->ranges;
  g->ranges = &t->range;
  t->slow = true;
}

static void
unlock_range_locked (struct gate *g, struct gate_ticket *t)
{
  struct gate_range **pp;

  for (pp = &g->ranges; *pp != NULL; pp = &(*pp)->next)
    if (*pp == &t->range) {
      *pp = t->range.next;
      break;
    }
  t->slow = false;
  pthread_cond_broadcast (&g->cond);
}

static void
wake_drainers (struct gate *g)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&g->lock);
  pthread_cond_broadcast (&g->cond);
}

void
gate_enter (struct gate *g, uint64_t lba, uint64_t n, struct gate_ticket *t)
{
  t->slow = false;
  atomic_fetch_add (&g->inflight, 1);
  if (atomic_load (&g->atomic_pending) == 0)
    return;                                     /* fast path */
  atomic_fetch_sub (&g->inflight, 1);
  wake_drainers (g);
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&g->lock);
    lock_range_locked (g, t, lba, n);
  }
}

void
gate_leave (struct gate *g, struct gate_ticket *t)
{
  if (!t->slow) {
    atomic_fetch_sub (&g->inflight, 1);
    if (atomic_load (&g->atomic_pending) > 0)
      wake_drainers (g);
    return;
  }
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&g->lock);
    unlock_range_locked (g, t);
  }
}

void
gate_enter_atomic (struct gate *g, uint64_t lba, uint64_t n,
                   struct gate_ticket *t)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&g->lock);
  atomic_fetch_add (&g->atomic_pending, 1);
  while (atomic_load (&g->inflight) > 0)
    pthread_cond_wait (&g->cond, &g->lock);
  lock_range_locked (g, t, lba, n);
}

void
gate_leave_atomic (struct gate *g, struct gate_ticket *t)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&g->lock);
  unlock_range_locked (g, t);
  atomic_fetch_sub (&g->atomic_pending, 1);
}
