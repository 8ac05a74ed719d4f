/* segmap: the agent's volatile mapping table (design note in table.h).
 *
 * Memory: a leaf is 64 entries (512 bytes + a few); a mid block 512
 * pointers; the top array one pointer per 2^15 segments.  All are
 * counted in table_memory.bytes.  Leaves are the unit of eviction; a mid
 * block is freed with its last leaf.  Frees happen only after a drain, so
 * a reader that loaded a pointer before it was unpublished has finished
 * with it.  The zero sentinels (zero_leaf, zero_mid) are static: never
 * counted, freed, evicted or written; mid->n_leaves counts real leaves.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/table.h"
#include "common/cleanup.h"
#include "common/errors.h"

#define MID_SEGMENTS ((uint64_t) TABLE_LEAF_ENTRIES * TABLE_MID_ENTRIES)

/* The known-zero sentinels (table.h).  referenced is preset so that
 * table_lookup never writes it. */
static struct table_leaf zero_leaf = {
  .e = { [0 ... TABLE_LEAF_ENTRIES - 1] = ENTRY_ZERO_SEGMENT },
  .referenced = 1,
};
static struct table_mid zero_mid = {
  .leaf = { [0 ... TABLE_MID_ENTRIES - 1] = &zero_leaf },
};

static bool is_zero_leaf (const struct table_leaf *l) { return l == &zero_leaf; }
static bool is_zero_mid (const struct table_mid *m) { return m == &zero_mid; }

static void forget_zero_locked (struct table *t, uint64_t seg);

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
  marks_init (&t->marks, seg_shift);
  held_map_init (&t->held);
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
    if (mid == NULL || is_zero_mid (mid))
      continue;
    for (unsigned l = 0; l < TABLE_MID_ENTRIES; l++) {
      struct table_leaf *leaf = atomic_load (&mid->leaf[l]);
      if (leaf && !is_zero_leaf (leaf)) {
        atomic_fetch_sub (&mem->bytes, sizeof *leaf);
        atomic_fetch_sub (&mem->leaves, 1);
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
  marks_destroy (&t->marks);
  held_map_destroy (&t->held);
  pthread_cond_destroy (&t->drained);
  pthread_cond_destroy (&t->activated);
  free (t->grants);
  free (t->name);
  free (t);
}

/* The old top array is freed after a drain, and the drain runs with
 * the table lock released: an I/O inside its epoch may be waiting for
 * that lock (table_claim), and the drain waits for that I/O. */
int
table_grow (struct table *t, uint64_t size)
{
  struct table_top *old = NULL;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    uint64_t n_segments, slots;
    struct table_top *cur = t->top, *top;

    if (size <= t->size)
      return 0;
    n_segments = (size + (UINT64_C(1) << t->seg_shift) - 1) >> t->seg_shift;
    slots = top_slots_for (n_segments);
    if (slots > cur->n) {
      top = top_new (t->mem, slots);
      if (top == NULL)
        return -1;
      for (uint64_t m = 0; m < cur->n; m++)
        atomic_store (&top->mid[m], atomic_load (&cur->mid[m]));
      atomic_store (&t->top, top);
      old = cur;
    }
    if (t->n_segments > 0)
      forget_zero_locked (t, t->n_segments - 1);
    t->n_segments = n_segments;
    t->size = size;
  }
  if (old != NULL) {
    table_drain (t);              /* nobody still reads the old top */
    top_release (t->mem, old);
  }
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

/* A private copy of the zero mid block: every leaf a zero sentinel. */
static struct table_mid *
mid_new (struct table *t, bool zero)
{
  struct table_mid *mid = malloc (sizeof *mid);

  if (mid == NULL)
    return NULL;
  for (unsigned l = 0; l < TABLE_MID_ENTRIES; l++)
    atomic_init (&mid->leaf[l], zero ? &zero_leaf : NULL);
  mid->n_leaves = 0;
  mid->next_free = NULL;
  atomic_fetch_add (&t->mem->bytes, sizeof *mid);
  return mid;
}

/* A new leaf: every entry INVALID, or ZERO for a copy of zero_leaf. */
static struct table_leaf *
leaf_new (struct table *t, bool zero)
{
  struct table_leaf *leaf = malloc (sizeof *leaf);

  if (leaf == NULL)
    return NULL;
  for (unsigned i = 0; i < TABLE_LEAF_ENTRIES; i++)
    atomic_init (&leaf->e[i], zero ? ENTRY_ZERO_SEGMENT : ENTRY_INVALID);
  atomic_init (&leaf->referenced, 1);
  leaf->last_claim = 0;
  leaf->next_free = NULL;
  atomic_fetch_add (&t->mem->bytes, sizeof *leaf);
  atomic_fetch_add (&t->mem->leaves, 1);
  return leaf;
}

/* The leaf holding SEG as published: NULL if absent, maybe zero_leaf.
 * Called with the table lock held. */
static struct table_leaf *
leaf_peek_locked (struct table *t, uint64_t seg)
{
  struct table_top *top = atomic_load (&t->top);
  uint64_t m = seg >> (TABLE_LEAF_SHIFT + TABLE_MID_SHIFT);
  struct table_mid *mid;

  if (m >= top->n || (mid = atomic_load (&top->mid[m])) == NULL)
    return NULL;
  return atomic_load (&mid->leaf[(seg >> TABLE_LEAF_SHIFT)
                                 & (TABLE_MID_ENTRIES - 1)]);
}

/* The private (writable) leaf holding SEG, created if absent and
 * copied if a zero sentinel.  NULL on ENOMEM or past the top.  Called
 * with the table lock held, so eviction cannot unpublish what we load. */
static struct table_leaf *
leaf_for_locked (struct table *t, uint64_t seg)
{
  struct table_top *top = atomic_load (&t->top);
  uint64_t m = seg >> (TABLE_LEAF_SHIFT + TABLE_MID_SHIFT);
  unsigned l = (seg >> TABLE_LEAF_SHIFT) & (TABLE_MID_ENTRIES - 1);
  struct table_mid *mid;
  struct table_leaf *leaf;

  if (m >= top->n)
    return NULL;
  mid = atomic_load (&top->mid[m]);
  if (mid == NULL || is_zero_mid (mid)) {
    if ((mid = mid_new (t, mid != NULL)) == NULL)
      return NULL;
    atomic_store (&top->mid[m], mid);
  }
  leaf = atomic_load (&mid->leaf[l]);
  if (leaf == NULL || is_zero_leaf (leaf)) {
    if ((leaf = leaf_new (t, leaf != NULL)) == NULL)
      return NULL;
    mid->n_leaves++;
    atomic_store (&mid->leaf[l], leaf);
  }
  return leaf;
}

/* Forget the known zeros around SEG (a sentinel on its path becomes
 * NULL: INVALID).  Sentinels are never freed, so no drain is needed
 * before reuse; a blocking caller drains anyway. */
static void
forget_zero_locked (struct table *t, uint64_t seg)
{
  struct table_top *top = atomic_load (&t->top);
  uint64_t m = seg >> (TABLE_LEAF_SHIFT + TABLE_MID_SHIFT);
  unsigned l = (seg >> TABLE_LEAF_SHIFT) & (TABLE_MID_ENTRIES - 1);
  struct table_mid *mid;

  if (m >= top->n || (mid = atomic_load (&top->mid[m])) == NULL)
    return;
  if (is_zero_mid (mid))
    atomic_store (&top->mid[m], NULL);
  else if (is_zero_leaf (atomic_load (&mid->leaf[l])))
    atomic_store (&mid->leaf[l], NULL);
}

/* The entry of SEG as a reader would see it.  Table lock held. */
static sm_entry
entry_locked (struct table *t, uint64_t seg)
{
  struct table_leaf *leaf = leaf_peek_locked (t, seg);

  if (leaf == NULL)
    return ENTRY_INVALID;
  return atomic_load (&leaf->e[seg & (TABLE_LEAF_ENTRIES - 1)]);
}

/* Store E at SEG (copying a sentinel if needed).  0 or -1 (ENOMEM). */
static int
store_locked (struct table *t, uint64_t seg, sm_entry e)
{
  struct table_leaf *leaf = leaf_for_locked (t, seg);

  if (leaf == NULL) {
    sm_error ("cannot allocate mapping table leaf: %m");
    return -1;
  }
  atomic_store (&leaf->e[seg & (TABLE_LEAF_ENTRIES - 1)], e);
  atomic_store_explicit (&leaf->referenced, 1, memory_order_relaxed);
  return 0;
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
    if (e != ENTRY_INVALID) {
      if (store_locked (t, seg, e) == -1)
        return -1;
      continue;
    }
    forget_zero_locked (t, seg);
    leaf = leaf_peek_locked (t, seg);
    if (leaf == NULL) {           /* nothing loaded here */
      if (n_entries == 1)         /* ... and nothing to store: skip it */
        i += TABLE_LEAF_ENTRIES - 1 - (seg & (TABLE_LEAF_ENTRIES - 1));
      continue;
    }
    atomic_store (&leaf->e[seg & (TABLE_LEAF_ENTRIES - 1)], e);
  }
  return 0;
}

/* Known zeros for [FIRST, FIRST+COUNT): whole absent mid blocks and
 * leaves become sentinels; INVALID entries of real leaves become ZERO;
 * partial absent leaves stay INVALID.  Table lock held. */
static void
hint_zero_locked (struct table *t, uint64_t first, uint64_t count)
{
  struct table_top *top = atomic_load (&t->top);
  uint64_t n = t->n_segments, end = first + count, seg = first;

  /* A sentinel may reach past the end of the table: table_grow forgets
   * the last one. */
  if (end >= n || end < first)
    end = UINT64_MAX;
  while (seg < end && seg < n) {
    uint64_t m = seg / MID_SEGMENTS, mid_end = (m + 1) * MID_SEGMENTS;
    uint64_t leaf_end = (seg | (TABLE_LEAF_ENTRIES - 1)) + 1;
    unsigned l = (seg >> TABLE_LEAF_SHIFT) & (TABLE_MID_ENTRIES - 1);
    struct table_mid *mid = atomic_load (&top->mid[m]);
    struct table_leaf *leaf;

    if (mid == NULL || is_zero_mid (mid)) {
      if (mid == NULL && seg % MID_SEGMENTS == 0 && end >= mid_end)
        atomic_store (&top->mid[m], &zero_mid);
      seg = mid_end;
      continue;
    }
    leaf = atomic_load (&mid->leaf[l]);
    if (leaf == NULL) {
      if (seg % TABLE_LEAF_ENTRIES == 0 && end >= leaf_end)
        atomic_store (&mid->leaf[l], &zero_leaf);
      seg = leaf_end;
      continue;
    }
    for (; seg < leaf_end && seg < end && seg < n; seg++) {
      sm_entry invalid = ENTRY_INVALID;
      if (!is_zero_leaf (leaf))
        atomic_compare_exchange_strong (&leaf->e[seg % TABLE_LEAF_ENTRIES],
                                        &invalid, ENTRY_ZERO_SEGMENT);
    }
  }
}

int
table_load (struct table *t, uint64_t first, uint64_t count,
            const sm_entry *entries, uint64_t zero_after, uint64_t seq)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);

  if (t->evicted_claim > seq)
    return 1;
  for (uint64_t i = 0; i < count && first + i < t->n_segments; i++) {
    sm_entry cur = entry_locked (t, first + i);
    if (cur == entries[i] || entry_flags (cur) == ENTRY_VALID)
      continue;
    if (entries[i] == ENTRY_INVALID)
      continue;
    if (store_locked (t, first + i, entries[i]) == -1)
      return -1;
  }
  if (zero_after > 0)
    hint_zero_locked (t, first + count, zero_after);
  return 0;
}

int
table_add_grants (struct table *t, const sm_entry *grants, uint32_t n)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);

  if (t->grants_head > 0) {             /* the used ones are gone: slide */
    memmove (t->grants, &t->grants[t->grants_head],
             t->n_grants * sizeof *t->grants);
    t->grants_head = 0;
  }
  if (t->n_grants + n > t->grants_cap) {
    uint32_t cap = t->n_grants + n;
    sm_entry *p = realloc (t->grants, cap * sizeof *p);
    if (p == NULL) {
      sm_error ("cannot hold %" PRIu32 " granted segments: %m", cap);
      return -1;
    }
    t->grants = p;
    t->grants_cap = cap;
  }
  memcpy (&t->grants[t->n_grants], grants, n * sizeof *grants);
  t->n_grants += n;
  return 0;
}

uint32_t
table_grants (struct table *t)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
  return t->n_grants;
}

int64_t
table_take_grants (struct table *t, sm_entry **grants)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
  uint32_t n = t->n_grants;

  *grants = NULL;
  if (n == 0)
    return 0;
  if ((*grants = malloc (n * sizeof **grants)) == NULL)
    return -1;
  memcpy (*grants, &t->grants[t->grants_head], n * sizeof **grants);
  t->grants_head = t->n_grants = 0;
  return n;
}

int
table_claim (struct table *t, uint64_t seg,
             int (*notify) (void *opaque, sm_entry e), void *opaque,
             sm_entry *e, bool *grew)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
  uint64_t before = atomic_load (&t->mem->bytes), seq;
  struct table_leaf *leaf;

  *grew = false;
  if (t->n_grants == 0 || seg >= t->n_segments
      || entry_locked (t, seg) != ENTRY_ZERO_SEGMENT)
    return 0;
  if ((leaf = leaf_for_locked (t, seg)) == NULL)
    return 0;                   /* ENOMEM: the fault will say so */
  *grew = atomic_load (&t->mem->bytes) > before;
  *e = t->grants[t->grants_head];
  if (notify (opaque, *e) == -1)
    return -1;
  t->grants_head++;
  t->n_grants--;
  atomic_store (&leaf->e[seg & (TABLE_LEAF_ENTRIES - 1)], *e);
  atomic_store_explicit (&leaf->referenced, 1, memory_order_relaxed);
  seq = atomic_load (&t->claim_seq) + 1;
  leaf->last_claim = seq;
  atomic_store_explicit (&t->claim_seq, seq, memory_order_release);
  return 1;
}

void
table_set_bits (struct table *t, uint64_t first, uint64_t count,
                uint64_t bits, bool on)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);

  for (uint64_t i = 0; i < count && first + i < t->n_segments; i++) {
    struct table_leaf *leaf;
    _Atomic sm_entry *p;

    forget_zero_locked (t, first + i);
    leaf = leaf_peek_locked (t, first + i);
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
  uint64_t freed = 0, n_leaves = 0;

  while (leaves) {
    struct table_leaf *next = leaves->next_free;
    free (leaves);
    freed += sizeof *leaves;
    n_leaves++;
    leaves = next;
  }
  while (mids) {
    struct table_mid *next = mids->next_free;
    free (mids);
    freed += sizeof *mids;
    mids = next;
  }
  atomic_fetch_sub (&t->mem->bytes, freed);
  atomic_fetch_sub (&t->mem->leaves, n_leaves);
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

    if (mid == NULL || is_zero_mid (mid)) {   /* skip the whole block */
      t->clock_hand += TABLE_MID_ENTRIES - 1 - l;
      step += TABLE_MID_ENTRIES - 1 - l;
      continue;
    }
    leaf = atomic_load (&mid->leaf[l]);
    if (leaf == NULL || is_zero_leaf (leaf))
      continue;
    if (atomic_exchange (&leaf->referenced, 0))
      continue;
    bool last = mid->n_leaves == 1;
    if (leaf->last_claim > t->evicted_claim)
      t->evicted_claim = leaf->last_claim;
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

  marks_forget (&t->marks, 0, UINT64_MAX);

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&t->lock);
    struct table_top *top = atomic_load (&t->top);

    for (uint64_t m = 0; m < top->n; m++) {
      struct table_mid *mid = atomic_load (&top->mid[m]);
      if (mid != NULL && is_zero_mid (mid)) {
        atomic_store (&top->mid[m], NULL);
        continue;
      }
      for (unsigned l = 0; mid && l < TABLE_MID_ENTRIES; l++) {
        struct table_leaf *leaf = atomic_load (&mid->leaf[l]);
        if (leaf == NULL)
          continue;
        if (is_zero_leaf (leaf)) {
          atomic_store (&mid->leaf[l], NULL);
          continue;
        }
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
