/* segmap: the agent's volatile mapping table (design note in table.h).
 *
 * Memory: a leaf is 64 entries (512 bytes + a few); a mid block 512
 * pointers; the top array one pointer per 2^15 segments.  All are
 * counted in table_memory.bytes.  Leaves are the unit of eviction; a mid
 * block is freed with its last leaf.  Frees happen only after a drain, so
 * a reader that loaded a pointer before it was unpublished has finished
 * with it.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/table.h"
#include "common/cleanup.h"
#include "common/errors.h"

#define MID_SEGMENTS ((uint64_t) TABLE_LEAF_ENTRIES * TABLE_MID_ENTRIES)

static uint64_t
top_slots_for (uint64_t n_segments)
{
  return (n_segments + MID_SEGMENTS - 1) / MID_SEGMENTS;
}

static struct table_top *
top_new (struct table_memory *mem, uint64_t n)
{
  struct table_top *top = calloc (1, sizeof *top + n * sizeof top->mid[0]);

  if (top == NULL) {
    sm_error ("cannot allocate mapping table directory: %m");
    return NULL;
  }
  top->n = n;
  atomic_fetch_add (&mem->bytes, sizeof *top + n * sizeof top->mid[0]);
  return top;
}

static void
top_release (struct table_memory *mem, struct table_top *top)
{
  atomic_fetch_sub (&mem->bytes, sizeof *top + top->n * sizeof top->mid[0]);
  free (top);
}

struct table *
table_new (uint32_t vdisk, const char *name, uint64_t size,
           unsigned seg_shift, struct table_memory *mem)
{
  struct table *t = calloc (1, sizeof *t);

  if (t == NULL || (t->name = strdup (name)) == NULL) {
    sm_error ("cannot allocate mapping table: %m");
    free (t);
    return NULL;
  }
  t->vdisk = vdisk;
  t->seg_shift = seg_shift;
  t->mem = mem;
  t->size = size;
  t->n_segments = (size + (UINT64_C(1) << seg_shift) - 1) >> seg_shift;
  t->top = top_new (mem, top_slots_for (t->n_segments));
  if (t->top == NULL) {
    free (t->name);
    free (t);
    return NULL;
  }
  pthread_mutex_init (&t->drain_serial, NULL);
  pthread_mutex_init (&t->drain_lock, NULL);
  pthread_mutex_init (&t->lock, NULL);
  pthread_cond_init (&t->drained, NULL);
  pthread_cond_init (&t->activated, NULL);
  return t;
}

/* Free every leaf and mid block of TOP (no reader may be using them). */
static void
top_free_contents (struct table_memory *mem, struct table_top *top)
{
  for (uint64_t m = 0; m < top->n; m++) {
    struct table_mid *mid = atomic_load (&top->mid[m]);
    if (mid == NULL)
      continue;
    for (unsigned l = 0; l < TABLE_MID_ENTRIES; l++) {
      struct table_leaf *leaf = atomic_load (&mid->leaf[l]);
      if (leaf) {
        atomic_fetch_sub (&mem->bytes, sizeof *leaf);
        free (leaf);
      }
    }
    atomic_fetch_sub (&mem->bytes, sizeof *mid);
    free (mid);
    atomic_store (&top->mid[m], NULL);
  }
}

void
table_free (struct table *t)
{
  if (t == NULL)
    return;
  top_free_contents (t->mem, t->top);
  top_release (t->mem, t->top);
  pthread_mutex_destroy (&t->drain_serial);
  pthread_mutex_destroy (&t->drain_lock);
  pthread_mutex_destroy (&t->lock);
  pthread_cond_destroy (&t->drained);
  pthread_cond_destroy (&t->activated);
  free (t->name);
  free (t);
}

int
table_grow (struct table *t, uint64_t size)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
  uint64_t n_segments, slots;
  struct table_top *old = t->top, *top;

  if (size <= t->size)
    return 0;
  n_segments = (size + (UINT64_C(1) << t->seg_shift) - 1) >> t->seg_shift;
  slots = top_slots_for (n_segments);
  if (slots > old->n) {
    top = top_new (t->mem, slots);
    if (top == NULL)
      return -1;
    for (uint64_t m = 0; m < old->n; m++)
      atomic_store (&top->mid[m], atomic_load (&old->mid[m]));
    atomic_store (&t->top, top);
    table_drain (t);              /* nobody still reads the old top */
    top_release (t->mem, old);
  }
  t->n_segments = n_segments;
  t->size = size;
  return 0;
}

/* Epochs ------------------------------------------------------------- */

uint64_t
table_enter (struct table *t)
{
  for (;;) {
    uint64_t e = atomic_load (&t->epoch);

    atomic_fetch_add (&t->inflight[e & 1], 1);
    if (atomic_load (&t->epoch) == e && !atomic_load (&t->quiesced))
      return e;
    table_exit (t, e);
    if (atomic_load (&t->quiesced)) {
      ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->drain_lock);
      while (atomic_load (&t->quiesced))
        pthread_cond_wait (&t->activated, &t->drain_lock);
    }
  }
}

void
table_exit (struct table *t, uint64_t e)
{
  if (atomic_fetch_sub (&t->inflight[e & 1], 1) == 1
      && atomic_load (&t->drain_waiters) > 0) {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->drain_lock);
    pthread_cond_broadcast (&t->drained);
  }
}

/* Wait, with drain_lock held, until the counter of epoch OLD is zero or
 * DEADLINE (if not NULL) passes.  Returns 0 or ETIMEDOUT. */
static int
wait_for_epoch_locked (struct table *t, uint64_t old,
                       const struct timespec *deadline)
{
  int r = 0;

  atomic_fetch_add (&t->drain_waiters, 1);
  while (atomic_load (&t->inflight[old & 1]) != 0 && r == 0) {
    if (deadline)
      r = pthread_cond_timedwait (&t->drained, &t->drain_lock, deadline);
    else
      pthread_cond_wait (&t->drained, &t->drain_lock);
  }
  atomic_fetch_sub (&t->drain_waiters, 1);
  return atomic_load (&t->inflight[old & 1]) == 0 ? 0 : ETIMEDOUT;
}

/* Drains are serialised by drain_serial, which (unlike drain_lock) is
 * not released while waiting: with only two counters, a second drain
 * bumping the epoch while the first waits would reuse the first one's
 * counter.  For the same reason a drain first waits for the *other*
 * counter (an earlier epoch that a timed-out quiesce left running). */
void
table_drain (struct table *t)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->drain_serial);
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->drain_lock);
  uint64_t old;

  wait_for_epoch_locked (t, atomic_load (&t->epoch) + 1, NULL);
  old = atomic_fetch_add (&t->epoch, 1);
  wait_for_epoch_locked (t, old, NULL);
}

int
table_quiesce (struct table *t, uint64_t timeout_ms)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->drain_serial);
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->drain_lock);
  struct timespec deadline;
  uint64_t old;

  atomic_store (&t->quiesced, true);
  old = atomic_fetch_add (&t->epoch, 1);
  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000;
  }
  if (wait_for_epoch_locked (t, old, &deadline) != 0
      || wait_for_epoch_locked (t, old + 1, &deadline) != 0) {
    errno = ETIMEDOUT;
    return -1;
  }
  return 0;
}

void
table_activate (struct table *t)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->drain_lock);
  atomic_store (&t->quiesced, false);
  pthread_cond_broadcast (&t->activated);
}

/* Entries ------------------------------------------------------------ */

/* The leaf holding SEG, created if CREATE.  NULL if absent (or ENOMEM,
 * with errno set).  Called with the table lock held, so eviction cannot
 * unpublish what we load. */
static struct table_leaf *
leaf_for_locked (struct table *t, uint64_t seg, bool create)
{
  struct table_top *top = atomic_load (&t->top);
  uint64_t m = seg >> (TABLE_LEAF_SHIFT + TABLE_MID_SHIFT);
  unsigned l = (seg >> TABLE_LEAF_SHIFT) & (TABLE_MID_ENTRIES - 1);
  struct table_mid *mid;
  struct table_leaf *leaf;

  if (m >= top->n)
    return NULL;
  mid = atomic_load (&top->mid[m]);
  if (mid == NULL) {
    if (!create || (mid = calloc (1, sizeof *mid)) == NULL)
      return NULL;
    atomic_fetch_add (&t->mem->bytes, sizeof *mid);
    atomic_store (&top->mid[m], mid);
  }
  leaf = atomic_load (&mid->leaf[l]);
  if (leaf == NULL && create) {
    if ((leaf = calloc (1, sizeof *leaf)) == NULL)
      return NULL;
    atomic_fetch_add (&t->mem->bytes, sizeof *leaf);
    atomic_store (&leaf->referenced, 1);
    mid->n_leaves++;
    atomic_store (&mid->leaf[l], leaf);
  }
  return leaf;
}

int
table_store (struct table *t, uint64_t first, uint64_t count,
             const sm_entry *entries, uint32_t n_entries)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);

  for (uint64_t i = 0; i < count; i++) {
    uint64_t seg = first + i;
    sm_entry e = n_entries == 1 ? entries[0] : entries[i];
    struct table_leaf *leaf;

    if (seg >= t->n_segments)
      break;
    leaf = leaf_for_locked (t, seg, e != ENTRY_INVALID);
    if (leaf == NULL) {
      if (e == ENTRY_INVALID) {   /* nothing loaded here */
        if (n_entries == 1)       /* ... and nothing to store: skip it */
          i += TABLE_LEAF_ENTRIES - 1 - (seg & (TABLE_LEAF_ENTRIES - 1));
        continue;
      }
      sm_error ("cannot allocate mapping table leaf: %m");
      return -1;
    }
    atomic_store (&leaf->e[seg & (TABLE_LEAF_ENTRIES - 1)], e);
  }
  return 0;
}

void
table_set_bits (struct table *t, uint64_t first, uint64_t count,
                uint64_t bits, bool on)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);

  for (uint64_t i = 0; i < count && first + i < t->n_segments; i++) {
    struct table_leaf *leaf = leaf_for_locked (t, first + i, false);
    _Atomic sm_entry *p;

    if (leaf == NULL)
      continue;
    p = &leaf->e[(first + i) & (TABLE_LEAF_ENTRIES - 1)];
    if (!entry_is_valid (atomic_load (p)))
      continue;
    if (on)
      atomic_fetch_or (p, bits);
    else
      atomic_fetch_and (p, ~bits);
  }
}

/* Eviction ----------------------------------------------------------- */

/* Unpublish the leaf at (M, L); it goes on the *FREE_LIST chain to be
 * freed after the drain (readers may still be looking at its entries,
 * so the chain has its own link field). */
static void
unpublish_leaf (struct table *t, struct table_top *top, uint64_t m,
                unsigned l, struct table_leaf **free_list,
                struct table_mid **free_mids)
{
  struct table_mid *mid = atomic_load (&top->mid[m]);
  struct table_leaf *leaf = atomic_exchange (&mid->leaf[l], NULL);

  leaf->next_free = *free_list;
  *free_list = leaf;
  if (--mid->n_leaves == 0) {
    atomic_store (&top->mid[m], NULL);
    mid->next_free = *free_mids;
    *free_mids = mid;
  }
}

static uint64_t
free_unpublished (struct table *t, struct table_leaf *leaves,
                  struct table_mid *mids)
{
  uint64_t freed = 0;

  while (leaves) {
    struct table_leaf *next = leaves->next_free;
    free (leaves);
    freed += sizeof *leaves;
    leaves = next;
  }
  while (mids) {
    struct table_mid *next = mids->next_free;
    free (mids);
    freed += sizeof *mids;
    mids = next;
  }
  atomic_fetch_sub (&t->mem->bytes, freed);
  return freed;
}

/* One pass of the clock over at most the whole table; unpublishes
 * unreferenced leaves (clearing the bit of referenced ones) until
 * WANT bytes are collected. */
static uint64_t
clock_sweep_locked (struct table *t, uint64_t want,
                    struct table_leaf **leaves, struct table_mid **mids)
{
  struct table_top *top = atomic_load (&t->top);
  uint64_t n_leaf_slots = top->n * TABLE_MID_ENTRIES;
  uint64_t got = 0;

  for (uint64_t step = 0; step < 2 * n_leaf_slots && got < want; step++) {
    uint64_t slot = t->clock_hand++ % n_leaf_slots;
    uint64_t m = slot / TABLE_MID_ENTRIES;
    unsigned l = slot % TABLE_MID_ENTRIES;
    struct table_mid *mid = atomic_load (&top->mid[m]);
    struct table_leaf *leaf;

    if (mid == NULL) {          /* skip the whole empty mid block */
      t->clock_hand += TABLE_MID_ENTRIES - 1 - l;
      step += TABLE_MID_ENTRIES - 1 - l;
      continue;
    }
    leaf = atomic_load (&mid->leaf[l]);
    if (leaf == NULL)
      continue;
    if (atomic_exchange (&leaf->referenced, 0))
      continue;
    bool last = mid->n_leaves == 1;
    unpublish_leaf (t, top, m, l, leaves, mids);
    got += sizeof *leaf + (last ? sizeof *mid : 0);
  }
  return got;
}

uint64_t
table_evict (struct table *t, uint64_t want)
{
  struct table_leaf *leaves = NULL;
  struct table_mid *mids = NULL;
  uint64_t got;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    got = clock_sweep_locked (t, want, &leaves, &mids);
  }
  if (got == 0)
    return 0;
  table_drain (t);
  for (struct table_leaf *l = leaves; l; l = l->next_free)
    atomic_fetch_add (&t->mem->evicted_leaves, 1);
  return free_unpublished (t, leaves, mids);
}

void
table_forget_all (struct table *t)
{
  struct table_leaf *leaves = NULL;
  struct table_mid *mids = NULL;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    struct table_top *top = atomic_load (&t->top);

    for (uint64_t m = 0; m < top->n; m++) {
      struct table_mid *mid = atomic_load (&top->mid[m]);
      for (unsigned l = 0; mid && l < TABLE_MID_ENTRIES; l++) {
        if (atomic_load (&mid->leaf[l]) == NULL)
          continue;
        bool last = mid->n_leaves == 1;
        unpublish_leaf (t, top, m, l, &leaves, &mids);
        if (last)
          break;
      }
    }
  }
  table_drain (t);
  free_unpublished (t, leaves, mids);
}
