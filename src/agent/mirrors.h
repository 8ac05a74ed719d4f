/* segmap: the agent's cache of mirror locations (mirrored vdisks,
 * controller/mirror.c).
 *
 * An ENTRY_MIRROR entry says that a write goes to its location and to a
 * second copy; the controller sends the copy's location with the entry
 * (RETRY and SET_ENTRY carry `mirrors').  The agent keeps them here, by
 * segment.  It is only a cache: a write to a mirrored entry whose copy
 * is not here faults, and the answer brings it again.  It must never
 * hold a copy the controller no longer has: SET_ENTRY forgets the
 * segments it touches before it stores anything, and a copy is stored
 * before its entry (mirrors_put, then table_store), so a writer that
 * sees a mirrored entry finds its copy, or none.
 *
 * Shape: a direct-mapped array of slots (segment tag + location),
 * MIRRORS_SLOTS of them, allocated at the first put; one mutex.  Only
 * writes to mirrored entries look here.
 */
#ifndef SEGMAP_MIRRORS_H
#define SEGMAP_MIRRORS_H

#include <pthread.h>
#include <stdint.h>

#include "proto/entry.h"

struct mirrors {
  pthread_mutex_t lock;
  uint32_t n_slots;             /* a power of two; 0 until the first put */
  uint64_t *tags;               /* segment + 1 per slot (0: empty) */
  sm_entry *locs;
};

void mirrors_init (struct mirrors *m);
void mirrors_destroy (struct mirrors *m);
/* The copy of segment SEG, or 0 if not at hand. */
sm_entry mirrors_get (struct mirrors *m, uint64_t seg);
/* Segment SEG's copy is LOC (0: forget it). */
void mirrors_put (struct mirrors *m, uint64_t seg, sm_entry loc);
/* Forget the copies of [FIRST, FIRST+COUNT). */
void mirrors_forget (struct mirrors *m, uint64_t first, uint64_t count);

#endif /* SEGMAP_MIRRORS_H */
