/* segmap: one vdisk's volatile mapping table in the agent.
 *
 * A table maps every segment of a vdisk to an sm_entry (proto/entry.h).
 * It is a cache of the controller's authoritative map: every entry
 * starts INVALID and is filled in by the controller's answers; the agent
 * may forget (evict) any part of it at any time to stay under its
 * memory bound, and the next access simply faults again.
 *
 * Shape: a two-level radix tree, allocated on demand, so a 1 PiB vdisk
 * costs almost nothing until it is touched:
 *
 *   top[]  --->  mid block (512 pointers)  --->  leaf (64 entries)
 *
 * Readers (the I/O fast path) never lock: they load the top, mid and leaf
 * pointers and the entry with atomic loads, inside an *epoch* section.
 *
 * Epochs give both the blocking flag of set_entry/set_status (DESIGN §4)
 * and safe memory reclamation:
 *   - An I/O calls table_enter() before it looks anything up and
 *     table_exit() when its storage I/O has finished.  enter() counts the
 *     I/O in the current epoch's in-flight counter (two counters, by
 *     epoch parity).
 *   - table_drain() bumps the epoch and waits until the previous epoch's
 *     counter is zero: every I/O that started before the drain has
 *     finished, and no I/O can still hold a pointer it loaded before.
 *   - A blocking set_entry stores the new entries, then drains.  An
 *     eviction unpublishes leaves, drains, then frees them.
 * An I/O that faults leaves its epoch while it waits for the controller
 * (it has issued nothing to storage), so a drain never waits on a fault
 * and the controller can drain while faults are queued behind it.
 *
 * Known zeros.  A whole leaf, or a whole mid block, that the controller
 * said is ZERO is not stored: its slot points at a shared, read-only
 * sentinel (every entry ENTRY_ZERO_SEGMENT), so "all 8 TiB of this new
 * vdisk are zero" costs nothing and the fast path is unchanged.
 * Storing into a sentinel copies it first (copy on write); forgetting
 * or eviction simply drops the pointer (the segments become INVALID).
 *
 * Grants and fault answers.  The agent holds a small pool of segments
 * the controller granted to the vdisk (agent.h).  table_claim() maps a
 * ZERO entry to one of them, under the table lock, so the agent's table
 * can be *ahead* of the controller's map until the controller records
 * the ALLOCATED message; it is never behind, because every change the
 * controller makes reaches the table (SET_ENTRY) before the controller
 * handles anything else.  So a fault's answer (table_load) never
 * replaces a plain mapped entry (no fault is ever caused by one, so it
 * is newer than the answer: a claim), and is dropped whole if a leaf
 * holding a claim made after the fault was sent has been evicted since
 * (the answer, computed before the controller saw that ALLOCATED, would
 * bring the claimed segment back as ZERO).  Claims are numbered
 * (claim_seq, bumped after the ALLOCATED is queued, under the lock), a
 * leaf remembers its latest claim and the table the latest claim it
 * evicted.
 *
 * Quiesce: while table->quiesced is set, table_enter() waits (DESIGN §4
 * quiesce/activate).
 *
 * Thread safety: lookups and stores of entries are lock-free; creating
 * leaves uses compare-and-swap; eviction and grow are serialised by
 * table->lock.  Nobody drains while holding table->lock: an I/O inside
 * its epoch may wait for that lock (table_claim), so a drain under it
 * would wait for itself (grow publishes the new top under the lock and
 * drains after releasing it, before freeing the old top).
 */
#ifndef SEGMAP_TABLE_H
#define SEGMAP_TABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/held.h"
#include "agent/marks.h"
#include "common/limits.h"
#include "proto/entry.h"

#define TABLE_LEAF_SHIFT 6
#define TABLE_LEAF_ENTRIES (1u << TABLE_LEAF_SHIFT)
#define TABLE_MID_SHIFT 9
#define TABLE_MID_ENTRIES (1u << TABLE_MID_SHIFT)

struct table_leaf {
  _Atomic sm_entry e[TABLE_LEAF_ENTRIES];
  _Atomic uint8_t referenced;     /* clock bit for eviction */
  uint64_t last_claim;            /* claim_seq of its latest claim (lock) */
  struct table_leaf *next_free;   /* chain of unpublished leaves */
};

struct table_mid {
  _Atomic (struct table_leaf *) leaf[TABLE_MID_ENTRIES];
  unsigned n_leaves;              /* protected by table lock */
  struct table_mid *next_free;    /* chain of unpublished mids */
};

struct table_top {
  uint64_t n;                     /* number of mid slots */
  _Atomic (struct table_mid *) mid[];
};

/* Global accounting of table memory, shared by all tables of an agent. */
struct table_memory {
  _Atomic uint64_t bytes;          /* leaves + mids + tops */
  _Atomic uint64_t leaves;         /* real leaves (statistics) */
  _Atomic uint64_t evicted_leaves; /* statistics */
  uint64_t limit;                  /* 0: no bound */
};

struct table {
  uint32_t vdisk;                 /* vdisk id */
  char *name;
  _Atomic uint64_t size;          /* bytes */
  unsigned seg_shift;
  _Atomic uint64_t n_segments;
  _Atomic (struct table_top *) top;
  struct table_memory *mem;

  /* Epochs (see above). */
  _Atomic uint64_t epoch;
  _Atomic uint64_t inflight[2];
  _Atomic unsigned drain_waiters;
  _Atomic bool quiesced;
  pthread_mutex_t drain_serial;   /* held for a whole drain or quiesce */
  pthread_mutex_t drain_lock;     /* protects the waits below */
  pthread_cond_t drained;         /* signalled when a counter hits 0 */
  pthread_cond_t activated;       /* signalled when quiesce ends */

  pthread_mutex_t lock;           /* eviction, grow, leaf freeing */
  uint64_t clock_hand;            /* eviction position (segment index) */
  _Atomic uint64_t claim_seq;     /* claims so far (written under lock) */
  uint64_t evicted_claim;         /* latest claim_seq evicted (lock) */

  /* Segments granted by the controller, not yet used (protected by
   * lock): grants[grants_head .. grants_head + n_grants), used in the
   * order granted.  The controller's allocator hands out the lowest
   * free addresses first, so a vdisk written front to back into a
   * container with free space at its end is laid out front to back, and
   * reading it sequentially reads the container sequentially (the
   * kernel's readahead sees it).  Taking the newest first laid each
   * batch out backwards. */
  sm_entry *grants;
  uint32_t grants_head, n_grants, grants_cap;

  /* Changed-block marks the controller confirmed (marks.h). */
  struct marks marks;

  /* Movements the controller delegated (held.h). */
  struct held_map held;

  /* Owned by the agent (agent.c): */
  _Atomic unsigned refs;          /* the agent's own + one per open handle */
  _Atomic bool dead;              /* deleted: every access fails */
  _Atomic bool read_only;         /* writes fail with EROFS */

  /* Flushes (agent cio.c): a bit per container id written since the
   * last flush; LOST: writes to a failed container were never synced,
   * so every flush fails until the vdisk is made writable again. */
  _Atomic uint64_t written[(ENTRY_MAX_CONTAINER + 1) / 64];
  _Atomic bool lost;
};

/* Create an empty table (every entry INVALID).  NULL + sm_error. */
struct table *table_new (uint32_t vdisk, const char *name, uint64_t size,
                         unsigned seg_shift, struct table_memory *mem);
/* Free the table.  No I/O may be using it. */
void table_free (struct table *t);
/* Grow the table to SIZE bytes (never shrinks).  0 or -1. */
int table_grow (struct table *t, uint64_t size);

/* Epoch section around every lookup + storage I/O. */
uint64_t table_enter (struct table *t);
void table_exit (struct table *t, uint64_t epoch);
/* Wait until every I/O that entered before this call has exited. */
void table_drain (struct table *t);

/* Fast path: the entry of SEG, or ENTRY_INVALID if not loaded.  Must be
 * called inside an epoch section. */
static inline sm_entry
table_lookup (struct table *t, uint64_t seg)
{
  struct table_top *top = atomic_load_explicit (&t->top, memory_order_acquire);
  uint64_t m = seg >> (TABLE_LEAF_SHIFT + TABLE_MID_SHIFT);
  struct table_mid *mid;
  struct table_leaf *leaf;

  if (m >= top->n)
    return ENTRY_INVALID;
  mid = atomic_load_explicit (&top->mid[m], memory_order_acquire);
  if (mid == NULL)
    return ENTRY_INVALID;
  leaf = atomic_load_explicit (&mid->leaf[(seg >> TABLE_LEAF_SHIFT)
                                          & (TABLE_MID_ENTRIES - 1)],
                               memory_order_acquire);
  if (leaf == NULL)
    return ENTRY_INVALID;
  if (!atomic_load_explicit (&leaf->referenced, memory_order_relaxed))
    atomic_store_explicit (&leaf->referenced, 1, memory_order_relaxed);
  return atomic_load_explicit (&leaf->e[seg & (TABLE_LEAF_ENTRIES - 1)],
                               memory_order_acquire);
}

/* Store entries for [FIRST, FIRST+COUNT): ENTRIES has COUNT entries, or 1
 * entry used for the whole range.  Creates leaves as needed; storing
 * INVALID never creates a leaf.  Returns 0, or -1 on ENOMEM. */
int table_store (struct table *t, uint64_t first, uint64_t count,
                 const sm_entry *entries, uint32_t n_entries);

/* Apply a fault's answer: ENTRIES (COUNT of them) for [FIRST,
 * FIRST+COUNT), each stored unless the table holds a plain mapped
 * entry there, then ZERO_AFTER segments after the range known to be
 * zero (kept only where nothing is loaded).  SEQ is table_claim_seq()
 * read before the fault was sent.  Returns 0, 1 if a later claim was
 * evicted since (nothing applied: fault again), or -1 on ENOMEM. */
int table_load (struct table *t, uint64_t first, uint64_t count,
                const sm_entry *entries, uint64_t zero_after, uint64_t seq);

static inline uint64_t
table_claim_seq (struct table *t)
{
  return atomic_load_explicit (&t->claim_seq, memory_order_acquire);
}

/* Add N granted locations to the pool, to be used after those it
 * holds.  0, or -1 on ENOMEM. */
int table_add_grants (struct table *t, const sm_entry *grants, uint32_t n);
/* Granted locations not used yet. */
uint32_t table_grants (struct table *t);
/* Take every unused grant out of the pool: *GRANTS (caller frees; NULL
 * if none) gets them.  Returns how many, or -1 on ENOMEM (pool kept). */
int64_t table_take_grants (struct table *t, sm_entry **grants);

/* If SEG is ZERO and a grant is at hand: call NOTIFY (OPAQUE, the
 * granted entry) -- it queues the ALLOCATED message -- then map SEG to
 * the grant, all under the table lock; *E gets the entry and 1 is
 * returned.  0 if there is no claim to make (fault), -1 if NOTIFY
 * failed (nothing changed).  Must be called inside an epoch section
 * (the caller writes before table_exit, so a drain covers the write).
 * *GREW: table memory grew. */
int table_claim (struct table *t, uint64_t seg,
                 int (*notify) (void *opaque, sm_entry e), void *opaque,
                 sm_entry *e, bool *grew);

/* Set (ON) or clear the flag BITS on the loaded, valid entries of the
 * range.  Entries not loaded stay INVALID; known zeros of the range may
 * be forgotten (INVALID) instead. */
void table_set_bits (struct table *t, uint64_t first, uint64_t count,
                     uint64_t bits, bool on);

/* Forget every entry (all INVALID), freeing the leaves.  Drains. */
void table_forget_all (struct table *t);

/* Evict up to WANT bytes of leaves that were not referenced since the
 * clock hand last passed.  Drains once if anything was unpublished.
 * Returns the number of bytes freed. */
uint64_t table_evict (struct table *t, uint64_t want);

/* Quiesce: new I/O waits in table_enter; returns after draining or
 * after TIMEOUT_MS (then returns -1 with errno ETIMEDOUT, still
 * quiesced).  table_activate releases waiting I/O. */
int table_quiesce (struct table *t, uint64_t timeout_ms);
void table_activate (struct table *t);

static inline uint64_t
table_segment_of (const struct table *t, uint64_t offset)
{
  return offset >> t->seg_shift;
}

/* Bytes of a bitmap of one segment's 4 KiB blocks (proto/msg.h). */
static inline uint32_t
table_bitmap_bytes (const struct table *t)
{
  return (uint32_t) (((UINT64_C(1) << t->seg_shift) / SM_BLOCK_SIZE + 7) / 8);
}

#endif /* SEGMAP_TABLE_H */
